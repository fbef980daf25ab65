import { describe, expect, it } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { bearer, OPERATOR_TOKEN, useTestApps, webhookUrl } from '../helpers/app.ts';

const start = useTestApps();

describe('operator input', () => {
  it.each([
    ['GET', '/rollback/recent?limt=5'],
    ['GET', '/rollback/metrics?hour=1'],
    ['POST', '/rollback/manual/checkout?target_revison=checkout-00001-abc'],
  ] as const)('refuses an unknown query parameter: %s %s', async (method, url) => {
    const t = await start();
    const response = await t.app.server.inject({ method, url, headers: bearer(OPERATOR_TOKEN) });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('LASTGOOD_ERR_VALIDATION');
    expect(
      await t.store.listRecent({ since: new Date(0), limit: 1, action: null, cursor: null }),
    ).toHaveLength(0);
  });

  it.each([
    "/rollback/status/1'%20OR%201=1",
    `/rollback/status/dec_${'0'.repeat(500)}`,
    '/rollback/status/..%2F..%2Fetc%2Fpasswd',
    `/alerts/${encodeURIComponent('alt_\u0000')}/acknowledge`,
  ])('validates %s before the store is asked', async (url) => {
    const t = await start();
    let asked = 0;
    for (const method of ['getStatus', 'acknowledgeAlert'] as const) {
      const original = t.store[method].bind(t.store) as (...args: unknown[]) => Promise<unknown>;
      (t.store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        asked++;
        return original(...args);
      };
    }
    const method = url.endsWith('/acknowledge') ? 'POST' : 'GET';
    const response = await t.app.server.inject({ method, url, headers: bearer(OPERATOR_TOKEN) });
    expect(response.statusCode).toBe(400);
    expect(asked).toBe(0);
  });
});

describe('intake input', () => {
  it.each([
    ['application/json', 202],
    ['application/json; charset=utf-8', 202],
    ['Application/JSON;charset="UTF-8"', 202],
    ['application/json; charset=utf-16', 415],
    ['application/json;charset=latin1', 415],
    ['application/json-patch+json', 415],
    ['text/json', 415],
  ])('takes %s only if it is JSON in UTF-8 (%i)', async (contentType, status) => {
    const t = await start();
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      headers: { 'content-type': contentType },
      payload: JSON.stringify(burnRateAlert()),
    });
    expect(response.statusCode).toBe(status);
  });

  it('refuses a control character in an incident id, which PostgreSQL could not store', async () => {
    const t = await start();
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert({ incidentId: '0.a\u0000b' }),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toContainEqual(
      expect.objectContaining({ path: 'body.incident.incident_id', message: 'no control characters' }),
    );
  });

  it('keeps unknown fields Google adds to a notification (the schema is loose on purpose)', async () => {
    const t = await start();
    const payload = { ...burnRateAlert(), added_by_google_later: { anything: [1, 2] } };
    const response = await t.app.server.inject({ method: 'POST', url: webhookUrl(), payload });
    expect(response.statusCode).toBe(202);
    const status = await t.store.getStatus(response.json().alertId);
    expect(status?.alert?.rawBody).toContain('added_by_google_later');
  });
});
