import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { recordLogLines } from './helpers/log-sink.ts';
import { OPERATOR_TOKEN, WEBHOOK_TOKEN } from './helpers/tokens.ts';

const run = promisify(execFile);

/**
 * Runs the demo with the suite's tokens, then hands the log of the lastgood it started to the run's log sink, so
 * the teardown scans it for credentials as it does a spawned replica's output.
 */
async function runDemo(args: string[] = []): Promise<{ stdout: string; log: string }> {
  // The demo makes its data dir, where lastgood logs, under the OS temp dir: in one of the test's own it is easy
  // to find and to remove.
  const dir = mkdtempSync(join(tmpdir(), 'lastgood-demo-test-'));
  let stdout: string;
  let log = '';
  try {
    ({ stdout } = await run(process.execPath, ['scripts/demo.ts', ...args], {
      timeout: 60_000,
      env: {
        ...process.env,
        TMPDIR: dir,
        DEMO_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        DEMO_OPERATOR_TOKEN: OPERATOR_TOKEN,
      },
    }));
  } finally {
    // Scanned whether or not the demo succeeded: a failing run may be the one that logged a token.
    for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
      if (basename(file) === 'lastgood.log') log += readFileSync(join(dir, file), 'utf8');
    }
    recordLogLines(log);
    rmSync(dir, { recursive: true, force: true });
  }
  return { stdout, log };
}

/** `npm run demo` is one of the README's two commands: it must keep telling the story end to end. */
describe('npm run demo', () => {
  it('shows the evidence it judged, rolls the bad Cloud Run revision back and refuses the second alert', async () => {
    const { stdout, log } = await runDemo();
    expect(stdout).toMatch(/^ {2}judgement\s+rollback \/ ROLLBACK\s/m);
    const suspect = /^ {2}checkout-00002-xyz\s+suspect\s+.*\s(\d+)\s+(\d+)\s+(\d+\.\d\d)%$/m.exec(stdout);
    const baseline = /^ {2}checkout-00001-abc\s+baseline\s+.*\s(\d+)\s+(\d+)\s+(\d+\.\d\d)%$/m.exec(stdout);
    expect(Number(suspect?.[1])).toBeGreaterThan(100);
    expect(Number(baseline?.[1])).toBeGreaterThan(100);
    expect(Number(suspect?.[3])).toBeGreaterThan(10 * Number(baseline?.[3]));
    expect(stdout).toMatch(/^ {2}change\s+\S+ \S+Z\s+\(from monitoring\)$/m);
    expect(stdout).toMatch(/^ {2}onset\s+\S+ \S+Z$/m);
    expect(stdout).toContain('the errors began the minute the suspect started serving');
    expect(stdout).toContain('rollback: succeeded (checkout-00002-xyz -> checkout-00001-abc)');
    expect(stdout).toContain('traffic: checkout-00001-abc 100%');
    expect(stdout).toContain('none / COOLDOWN');
    expect(log).toContain('/webhook/error-budget-alert');
  });

  it('holds through a dependency outage with --dependency-outage, showing why, and changes nothing', async () => {
    const { stdout, log } = await runDemo(['--dependency-outage']);
    expect(stdout, stdout).toMatch(/^ {2}judgement\s+HOLD \/ NO_RECENT_CHANGE\s/m);
    // The suspect started serving long before the errors: more than the 60 min change window.
    const time = (label: string) =>
      Date.parse(new RegExp(`^ {2}${label}\\s+(\\S+) (\\S+Z)`, 'm').exec(stdout)!.slice(1).join('T'));
    expect(time('onset') - time('change'), stdout).toBeGreaterThan(60 * 60_000);
    expect(stdout).toMatch(/the errors began [\d.]+ (days|min) after the suspect started serving/);
    // Both revisions fail alike since the onset: the evidence of a shared cause.
    for (const revision of ['checkout-00002-xyz', 'checkout-00001-abc']) {
      const ratio = new RegExp(`^ {2}${revision}\\s+\\w+\\s+.*\\s(\\d+\\.\\d\\d)%$`, 'm').exec(stdout)?.[1];
      expect(Number(ratio)).toBeGreaterThan(40);
    }
    expect(stdout).toContain('rollback: held (NO_RECENT_CHANGE)');
    // Reads only, started together: the order they reach the emulator in is the transport's.
    const calls = /^ {2}Google calls made for the alert: (.+)$/m.exec(stdout)?.[1]?.split(', ');
    expect(calls?.sort()).toEqual(['GetService', 'ListRevisions', 'ListTimeSeries']);
    expect(stdout).toContain(
      'mutating Google calls: 0 (no UpdateService); still traffic: checkout-00002-xyz 100%',
    );
    expect(stdout).toContain('npx lastgood rollback checkout');
    expect(log).toContain('/webhook/error-budget-alert');
  });

  it('tells the same story through a Cloud Deploy pipeline with --cloud-deploy', async () => {
    const { stdout, log } = await runDemo(['--cloud-deploy']);
    expect(stdout).toContain('rollback: succeeded (rel-002 -> rel-001)');
    expect(stdout).toContain('production runs release rel-001; pipeline SUSPENDED (frozen)');
    expect(stdout).toContain('unfreeze -> 200; production runs release rel-001; pipeline active');
    expect(log).toContain('/webhook/error-budget-alert');
  });
});
