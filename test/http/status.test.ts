import { describe, expect, it } from 'vitest';
import {
  bearer,
  fireAlert,
  OPERATOR_TOKEN,
  useSharedTestApp,
  useTestApps,
  VIEWER_TOKEN,
} from '../helpers/app.ts';

const start = useTestApps();

describe('GET /rollback/status/:id', () => {
  const shared = useSharedTestApp();

  it('shows the decision, its factors, the alert and the timeline', async () => {
    const t = shared();
    const accepted = await fireAlert(t, { burnRate: 18.2 });
    for (const url of [
      `/rollback/status/${accepted.decisionId}`,
      `/v1/rollback/status/${accepted.alertId}`,
    ]) {
      const response = await t.app.server.inject({ method: 'GET', url, headers: bearer(VIEWER_TOKEN) });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.decision).toMatchObject({
        id: accepted.decisionId,
        action: 'rollback',
        reason: 'ROLLBACK',
        target: 'checkout',
      });
      expect(body.decision.factors.map((f: { name: string }) => f.name)).toContain('burn_rate');
      expect(body.alert).toMatchObject({ id: accepted.alertId, observedValue: 18.2, thresholdValue: 14.4 });
      expect(body.rollback).toMatchObject({ state: 'queued', target: 'checkout' });
      expect(body.timeline.map((e: { step: string }) => e.step)).toEqual(['alert_received', 'decided']);
      const stored = (await t.store.getStatus(accepted.decisionId))!.timeline;
      expect(body.timeline[0].sincePreviousMs).toBeNull();
      expect(body.timeline[1].sincePreviousMs).toBe(stored[1]!.at.getTime() - stored[0]!.at.getTime());
    }
  });

  it('answers 404 for an unknown id and 400 for something that is not an id', async () => {
    const t = shared();
    const unknown = await t.app.server.inject({
      method: 'GET',
      url: '/rollback/status/dec_00000000000000000000000000',
      headers: bearer(VIEWER_TOKEN),
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('LASTGOOD_ERR_NOT_FOUND');
    const bad = await t.app.server.inject({
      method: 'GET',
      url: "/rollback/status/1'%20OR%201=1",
      headers: bearer(VIEWER_TOKEN),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('LASTGOOD_ERR_VALIDATION');
  });

  it('needs an operator or viewer token', async () => {
    const t = shared();
    const missing = await t.app.server.inject({
      method: 'GET',
      url: '/rollback/status/dec_00000000000000000000000000',
    });
    expect(missing.statusCode).toBe(401);
    const wrong = await t.app.server.inject({
      method: 'GET',
      url: '/rollback/status/dec_00000000000000000000000000',
      headers: bearer('nope'),
    });
    expect(wrong.statusCode).toBe(401);
  });
});

describe('GET /rollback/recent', () => {
  const shared = useSharedTestApp();

  it('pages through decisions newest first and filters by action', async () => {
    const t = await start();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await fireAlert(t, { burnRate: 0.5 })).decisionId);
    await fireAlert(t, { target: 'legacy-errors', service: 'legacy-api', burnRate: 0.2 });
    const page1 = await t.app.server.inject({
      method: 'GET',
      url: '/rollback/recent?limit=4',
      headers: bearer(VIEWER_TOKEN),
    });
    expect(page1.statusCode).toBe(200);
    expect(page1.json().items).toHaveLength(4);
    const page2 = await t.app.server.inject({
      method: 'GET',
      url: `/v1/rollback/recent?limit=4&cursor=${page1.json().nextCursor}`,
      headers: bearer(VIEWER_TOKEN),
    });
    expect(page2.json().items).toHaveLength(2);
    expect(page2.json().nextCursor).toBeNull();
    const all = [...page1.json().items, ...page2.json().items].map((item) => item.decision.id);
    expect(new Set(all).size).toBe(6);
    const rollbacks = await t.app.server.inject({
      method: 'GET',
      url: '/rollback/recent?action=rollback',
      headers: bearer(VIEWER_TOKEN),
    });
    expect(
      rollbacks.json().items.map((item: { decision: { target: string } }) => item.decision.target),
    ).toEqual(['legacy-errors']);
  });

  it.each(['hours=0', 'hours=10000', 'limit=501', 'action=maybe', 'cursor=bm9wZQ'])(
    'refuses %s with 400',
    async (query) => {
      const t = shared();
      const response = await t.app.server.inject({
        method: 'GET',
        url: `/rollback/recent?${query}`,
        headers: bearer(VIEWER_TOKEN),
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('LASTGOOD_ERR_VALIDATION');
    },
  );
});

describe('GET /rollback/metrics', () => {
  const shared = useSharedTestApp();

  it('counts decisions by action and reason', async () => {
    const t = await start();
    await fireAlert(t, { burnRate: 50 });
    await fireAlert(t, { burnRate: 50 });
    await fireAlert(t, { burnRate: 0.5 });
    const response = await t.app.server.inject({
      method: 'GET',
      url: '/rollback/metrics?hours=1',
      headers: bearer(VIEWER_TOKEN),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      windowHours: 1,
      decisions: {
        total: 3,
        byAction: { rollback: 1, none: 2 },
        byReason: { ROLLBACK: 1, COOLDOWN: 1, BELOW_THRESHOLD: 1 },
      },
      rollbacks: {
        total: 1,
        byState: { queued: 1 },
        successRate: null,
        timeToRollbackMs: { count: 0, p50: null },
      },
    });
  });

  it.each(['hours=0', 'hours=abc', 'hours=721', 'window=24'])('refuses %s with 400', async (query) => {
    const t = shared();
    const response = await t.app.server.inject({
      method: 'GET',
      url: `/rollback/metrics?${query}`,
      headers: bearer(VIEWER_TOKEN),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('LASTGOOD_ERR_VALIDATION');
  });
});

describe('POST /alerts/:id/acknowledge', () => {
  const shared = useSharedTestApp();

  it('records who acknowledged the alert', async () => {
    const t = shared();
    const accepted = await fireAlert(t);
    const response = await t.app.server.inject({
      method: 'POST',
      url: `/alerts/${accepted.alertId}/acknowledge`,
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ id: accepted.alertId, acknowledgedBy: 'alice' });
  });

  it('is refused to a viewer', async () => {
    const t = shared();
    const accepted = await fireAlert(t);
    const response = await t.app.server.inject({
      method: 'POST',
      url: `/v1/alerts/${accepted.alertId}/acknowledge`,
      headers: bearer(VIEWER_TOKEN),
    });
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('LASTGOOD_ERR_FORBIDDEN');
  });

  it('answers 404 for an unknown alert and 400 for a decision id', async () => {
    const t = shared();
    const unknown = await t.app.server.inject({
      method: 'POST',
      url: '/alerts/alt_00000000000000000000000000/acknowledge',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(unknown.statusCode).toBe(404);
    const wrongKind = await t.app.server.inject({
      method: 'POST',
      url: '/alerts/dec_00000000000000000000000000/acknowledge',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(wrongKind.statusCode).toBe(400);
  });
});

describe('POST /rollback/manual/:service', () => {
  const shared = useSharedTestApp();

  it('records a manual rollback with who asked and the revision', async () => {
    const t = await start();
    const response = await t.app.server.inject({
      method: 'POST',
      url: '/rollback/manual/checkout?target_revision=checkout-00001-abc',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body).toMatchObject({
      target: 'checkout',
      requestedRevision: 'checkout-00001-abc',
      requestedBy: 'alice',
      reason: 'MANUAL',
    });
    const status = await t.store.getStatus(body.decisionId);
    expect(status?.decision).toMatchObject({ requestedBy: 'alice', reason: 'MANUAL' });
    expect(status?.rollback?.state).toBe('queued');
  });

  it('refuses a second manual rollback while the first is in progress', async () => {
    const t = await start();
    await t.app.server.inject({
      method: 'POST',
      url: '/rollback/manual/checkout',
      headers: bearer(OPERATOR_TOKEN),
    });
    const second = await t.app.server.inject({
      method: 'POST',
      url: '/v1/rollback/manual/checkout',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({
      code: 'LASTGOOD_ERR_ROLLBACK_REFUSED',
      details: { reason: 'IN_PROGRESS' },
    });
  });

  it('obeys the kill switch', async () => {
    const t = await start({ env: { LASTGOOD_ENABLED: 'false' } });
    const response = await t.app.server.inject({
      method: 'POST',
      url: '/rollback/manual/checkout',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(response.statusCode).toBe(409);
    expect(response.json().details.reason).toBe('DISABLED');
  });

  it('finds the target by its Cloud Run service name too', async () => {
    const t = await start();
    const response = await t.app.server.inject({
      method: 'POST',
      url: '/rollback/manual/legacy-api',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(response.json().target).toBe('legacy-errors');
  });

  it.each([
    ['an unknown target', '/rollback/manual/nowhere', 404, 'LASTGOOD_ERR_UNKNOWN_TARGET'],
    [
      'a malformed revision',
      '/rollback/manual/checkout?target_revision=Bad_Rev!',
      400,
      'LASTGOOD_ERR_VALIDATION',
    ],
    ['a malformed target', '/rollback/manual/CHECKOUT', 400, 'LASTGOOD_ERR_VALIDATION'],
  ])('refuses %s', async (_name, url, status, code) => {
    const t = shared();
    const response = await t.app.server.inject({ method: 'POST', url, headers: bearer(OPERATOR_TOKEN) });
    expect(response.statusCode).toBe(status);
    expect(response.json().code).toBe(code);
  });

  it('is refused to a viewer and to anonymous callers', async () => {
    const t = shared();
    expect(
      (
        await t.app.server.inject({
          method: 'POST',
          url: '/rollback/manual/checkout',
          headers: bearer(VIEWER_TOKEN),
        })
      ).statusCode,
    ).toBe(403);
    expect((await t.app.server.inject({ method: 'POST', url: '/rollback/manual/checkout' })).statusCode).toBe(
      401,
    );
    expect(
      await t.store.listRecent({ since: new Date(0), limit: 10, action: null, cursor: null }),
    ).toHaveLength(0);
  });
});

describe('health', () => {
  const shared = useSharedTestApp();

  it('answers /healthz and /readyz', async () => {
    const t = shared();
    expect((await t.app.server.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await t.app.server.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.store).toEqual({ ok: true, detail: 'sqlite' });
  });

  it('turns /readyz to 503 once draining', async () => {
    const t = await start();
    t.app.drain();
    const ready = await t.app.server.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.accepting.ok).toBe(false);
  });

  it('answers an unknown route with 404 and a code', async () => {
    const t = shared();
    const response = await t.app.server.inject({ method: 'GET', url: '/nope?auth_token=secret' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      code: 'LASTGOOD_ERR_NOT_FOUND',
      message: 'No route for GET at this path',
    });
  });
});
