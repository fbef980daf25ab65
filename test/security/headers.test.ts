import { describe, expect, it } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import {
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
  const preflight = (t: TestApp, origin: string) =>
    t.app.server.inject({
      method: 'OPTIONS',
      url: '/rollback/recent',
      headers: {
        origin,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });

  it('answers only the configured origins', async () => {
    const t = await start({ env: { LASTGOOD_CORS_ORIGINS: 'https://ops.example.com' } });
    const allowed = await preflight(t, 'https://ops.example.com');
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers).toMatchObject({
      'access-control-allow-origin': 'https://ops.example.com',
      'access-control-allow-headers': 'authorization, content-type',
      vary: 'Origin',
    });
    const other = await preflight(t, 'https://evil.example.com');
    expect(other.statusCode).toBe(404);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const read = await t.app.server.inject({
      method: 'GET',
      url: '/rollback/recent',
      headers: { ...bearer(OPERATOR_TOKEN), origin: 'https://ops.example.com' },
    });
    expect(read.headers['access-control-allow-origin']).toBe('https://ops.example.com');
  });

  it('answers no origin at all when none is configured', async () => {
    const t = await start();
    const response = await preflight(t, 'https://ops.example.com');
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
