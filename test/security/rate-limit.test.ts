import { describe, expect, it } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import {
  bearer,
  OLD_WEBHOOK_TOKEN,
  OPERATOR_TOKEN,
  type TestApp,
  useTestApps,
  VIEWER_TOKEN,
  WRONG_TOKEN,
  webhookUrl,
} from '../helpers/app.ts';
import { createSigner, pushEnvelope, signPushToken, testPushVerifier } from '../helpers/oidc.ts';

const google = createSigner('rate-key');

const startApp = useTestApps();

function start(env: Record<string, string>) {
  return startApp({ env, pushVerifier: testPushVerifier([google]) });
}

const status = (t: TestApp, token: string, remoteAddress = '203.0.113.1') =>
  t.app.server.inject({ method: 'GET', url: '/rollback/recent', headers: bearer(token), remoteAddress });

const alert = (t: TestApp, token?: string, remoteAddress = '203.0.113.1') =>
  t.app.server.inject({ method: 'POST', url: webhookUrl(token), payload: burnRateAlert(), remoteAddress });

function expectRateLimited(response: Awaited<ReturnType<typeof alert>>, windowSeconds: number) {
  expect(response.statusCode).toBe(429);
  expect(response.json().code).toBe('LASTGOOD_ERR_RATE_LIMITED');
  const retryAfter = Number(response.headers['retry-after']);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
}

describe('rate limits', () => {
  it('answers 429 with Retry-After once an operator token has used its budget, per token', async () => {
    const t = await start({ LASTGOOD_RATE_LIMIT_OPERATOR: '3/1m' });
    for (let i = 0; i < 3; i++) expect((await status(t, OPERATOR_TOKEN)).statusCode).toBe(200);
    expectRateLimited(await status(t, OPERATOR_TOKEN), 60);
    // Another token, even from the same address, has a budget of its own.
    expect((await status(t, VIEWER_TOKEN)).statusCode).toBe(200);
  });

  it('keeps the intake budget apart from the operator budget', async () => {
    const t = await start({ LASTGOOD_RATE_LIMIT_OPERATOR: '1/1m', LASTGOOD_RATE_LIMIT_INTAKE: '2/1m' });
    await status(t, OPERATOR_TOKEN);
    expectRateLimited(await status(t, OPERATOR_TOKEN), 60);
    expect((await alert(t)).statusCode).toBe(202);
    expect((await alert(t)).statusCode).toBe(202);
    expectRateLimited(await alert(t), 60);
    // Each webhook token and each push service account is counted as itself.
    expect((await alert(t, OLD_WEBHOOK_TOKEN)).statusCode).toBe(202);
    const pushed = await t.app.server.inject({
      method: 'POST',
      url: '/webhook/pubsub',
      headers: { authorization: `Bearer ${signPushToken(google)}` },
      payload: pushEnvelope(burnRateAlert()),
    });
    expect(pushed.statusCode).toBe(202);
  });

  it('counts failed credentials by address, so guessing never uses up a valid token budget', async () => {
    const t = await start({ LASTGOOD_RATE_LIMIT_ANONYMOUS: '3/1m' });
    for (let i = 0; i < 3; i++) expect((await alert(t, WRONG_TOKEN)).statusCode).toBe(401);
    expectRateLimited(await alert(t, WRONG_TOKEN), 60);
    expectRateLimited(await status(t, WRONG_TOKEN), 60);
    // The same address with a valid token, and another address guessing, are unaffected.
    expect((await alert(t)).statusCode).toBe(202);
    expect((await status(t, OPERATOR_TOKEN)).statusCode).toBe(200);
    expect((await alert(t, WRONG_TOKEN, '198.51.100.7')).statusCode).toBe(401);
  });

  it('limits the public routes by address', async () => {
    const t = await start({ LASTGOOD_RATE_LIMIT_ANONYMOUS: '2/10s' });
    for (let i = 0; i < 2; i++)
      expect((await t.app.server.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expectRateLimited(await t.app.server.inject({ method: 'GET', url: '/healthz' }), 10);
  });

  it('takes the address the proxy saw, so a forged X-Forwarded-For does not buy a fresh budget', async () => {
    const t = await start({ LASTGOOD_RATE_LIMIT_ANONYMOUS: '2/1m' });
    const guess = (forged: string) =>
      t.app.server.inject({
        method: 'GET',
        url: '/rollback/recent',
        headers: { ...bearer(WRONG_TOKEN), 'x-forwarded-for': `${forged}, 203.0.113.9` },
        remoteAddress: '169.254.1.1',
      });
    expect((await guess('10.0.0.1')).statusCode).toBe(401);
    expect((await guess('10.0.0.2')).statusCode).toBe(401);
    expectRateLimited(await guess('10.0.0.3'), 60);
  });

  it('ignores X-Forwarded-For when told no proxy is in front', async () => {
    const t = await start({ LASTGOOD_RATE_LIMIT_ANONYMOUS: '1/1m', LASTGOOD_TRUST_PROXY_HOPS: '0' });
    const guess = (forwarded: string) =>
      t.app.server.inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'x-forwarded-for': forwarded },
        remoteAddress: '198.51.100.1',
      });
    expect((await guess('203.0.113.1')).statusCode).toBe(200);
    expectRateLimited(await guess('203.0.113.2'), 60);
  });

  it('refuses unauthenticated floods from many addresses without storing anything', async () => {
    const t = await start({ LASTGOOD_RATE_LIMIT_ANONYMOUS: '1/1m' });
    for (let i = 0; i < 2_000; i++) {
      const response = await alert(t, WRONG_TOKEN, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      expect(response.statusCode).toBe(401);
    }
    expect(
      await t.store.listRecent({ since: new Date(0), limit: 1, action: null, cursor: null }),
    ).toHaveLength(0);
    expect((await alert(t)).statusCode).toBe(202);
  });
});
