import { describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { bearer, fireAlert, useTestApps, VIEWER_TOKEN, waitForRollback } from '../helpers/app.ts';
import { useExampleEmulator } from '../helpers/emulator.ts';

const start = useTestApps();
let emulator: Emulator;
useExampleEmulator((started) => {
  emulator = started;
});

const COOLDOWN_MS = 30 * 60_000;

describe('the status page’s reads', () => {
  it('GET /v1/targets: every target’s state, last decision and rollback, and when it is next eligible', async () => {
    const t = await start({ emulatorHost: emulator.host });
    const accepted = await fireAlert(t, { startedAt: new Date() });
    const done = await waitForRollback(t.store, accepted.decisionId);
    const response = await t.app.server.inject({
      method: 'GET',
      url: '/v1/targets',
      headers: bearer(VIEWER_TOKEN),
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.enabled).toBe(true);
    const checkout = body.targets.find((target: { name: string }) => target.name === 'checkout');
    expect(checkout).toMatchObject({
      kind: 'cloud-run',
      service: 'checkout',
      pipeline: null,
      mode: 'auto',
      state: 'healthy',
      frozen: false,
      blockedBy: null,
      lastDecision: { id: accepted.decisionId, action: 'rollback', reason: 'ROLLBACK' },
      lastRollback: {
        decisionId: accepted.decisionId,
        state: 'succeeded',
        fromRevision: 'checkout-00002-xyz',
        toRevision: 'checkout-00001-abc',
      },
    });
    expect(Date.parse(checkout.nextEligibleAt)).toBe(done.decision.decidedAt.getTime() + COOLDOWN_MS);
    const storefront = body.targets.find((target: { name: string }) => target.name === 'storefront');
    expect(storefront).toMatchObject({
      kind: 'cloud-deploy',
      pipeline: 'storefront-pipeline',
      state: 'healthy',
      lastDecision: null,
      lastRollback: null,
      nextEligibleAt: null,
    });
  });

  it('GET /v1/rollback/status/:id/events: the decision’s audit entries and notifications, by decision or alert id', async () => {
    const t = await start({ emulatorHost: emulator.host });
    const accepted = await fireAlert(t, { startedAt: new Date() });
    await waitForRollback(t.store, accepted.decisionId);
    for (const id of [accepted.decisionId, accepted.alertId]) {
      const response = await t.app.server.inject({
        method: 'GET',
        url: `/v1/rollback/status/${id}/events`,
        headers: bearer(VIEWER_TOKEN),
      });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.decisionId).toBe(accepted.decisionId);
      expect(body.audit.map((event: { type: string }) => event.type)).toEqual([
        'decision',
        'google_mutation',
        'rollback_succeeded',
      ]);
      expect(body.notifications.map((item: { event: { type: string } }) => item.event.type)).toEqual([
        'decision',
        'rollback_succeeded',
      ]);
    }
    const missing = await t.app.server.inject({
      method: 'GET',
      url: '/v1/rollback/status/dec_01jd5x0000000000000000000a/events',
      headers: bearer(VIEWER_TOKEN),
    });
    expect(missing.statusCode).toBe(404);
  });

  it('GET /v1/rollback/recent filters by target and reason, and refuses a reason it does not know', async () => {
    const t = await start({ emulatorHost: emulator.host });
    const rolledBack = await fireAlert(t, { startedAt: new Date() });
    await waitForRollback(t.store, rolledBack.decisionId);
    const dryRun = await fireAlert(t, { service: 'payments', startedAt: new Date() });
    const recent = async (query: string) => {
      const response = await t.app.server.inject({
        method: 'GET',
        url: `/v1/rollback/recent?${query}`,
        headers: bearer(VIEWER_TOKEN),
      });
      return {
        status: response.statusCode,
        ids: response.json().items?.map((item: { decision: { id: string } }) => item.decision.id),
      };
    };
    expect(await recent('target=payments')).toEqual({ status: 200, ids: [dryRun.decisionId] });
    expect(await recent('reason=ROLLBACK')).toEqual({ status: 200, ids: [rolledBack.decisionId] });
    expect(await recent('target=checkout&reason=COOLDOWN')).toEqual({ status: 200, ids: [] });
    expect((await recent('reason=BOGUS')).status).toBe(400);
    expect((await recent('target=Not_A_Target')).status).toBe(400);
  });
});
