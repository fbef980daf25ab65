import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/emulator.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import {
  STORM_PROJECT,
  stormFixture,
  stormPolicyYaml,
  stormServiceName,
  stormTargets,
} from '../fixtures/storm.ts';
import { startTestApp, type TestApp, waitForRollback, webhookUrl } from '../helpers/app.ts';

const TARGETS = stormTargets(200);

let emulator: Emulator;
let t: TestApp;

beforeAll(async () => {
  emulator = await startEmulator({ fixture: stormFixture(TARGETS), adminPort: null });
  t = await startTestApp({
    emulatorHost: emulator.host,
    policy: stormPolicyYaml(TARGETS),
    // As if the project's Cloud Run write quota were raised to 200 a minute: this storm fits in it.
    env: { LASTGOOD_GOOGLE_WRITE_RATE: '200/1m', LOG_LEVEL: 'warn' },
  });
});

afterAll(async () => {
  await t?.close();
  await emulator?.stop();
});

describe('a storm of alerts, one per Cloud Run target', () => {
  it('rolls all 200 back, with exactly one UpdateService each', async () => {
    const answers = await Promise.all(
      TARGETS.map((target) =>
        t.app.server.inject({
          method: 'POST',
          url: webhookUrl(),
          payload: burnRateAlert({ target, service: target, project: STORM_PROJECT }),
        }),
      ),
    );
    expect(answers.map((answer) => answer.statusCode)).toEqual(TARGETS.map(() => 202));
    const decisions = answers.map((answer) => answer.json() as { decisionId: string; reason: string });
    expect(new Set(decisions.map((decision) => decision.reason))).toEqual(new Set(['ROLLBACK']));
    // One at a time: two hundred pollers reading the store every 20 ms would slow the very worker being measured.
    const outcomes = [];
    for (const decision of decisions)
      outcomes.push(await waitForRollback(t.store, decision.decisionId, 60_000));

    expect(outcomes.filter((status) => status.rollback?.state === 'succeeded')).toHaveLength(200);
    const updated = emulator.calls
      .list({ method: 'UpdateService' })
      .map((call) => (call.request as { service?: { name?: string } }).service?.name);
    expect(updated).toHaveLength(200);
    expect(new Set(updated)).toEqual(new Set(TARGETS.map(stormServiceName)));
    for (const target of TARGETS) {
      expect(
        emulator.state.cloudRun.service(stormServiceName(target))?.trafficStatuses.map((s) => s.revision),
      ).toEqual([`${target}-00001-good`]);
    }
  }, 90_000);
});

describe('the write quota', () => {
  it('spaces UpdateService calls past the per-project-and-region budget instead of failing them', async () => {
    const few = stormTargets(4);
    const quotaEmulator = await startEmulator({ fixture: stormFixture(few), adminPort: null });
    const app = await startTestApp({
      emulatorHost: quotaEmulator.host,
      policy: stormPolicyYaml(few),
      env: { LASTGOOD_GOOGLE_WRITE_RATE: '2/1s', LOG_LEVEL: 'warn' },
    });
    try {
      const decisions = await Promise.all(
        few.map(async (target) => {
          const answer = await app.app.server.inject({
            method: 'POST',
            url: webhookUrl(),
            payload: burnRateAlert({ target, service: target, project: STORM_PROJECT }),
          });
          return answer.json() as { decisionId: string };
        }),
      );
      const outcomes = [];
      for (const decision of decisions) outcomes.push(await waitForRollback(app.store, decision.decisionId));

      expect(outcomes.map((status) => status.rollback?.state)).toEqual(few.map(() => 'succeeded'));
      const waited = outcomes.filter((status) =>
        status.timeline.some((event) => event.step === 'write_quota_wait'),
      );
      expect(waited).toHaveLength(2);
      const at = quotaEmulator.calls
        .list({ method: 'UpdateService' })
        .map((call) => call.at)
        .sort((a, b) => a - b);
      expect(at).toHaveLength(4);
      // No more than two in any second: the third is let go a second after the first. It reaches the emulator
      // sooner than that by however much longer the first took from its slot to Google (the fence's commit).
      expect(at[2]! - at[0]!).toBeGreaterThan(500);
      expect(at[3]! - at[1]!).toBeGreaterThan(500);
    } finally {
      await app.close();
      await quotaEmulator.stop();
    }
  });
});
