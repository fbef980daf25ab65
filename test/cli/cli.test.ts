import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { type TestApp, VIEWER_TOKEN } from '../helpers/app.ts';
import { CHECKOUT } from '../helpers/emulator.ts';
import { rollBack, runLastgood, useCliApp } from './harness.ts';

const LAUNCHER = new URL('../../bin/lastgood.js', import.meta.url).pathname;

let emulator: Emulator;
let t: TestApp;
let env: Record<string, string>;

useCliApp((app) => {
  ({ emulator, t, env } = app);
});

/** Runs bin/lastgood.js as `npx lastgood` would, in a process of its own. */
function runLauncher(argv: readonly string[], extraEnv: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [LAUNCHER, ...argv], {
      env: { PATH: process.env.PATH ?? '', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('lastgood CLI against a running lastgood', () => {
  it('lists recent decisions as a table, and as the API answer with --json', async () => {
    const accepted = await rollBack(t);
    const listed = await runLastgood(['recent', '--hours', '1'], env);
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    const [header, row] = listed.stdout.split('\n');
    expect(header).toMatch(/^DECIDED\s+DECISION\s+TARGET\s+REASON\s+CONF\s+ROLLBACK\s+REVISIONS\s+INCIDENT$/);
    expect(row).toContain(accepted.decisionId);
    expect(row).toMatch(
      /checkout\s+ROLLBACK\s+0\.\d\d\s+succeeded \(pending\)\s+checkout-00002-xyz -> checkout-00001-abc/,
    );

    const json = await runLastgood(['recent', '--json'], env);
    expect(JSON.parse(json.stdout).items[0].decision.id).toBe(accepted.decisionId);
  });

  it('shows one decision with its factors and timeline', async () => {
    const accepted = await rollBack(t);
    const shown = await runLastgood(['status', accepted.alertId], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^outcome\s+rollback \/ ROLLBACK\s+\(confidence 0\.\d{3}\)$/m);
    expect(shown.stdout).toMatch(/^rollback\s+succeeded\s+checkout-00002-xyz -> checkout-00001-abc/m);
    expect(shown.stdout).toMatch(/^verification\s+pending: healed if the incident closes by \S+ \S+Z$/m);
    expect(shown.stdout).toMatch(/^confidence\s+0\.\d+\s+minimum 0\.8$/m);
    expect(shown.stdout).toMatch(/^\S+ \S+Z\s+\d+\s+lkg_selected\s+\{/m);
  });

  it('rolls a target back and waits for the outcome', async () => {
    const done = await runLastgood(['rollback', 'checkout', '--wait'], env);
    expect(done.stderr).not.toMatch(/LASTGOOD_ERR_/);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^outcome\s+rollback \/ MANUAL/m);
    expect(done.stdout).toMatch(/^requested by\s+alice$/m);
    expect(done.stdout).toMatch(/^rollback\s+succeeded/m);
    expect(emulator.state.cloudRun.service(CHECKOUT)?.trafficStatuses).toContainEqual(
      expect.objectContaining({ revision: 'checkout-00001-abc', percent: 100 }),
    );
  });

  it('acknowledges an alert in the name of the token', async () => {
    const accepted = await rollBack(t);
    const acked = await runLastgood(['ack', accepted.alertId], env);
    expect(acked.code).toBe(0);
    expect(acked.stdout).toMatch(
      new RegExp(`^${accepted.alertId} \\(incident .+\\) acknowledged by alice at `),
    );
  });

  it('verifies the audit chain, and exits 1 naming the first row edited behind its back', async () => {
    await rollBack(t);
    const intact = await runLastgood(['audit-verify'], env);
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(/^audit chain intact: \d+ rows$/);
    const db = new DatabaseSync(join(t.dataDir, 'lastgood.db'));
    db.prepare("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2").run();
    db.close();
    const broken = await runLastgood(['audit-verify'], env);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/^audit chain\s+BROKEN at row 2: content/m);
  });

  it("exits 1 with the API's error code when the API refuses", async () => {
    const unknown = await runLastgood(['rollback', 'nope'], env);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toMatch(/^lastgood: LASTGOOD_ERR_UNKNOWN_TARGET \(404\): /);
    const viewer = await runLastgood(['rollback', 'checkout'], { ...env, LASTGOOD_TOKEN: VIEWER_TOKEN });
    expect(viewer.stderr).toMatch(/^lastgood: LASTGOOD_ERR_FORBIDDEN \(403\): /);
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('exits 2 on wrong usage, before calling anything', async () => {
    expect((await runLastgood(['recent'], { LASTGOOD_URL: env.LASTGOOD_URL! })).stderr).toContain(
      'no operator token: set LASTGOOD_TOKEN',
    );
    for (const argv of [['recent', '--hourz', '1'], ['status'], ['frobnicate'], []]) {
      expect((await runLastgood(argv, env)).code, argv.join(' ')).toBe(2);
    }
  });

  it('runs as bin/lastgood.js, exiting with the outcome', async () => {
    const accepted = await rollBack(t);
    const listed = await runLauncher(['recent'], env);
    expect(listed.stdout).toContain(accepted.decisionId);
    expect(listed.code).toBe(0);
    const refused = await runLauncher(['ack', 'alt_00000000000000000000000000'], env);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toContain('LASTGOOD_ERR_NOT_FOUND (404)');
  });
});

describe('lastgood hash-token', () => {
  it('hashes the token read from stdin into a LASTGOOD_OPERATOR_TOKENS entry', async () => {
    const hashed = await runLastgood(
      ['hash-token', '--name', 'alice', '--role', 'admin'],
      {},
      'example-operator-token-replace-me-0123456789abcd\n',
    );
    // The entry examples/lastgood.env configures for this published token.
    expect(hashed.stdout).toBe(
      'alice:admin:c28c7432ecac4fc0b6e5353fb365f4605063a52d1a1324065ae8272a002bb58f',
    );
  });
});
