import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReplayResult } from '../../src/cli/replay.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import {
  bearer,
  EXAMPLE_POLICY,
  ManualClock,
  OPERATOR_TOKEN,
  startTestApp,
  type TestApp,
  waitForRollback,
  webhookUrl,
} from '../helpers/app.ts';
import { useExampleEmulator } from '../helpers/emulator.ts';
import { createTestSchema, TEST_DATABASE_URL, type TestSchema } from '../helpers/postgres.ts';
import { runLastgood } from './harness.ts';

const T0 = new Date('2026-11-23T12:00:00Z');
const MINUTE = 60_000;

/** The example policy, loosened: a 5 minute cooldown, confidence down to 0.78, and payments acting for real. */
const LOOSER_POLICY = EXAMPLE_POLICY.replace('cooldown: 30m', 'cooldown: 5m')
  .replace('minConfidence: 0.8', 'minConfidence: 0.78')
  .replace(/^ {4}mode: dry-run.*\n/m, '');

let workDir: string;
let db: TestSchema | null = null;
afterEach(async () => {
  rmSync(workDir, { recursive: true, force: true });
  await db?.drop();
  db = null;
});

/**
 * Records an hour of alerts under the example policy, through the real intake: checkout rolled back at T0, then
 * alerts 10, 20 and 40 minutes later; payments in dry-run; a manual rollback of legacy-errors.
 */
async function recordHistory(t: TestApp, clock: ManualClock): Promise<void> {
  const fire = async (burnRate: number, target = 'checkout') => {
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert({ burnRate, target, service: target, startedAt: clock.now() }),
    });
    expect(response.statusCode).toBe(202);
    return response.json() as { decisionId: string; reason: string };
  };
  expect((await fire(18.2)).reason).toBe('ROLLBACK');
  // No executor here: finish the rollback as a worker would have.
  const job = await t.store.claimJob('test-worker', clock.now(), 60_000);
  const finished = { at: clock.now(), step: 'succeeded', detail: {} };
  const outcome = {
    fromRevision: 'a',
    toRevision: 'b',
    lkgRule: 'previous_ready',
    errorCode: null,
    errorMessage: null,
  };
  expect(await t.store.completeJob(job!, { state: 'succeeded', ...outcome }, finished, 15 * MINUTE)).toBe(
    true,
  );
  const later = async (minutes: number, burnRate: number) => {
    clock.advance(minutes * MINUTE);
    return (await fire(burnRate)).reason;
  };
  const answers = [await later(10, 20), await later(10, 12), await later(20, 11)];
  expect(answers).toEqual(['COOLDOWN', 'COOLDOWN', 'LOW_CONFIDENCE']);
  clock.advance(MINUTE);
  expect((await fire(18.2, 'payments')).reason).toBe('DRY_RUN');
  clock.advance(MINUTE);
  const manual = await t.app.server.inject({
    method: 'POST',
    url: '/rollback/manual/legacy-errors',
    headers: bearer(OPERATOR_TOKEN),
  });
  expect(manual.statusCode).toBe(202);
}

/** Each store the replay can read: how the app opens it, and the flags that point the CLI at it. */
const STORES: [string, () => Promise<{ app: Parameters<typeof startTestApp>[0]; flags: string[] }>][] = [
  [
    'SQLite',
    async () => {
      const dataDir = join(workDir, 'data');
      return { app: { dataDir }, flags: ['--data-dir', dataDir] };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const schema = await createTestSchema();
      db = schema;
      // The schema rides in the URL, as any libpq option can.
      const url = `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`;
      return { app: { openStore: () => schema.openStore() }, flags: ['--database-url', url] };
    },
  ],
];

describe.each(STORES)('lastgood replay on %s', (_name, openStore) => {
  it('decides the stored alerts again under another policy, counting the rollbacks it would have made', async () => {
    workDir = mkdtempSync(join(tmpdir(), 'lastgood-replay-'));
    const store = await openStore();
    const clock = new ManualClock(T0);
    const t = await startTestApp({ ...store.app, clock });
    await recordHistory(t, clock);
    await t.close({ keepData: true });
    const policy = join(workDir, 'looser.yaml');
    writeFileSync(policy, LOOSER_POLICY);
    const window = [
      '--since',
      new Date(T0.getTime() - MINUTE).toISOString(),
      '--until',
      new Date(clock.now().getTime() + MINUTE).toISOString(),
    ];

    const replayed = await runLastgood(['replay', '--config', policy, ...store.flags, ...window, '--json']);
    expect(replayed.stderr).toBe('');
    const result = JSON.parse(replayed.stdout) as ReplayResult;
    expect(
      result.rows.map((row) => [row.recorded.target, row.recorded.reason, row.replayed.reason, row.changed]),
    ).toEqual([
      ['checkout', 'ROLLBACK', 'ROLLBACK', false],
      // The 5 minute cooldown has passed; the first rollback succeeded, so it counts.
      ['checkout', 'COOLDOWN', 'ROLLBACK', true],
      // 12x scores 0.803: above the new 0.78.
      ['checkout', 'COOLDOWN', 'ROLLBACK', true],
      // Three rollbacks the replay itself made in the last hour: the rate limit holds.
      ['checkout', 'LOW_CONFIDENCE', 'RATE_LIMITED', true],
      ['payments', 'DRY_RUN', 'ROLLBACK', true],
      ['legacy-errors', 'MANUAL', 'MANUAL', false],
    ]);
    expect(result.rollbacks).toEqual({ recorded: 2, replayed: 5 });
    expect(result.reasons.COOLDOWN).toEqual({ recorded: 2, replayed: 0 });

    const table = await runLastgood(['replay', '--config', policy, ...store.flags, ...window, '--changed']);
    expect(table.code).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^replayed 6 decisions from 2026-11-23 11:59:00Z to /);
    expect(lines.filter((line) => line.endsWith('*'))).toHaveLength(4);
    expect(lines).toContainEqual(
      expect.stringMatching(/\s+payments\s+DRY_RUN\s+ROLLBACK\s+0\.\d\d\s+-\s+\*$/),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^RATE_LIMITED\s+0\s+1$/));
    expect(lines.at(-1)).toBe('rollbacks: then 2, now 5; 4 of 6 decisions change (* above)');
  });
});

describe('lastgood replay judges recorded evidence again', () => {
  let emulatorHost: string;
  useExampleEmulator((started) => {
    emulatorHost = started.host;
  });

  it('re-runs the judgement of a real rollback under the policy in force now, and says where it differs', async () => {
    workDir = mkdtempSync(join(tmpdir(), 'lastgood-replay-'));
    const dataDir = join(workDir, 'data');
    const t = await startTestApp({ dataDir, emulatorHost });
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert({ burnRate: 18.2 }),
    });
    const { decisionId } = response.json() as { decisionId: string };
    expect((await waitForRollback(t.store, decisionId)).rollback?.state).toBe('succeeded');
    await t.close({ keepData: true });
    const replay = async (policyText: string, extra: string[] = ['--json']) => {
      const policy = join(workDir, 'policy.yaml');
      writeFileSync(policy, policyText);
      return runLastgood(['replay', '--config', policy, '--data-dir', dataDir, '--since', '1h', ...extra]);
    };

    const same = JSON.parse((await replay(EXAMPLE_POLICY)).stdout) as ReplayResult;
    expect(same.rows.map((row) => [row.judgement, row.changed])).toEqual([
      [{ recorded: 'ROLLBACK', replayed: 'ROLLBACK' }, false],
    ]);

    // The bad revision fails about 24 times as often as its baseline. Asking for a 100x rise, the series shows none,
    // so the baseline's 0.8% 5xx from the first minute on counts as errors under way before the deploy: a hold.
    const stricter = EXAMPLE_POLICY.replace(
      'defaults:\n',
      'defaults:\n  judgement:\n    ratioMultiple: 100\n',
    );
    const held = JSON.parse((await replay(stricter)).stdout) as ReplayResult;
    expect(held.rows.map((row) => [row.replayed.reason, row.judgement, row.changed])).toEqual([
      ['ROLLBACK', { recorded: 'ROLLBACK', replayed: 'CHANGE_AFTER_ONSET' }, true],
    ]);
    expect(held.judgements).toEqual({ replayed: 1, changed: 1, holds: { recorded: 0, replayed: 1 } });

    const table = await replay(stricter, ['--changed']);
    expect(table.stdout).toMatch(/\s+ROLLBACK -> CHANGE_AFTER_ONSET\s+\*$/m);
    expect(table.stdout).toContain(
      'judgements on recorded evidence: 1 judged again, 1 differ; holds then 0, now 1',
    );
  });
});

describe('lastgood replay', () => {
  it('refuses a data directory that does not exist rather than replaying an empty new database', async () => {
    workDir = mkdtempSync(join(tmpdir(), 'lastgood-replay-'));
    const missing = join(workDir, 'no-such-dir');
    const answer = await runLastgood(['replay', '--config', 'examples/lastgood.yaml', '--data-dir', missing]);
    expect(answer).toMatchObject({ code: 2, stderr: expect.stringContaining('does not exist') });
  });

  it('never reaches code that can call Google', () => {
    // Walks the relative imports from the replay command: none may lead to src/targets/ or a Google client.
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/^import [^;]*? from '([^']+)';$/gms)) {
        expect(spec, file).not.toMatch(/^@google-cloud\/|^@grpc\//);
        if (spec!.startsWith('.')) visit(resolve(dirname(file), spec!));
      }
    };
    visit(resolve('src/cli/replay.ts'));
    expect([...seen].filter((file) => file.includes('/src/targets/'))).toEqual([]);
    expect(seen.size).toBeGreaterThan(5);
  });
});
