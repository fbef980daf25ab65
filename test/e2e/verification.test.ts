import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import type { Store } from '../../src/store/store.ts';
import {
  bearer,
  fireAlert,
  ManualClock,
  OPERATOR_TOKEN,
  requestManualRollback,
  startTestApp,
  type TestApp,
  VIEWER_TOKEN,
  waitForRollback,
} from '../helpers/app.ts';
import { useExampleEmulator } from '../helpers/emulator.ts';
import { sleep, until } from '../helpers/poll.ts';
import { createTestSchema, type TestSchema } from '../helpers/postgres.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const MINUTE = 60_000;
const ROUTING_KEY = 'R0UTING-KEY-VERIFICATION-TEST';

let emulator: Emulator;
let pagerDuty: Receiver;
let clock: ManualClock;
let t: TestApp | null = null;
let schema: TestSchema | null = null;

useExampleEmulator(
  (started) => {
    emulator = started;
  },
  { operationDelayMs: 10 },
);
beforeEach(async () => {
  pagerDuty = await startReceiver('/v2/enqueue');
  clock = new ManualClock();
});
afterEach(async () => {
  await t?.close();
  t = null;
  await schema?.drop();
  schema = null;
  await pagerDuty.close();
});

async function start(openStore?: () => Promise<Store>) {
  t = await startTestApp({
    clock,
    emulatorHost: emulator.host,
    ...(openStore === undefined ? {} : { openStore }),
    env: {
      LASTGOOD_PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
      LASTGOOD_PAGERDUTY_URL: pagerDuty.url,
      LASTGOOD_PUBLIC_URL: 'https://lastgood.example.com',
    },
  });
  return t;
}

async function status(app: TestApp, id: string) {
  const response = await app.app.server.inject({
    method: 'GET',
    url: `/v1/rollback/status/${id}`,
    headers: bearer(VIEWER_TOKEN),
  });
  return response.json();
}

async function resume(app: TestApp, token = OPERATOR_TOKEN) {
  return app.app.server.inject({
    method: 'POST',
    url: '/v1/targets/checkout/resume',
    headers: bearer(token),
  });
}

describe('after a rollback', () => {
  it('records the service healed when the incident closes within the verification window', async () => {
    const app = await start();
    const incidentId = 'inc-heals';
    const accepted = await fireAlert(app, { startedAt: clock.now(), incidentId });
    const finished = await waitForRollback(app.store, accepted.decisionId);
    expect(finished.rollback?.state).toBe('succeeded');
    const pending = (await status(app, accepted.decisionId)).rollback;
    expect(pending).toMatchObject({ verification: 'pending', verifiedAt: null });
    expect(Date.parse(pending.verifyBy) - Date.parse(pending.finishedAt)).toBe(15 * MINUTE);

    clock.advance(14 * MINUTE);
    const closed = await fireAlert(app, { startedAt: clock.now(), incidentId, state: 'closed' });
    expect(closed.reason).toBe('INCIDENT_CLOSED');
    const healed = await status(app, accepted.decisionId);
    expect(healed.rollback).toMatchObject({ verification: 'healed', verifiedAt: clock.now().toISOString() });
    expect(healed.timeline.at(-1)).toMatchObject({ step: 'healed' });
    const [resolve] = await pagerDuty.waitFor(1);
    expect(resolve!.json).toMatchObject({
      event_action: 'resolve',
      dedup_key: `lastgood-${accepted.decisionId}`,
    });
  });

  it('escalates a failed rollback and lets only a person hand the target back', async () => {
    emulator.faults.inject({
      kind: 'fail-next-operation',
      method: 'UpdateService',
      message: 'quota exceeded',
    });
    const app = await start();
    const accepted = await fireAlert(app, { startedAt: clock.now() });
    expect((await waitForRollback(app.store, accepted.decisionId)).rollback?.state).toBe('failed');
    const [page] = await pagerDuty.waitFor(1);
    expect(page!.json).toMatchObject({
      event_action: 'trigger',
      dedup_key: `lastgood-${accepted.decisionId}`,
    });

    const again = await fireAlert(app, { startedAt: clock.now() });
    expect(again.reason).toBe('NEEDS_PERSON');
    const factor = (await status(app, again.decisionId)).decision.factors.at(-1);
    expect(factor).toMatchObject({ name: 'needs_person', value: accepted.decisionId });
    expect(factor.effect).toContain('POST /v1/targets/checkout/resume');
    expect(emulator.calls.count('UpdateService')).toBe(1);

    expect((await resume(app, VIEWER_TOKEN)).statusCode).toBe(403);
    const resumed = await resume(app);
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json()).toEqual({
      target: 'checkout',
      resumedBy: 'alice',
      cleared: [accepted.decisionId],
    });
    const [, resolved] = await pagerDuty.waitFor(2);
    expect(resolved!.json).toMatchObject({
      event_action: 'resolve',
      dedup_key: `lastgood-${accepted.decisionId}`,
    });
    // The failed attempt still counts against the cooldown; after it, lastgood acts on its own again.
    clock.advance(31 * MINUTE);
    expect((await fireAlert(app, { startedAt: clock.now() })).reason).toBe('ROLLBACK');
  });
});

const STORES: [string, () => Promise<(() => Promise<Store>) | undefined>][] = [
  ['SQLite', async () => undefined],
  [
    'PostgreSQL',
    async () => {
      const created = await createTestSchema();
      schema = created;
      return () => created.openStore();
    },
  ],
];

describe.each(STORES)('a rollback that does not heal, on %s', (_name, openStore) => {
  it('is escalated as critical when the window passes, and no further rollback runs until a person resumes', async () => {
    const app = await start(await openStore());
    const accepted = await fireAlert(app, { startedAt: clock.now() });
    expect((await waitForRollback(app.store, accepted.decisionId)).rollback?.state).toBe('succeeded');
    clock.advance(15 * MINUTE);
    await sleep(150);
    expect((await status(app, accepted.decisionId)).rollback.verification).toBe('pending');

    clock.advance(1_000);
    await until(
      async () => (await status(app, accepted.decisionId)).rollback.verification === 'not_healed',
      'the rollback to be marked not healed',
      { everyMs: 10 },
    );
    const [page] = await pagerDuty.waitFor(1);
    expect(page!.json).toMatchObject({
      event_action: 'trigger',
      dedup_key: `lastgood-${accepted.decisionId}`,
      client_url: `https://lastgood.example.com/ui/decisions/${accepted.decisionId}`,
      payload: { severity: 'critical', class: 'rollback_not_healed' },
    });
    expect(app.logs.some((line) => line.includes('rollback did not heal the service'))).toBe(true);

    clock.advance(30 * MINUTE);
    expect((await fireAlert(app, { startedAt: clock.now() })).reason).toBe('NEEDS_PERSON');
    expect(emulator.calls.count('UpdateService')).toBe(1);
    // A person may still step back further by hand.
    const manual = await requestManualRollback(app, 'checkout', 'checkout-00001-abc');
    expect(manual.statusCode).toBe(202);
    await waitForRollback(app.store, manual.json().decisionId);
    expect((await resume(app)).json().cleared).toEqual([accepted.decisionId]);
    const audit = await app.store.listAudit(null, 50);
    expect(audit.map((event) => event.type)).toContain('rollback_not_healed');
    expect(audit.find((event) => event.type === 'target_resumed')).toMatchObject({ actor: 'alice' });
  });
});
