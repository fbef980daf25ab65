import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/emulator.ts';
import { loadFixtureFile } from '../../src/emulator/fixture.ts';
import { REJUDGE_HELD_AFTER_MS } from '../../src/ingest/intake.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import {
  fireAlert,
  ManualClock,
  startTestApp,
  type TestApp,
  waitForRollback,
  webhookUrl,
} from '../helpers/app.ts';
import { type Receiver, startReceiver } from '../notify/receiver.ts';

const OUTAGE_FIXTURE = fileURLToPath(
  new URL('../../examples/emulator-fixture-dependency-outage.yaml', import.meta.url),
);

describe('a held incident', () => {
  let emulator: Emulator;
  let t: TestApp;
  let hook: Receiver;
  const clock = new ManualClock();

  beforeAll(async () => {
    emulator = await startEmulator({
      fixture: await loadFixtureFile(OUTAGE_FIXTURE),
      adminPort: null,
      operationDelayMs: 20,
    });
    hook = await startReceiver('/hooks/lastgood');
    t = await startTestApp({
      emulatorHost: emulator.host,
      clock,
      env: {
        LASTGOOD_NOTIFY_WEBHOOK_URL: hook.url,
        LASTGOOD_NOTIFY_WEBHOOK_SECRET: 'rejudge-test-webhook-secret-0123456789abcdef',
      },
    });
  });

  /** Posts the incident's alert again; a redelivery answers 200 with the decision it repeats. */
  async function redeliver(incidentId: string, startedAt: Date) {
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert({ incidentId, startedAt }),
    });
    return {
      status: response.statusCode,
      ...(response.json() as { decisionId: string; duplicate: boolean }),
    };
  }

  afterAll(async () => {
    await t?.close();
    await emulator?.stop();
    await hook?.close();
  });

  it('is judged again, afresh, when its alert comes again after a while, and told only once', async () => {
    const incidentId = 'outage-incident-1';
    const first = await fireAlert(t, { incidentId, startedAt: clock.now() });
    expect(first.reason).toBe('ROLLBACK');
    const held = await waitForRollback(t.store, first.decisionId);
    expect(held.rollback).toMatchObject({ state: 'held', errorCode: 'NO_RECENT_CHANGE' });

    // A redelivery moments later is the same alert: nothing new is decided.
    const again = await redeliver(incidentId, held.alert!.signal.startedAt);
    expect(again).toMatchObject({ status: 200, duplicate: true, decisionId: first.decisionId });

    // A renotification of the still-open incident, once the hold is older than the re-judge interval.
    clock.advance(REJUDGE_HELD_AFTER_MS + 1_000);
    const later = await fireAlert(t, { incidentId, startedAt: held.alert!.signal.startedAt });
    expect(later.decisionId).not.toBe(first.decisionId);
    expect(later.reason).toBe('ROLLBACK');
    const heldAgain = await waitForRollback(t.store, later.decisionId);
    expect(heldAgain.rollback).toMatchObject({ state: 'held', errorCode: 'NO_RECENT_CHANGE' });
    expect(heldAgain.timeline.map((event) => event.step)).toContain('judged');

    // Its own redelivery is a duplicate of the re-judged alert, not a third decision.
    const redelivered = await redeliver(incidentId, held.alert!.signal.startedAt);
    expect(redelivered).toMatchObject({ status: 200, duplicate: true, decisionId: later.decisionId });

    expect(emulator.calls.count('UpdateService')).toBe(0);
    const audit = await t.store.listAudit(null, 200);
    const heldEvents = audit.filter((event) => event.type === 'rollback_held');
    expect(heldEvents).toHaveLength(2);
    // Two decisions to roll back, each told; one hold, told once (the webhook channel takes every notification).
    await hook.waitFor(3);
    expect(hook.received.map((request) => request.json.type)).toEqual([
      'decision',
      'rollback_held',
      'decision',
    ]);
  });
});
