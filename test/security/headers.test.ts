import { describe, expect, it } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import {
  ADMIN_TOKEN,
  bearer,
  OPERATOR_TOKEN,
  type TestApp,
  useTestApps,
  WEBHOOK_TOKEN,
  webhookUrl,
} from '../helpers/app.ts';

const start = useTestApps();

describe('response headers', () => {
  it('sends API security headers and no server banner on every kind of answer', async () => {
    const t = await start();
    const answers = [
      await t.app.server.inject({ method: 'GET', url: '/healthz' }),
      await t.app.server.inject({ method: 'POST', url: webhookUrl(), payload: burnRateAlert() }),
      await t.app.server.inject({ method: 'POST', url: webhookUrl('nope'), payload: burnRateAlert() }),
      await t.app.server.inject({ method: 'GET', url: '/nowhere' }),
      await t.app.server.inject({
        method: 'POST',
        url: webhookUrl(),
        headers: { 'content-type': 'application/json' },
        payload: '{',
      }),
      await t.app.server.inject({ method: 'GET', url: '/rollback/%zz' }),
    ];
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 202, 401, 404, 400, 400]);
    for (const answer of answers) {
      expect(answer.headers).toMatchObject({
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'strict-transport-security': 'max-age=31536000; includeSubDomains',
      });
      expect(answer.headers.server).toBeUndefined();
      expect(answer.headers['x-powered-by']).toBeUndefined();
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    }
  });
});

describe('CORS', () => {
  const preflight = (t: TestApp, origin: string, method: string, url = '/rollback/recent') =>
    t.app.server.inject({
      method: 'OPTIONS',
      url,
      headers: {
        origin,
        'access-control-request-method': method,
        'access-control-request-headers': 'authorization, content-type',
      },
    });
  const ALLOWED = 'https://ops.example.com';

  it('lets an allowed origin preflight every method the API uses, PUT included', async () => {
    const t = await start({ env: { LASTGOOD_CORS_ORIGINS: ALLOWED } });
    const put = await preflight(t, ALLOWED, 'PUT', '/v1/kill-switch');
    expect(put.statusCode).toBe(204);
    expect(put.headers).toMatchObject({
      'access-control-allow-origin': ALLOWED,
      'access-control-max-age': '600',
    });
    const list = (header: unknown) => String(header).split(/,\s*/);
    expect(list(put.headers['access-control-allow-headers'])).toEqual(['authorization', 'content-type']);
    expect(list(put.headers['access-control-allow-methods'])).toEqual(['GET', 'POST', 'PUT']);
    expect(put.headers.vary).toContain('Origin');
    const mode = await preflight(t, ALLOWED, 'PUT', '/v1/targets/checkout/mode');
    expect(mode.headers['access-control-allow-methods']).toContain('PUT');

    // The real request after the preflight: the browser may read the answer.
    const after = await t.app.server.inject({
      method: 'PUT',
      url: '/v1/kill-switch',
      headers: { ...bearer(ADMIN_TOKEN), origin: ALLOWED },
      payload: { enabled: false, reason: 'browser test' },
    });
    expect(after.statusCode).toBe(200);
    expect(after.headers['access-control-allow-origin']).toBe(ALLOWED);
  });

  it('gives a refused origin no CORS grant, so the browser stops the PUT before it is sent', async () => {
    const t = await start({ env: { LASTGOOD_CORS_ORIGINS: ALLOWED } });
    const put = await preflight(t, 'https://evil.example.com', 'PUT', '/v1/kill-switch');
    // Without Access-Control-Allow-Origin naming it, the browser fails the preflight whatever else is sent.
    expect(put.headers['access-control-allow-origin']).toBeUndefined();
    const read = await t.app.server.inject({
      method: 'GET',
      url: '/rollback/recent',
      headers: { ...bearer(OPERATOR_TOKEN), origin: 'https://evil.example.com' },
    });
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers no origin at all when none is configured', async () => {
    const t = await start();
    const response = await preflight(t, ALLOWED, 'PUT', '/v1/kill-switch');
    expect(response.statusCode).toBe(404);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('error responses', () => {
  it('never echo a credential, whatever else is wrong with the request', async () => {
    const t = await start();
    const basic = { authorization: `Basic ${Buffer.from(`monitoring:${WEBHOOK_TOKEN}`).toString('base64')}` };
    const requests = [
      { method: 'GET' as const, url: `/nowhere?auth_token=${WEBHOOK_TOKEN}` },
      { method: 'POST' as const, url: `/webhook/%zz?auth_token=${WEBHOOK_TOKEN}`, payload: burnRateAlert() },
      { method: 'POST' as const, url: `${webhookUrl()}&auth_token=${OPERATOR_TOKEN}`, payload: {} },
      {
        method: 'POST' as const,
        url: webhookUrl(),
        headers: { 'content-type': 'application/json' },
        payload: '{"version"',
      },
      {
        method: 'POST' as const,
        url: webhookUrl(),
        headers: { 'content-type': 'text/plain' },
        payload: 'alert',
      },
      {
        method: 'POST' as const,
        url: webhookUrl(),
        payload: { version: '1.2', incident: { incident_id: 'x' } },
      },
      { method: 'POST' as const, url: '/webhook/error-budget-alert', headers: basic, payload: '[]' },
      { method: 'POST' as const, url: webhookUrl(OPERATOR_TOKEN), payload: burnRateAlert() },
      { method: 'GET' as const, url: '/rollback/recent?hours=-1', headers: bearer(OPERATOR_TOKEN) },
      { method: 'GET' as const, url: '/rollback/recent', headers: bearer(WEBHOOK_TOKEN) },
      { method: 'POST' as const, url: '/webhook/pubsub', headers: bearer(WEBHOOK_TOKEN), payload: {} },
    ];
    for (const request of requests) {
      const response = await t.app.server.inject(request);
      expect(response.statusCode, request.url).toBeGreaterThanOrEqual(400);
      expect(response.statusCode, request.url).toBeLessThan(500);
      for (const secret of [WEBHOOK_TOKEN, OPERATOR_TOKEN, basic.authorization.slice(6)]) {
        expect(response.body, request.url).not.toContain(secret);
        expect(JSON.stringify(response.headers), request.url).not.toContain(secret);
      }
      expect(response.body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
    }
  });

  it('answer a 500 with a fixed message, keeping the cause in the log only', async () => {
    const t = await start();
    t.store.recordDecision = async () => {
      throw new Error('database file is on fire at /var/lib/lastgood/lastgood.db');
    };
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert(),
    });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      code: 'LASTGOOD_ERR_INTERNAL',
      message: 'Internal error; see the server log',
    });
    expect(t.logs.join('\n')).toContain('database file is on fire');
  });
});
