import { describe, expect, it } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import {
  countDecisions,
  type TestApp,
  type TestAppOptions,
  useSharedTestApp,
  useTestApps,
  webhookUrl,
} from '../helpers/app.ts';
import { createSigner, pushEnvelope, signPushToken, testPushVerifier } from '../helpers/oidc.ts';

const google = createSigner('google-key-1');
const stranger = createSigner('google-key-1');

const startApp = useTestApps();

function start(options: TestAppOptions = {}) {
  return startApp({ pushVerifier: testPushVerifier([google]), ...options });
}

function push(t: TestApp, payload: unknown, token: string | null = signPushToken(google)) {
  return t.app.server.inject({
    method: 'POST',
    url: '/webhook/pubsub',
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    payload: payload as object,
  });
}

describe('POST /webhook/pubsub', () => {
  // Refusals store nothing, so they share one app; its store stays empty and each can assert that.
  const refusing = useSharedTestApp({ pushVerifier: testPushVerifier([google]) });

  it('stores and decides the notification carried in message.data, keeping its decoded text', async () => {
    const t = await start();
    const alert = burnRateAlert({ burnRate: 18.2 });
    const response = await push(t, pushEnvelope(alert));
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ duplicate: false, action: 'rollback', reason: 'ROLLBACK' });
    const status = await t.store.getStatus(response.json().decisionId);
    expect(status?.alert).toMatchObject({ source: 'pubsub', rawBody: JSON.stringify(alert) });
  });

  it('stores an alert once when it arrives by webhook and by Pub/Sub', async () => {
    const t = await start();
    const alert = burnRateAlert({ incidentId: '0.both-ways' });
    const first = await t.app.server.inject({ method: 'POST', url: webhookUrl(), payload: alert });
    const second = await push(t, pushEnvelope(alert));
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({ alertId: first.json().alertId, duplicate: true });
    expect(await countDecisions(t)).toBe(1);
  });

  it('answers a Pub/Sub redelivery with 200 and the original ids', async () => {
    const t = await start();
    const envelope = pushEnvelope(burnRateAlert());
    const first = await push(t, envelope);
    const again = await push(t, envelope);
    expect(again.statusCode).toBe(200);
    expect(again.json().decisionId).toBe(first.json().decisionId);
  });

  const now = Math.floor(Date.now() / 1000);
  it.each([
    ['no token', () => null],
    ['a token for another audience', () => signPushToken(google, { aud: 'https://evil.example.com/' })],
    [
      'a token of another service account',
      () => signPushToken(google, { email: 'x@evil.iam.gserviceaccount.com' }),
    ],
    ['an unverified email', () => signPushToken(google, { email_verified: false })],
    ['an expired token', () => signPushToken(google, { iat: now - 7200, exp: now - 3600 })],
    ['a token from another issuer', () => signPushToken(google, { iss: 'https://evil.example.com' })],
    ['a token signed by another key under a known key id', () => signPushToken(stranger)],
    ['a token under an unknown key id', () => signPushToken(google, {}, { kid: 'nope' })],
    ['an unsigned token', () => `${signPushToken(google).split('.').slice(0, 2).join('.')}.`],
    ['a webhook token', () => 'wh-test-token-0123456789abcdef0123456789'],
  ])('refuses %s with 401 and stores nothing', async (_name, token) => {
    const t = refusing();
    const response = await push(t, pushEnvelope(burnRateAlert()), token());
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('LASTGOOD_ERR_UNAUTHORIZED');
    expect(await countDecisions(t)).toBe(0);
  });

  it('never answers with, or logs, the reason google-auth-library gives (it quotes the token)', async () => {
    const t = refusing();
    const forged = signPushToken(stranger);
    const response = await push(t, pushEnvelope(burnRateAlert()), forged);
    expect(response.body).not.toContain(forged.split('.')[2]);
    expect(t.logs.join('\n')).not.toContain(forged.split('.')[2]);
  });

  it.each([
    [
      'data that is not base64',
      { ...pushEnvelope({}), message: { data: 'not base64!' } },
      'LASTGOOD_ERR_VALIDATION',
    ],
    ['data that is not JSON', pushEnvelope('alert!'), 'LASTGOOD_ERR_BAD_JSON'],
    [
      'data that is not UTF-8',
      { ...pushEnvelope({}), message: { data: Buffer.from([0xff, 0xfe]).toString('base64') } },
      'LASTGOOD_ERR_BAD_JSON',
    ],
    [
      'data with a prototype-poisoning key',
      pushEnvelope('{"__proto__":{"polluted":true},"version":"1.2"}'),
      'LASTGOOD_ERR_BAD_JSON',
    ],
    [
      'data that is not a notification',
      pushEnvelope({ version: '1.2', incident: { incident_id: 'x' } }),
      'LASTGOOD_ERR_VALIDATION',
    ],
    [
      'an envelope without a message',
      { subscription: 'projects/p/subscriptions/s' },
      'LASTGOOD_ERR_VALIDATION',
    ],
  ])('refuses %s with 400 and stores nothing', async (_name, envelope, code) => {
    const t = refusing();
    const response = await push(t, envelope);
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe(code);
    expect(await countDecisions(t)).toBe(0);
  });

  it('answers 503 when Google signing certificates cannot be fetched, so Pub/Sub redelivers', async () => {
    const t = await start({
      pushVerifier: testPushVerifier([google], async () => {
        throw new Error('certificate endpoint unreachable');
      }),
    });
    const response = await push(t, pushEnvelope(burnRateAlert()));
    expect(response.statusCode).toBe(503);
    expect(response.json().code).toBe('LASTGOOD_ERR_UNAVAILABLE');
  });

  it('refuses every push, saying what to set, when Pub/Sub intake is not configured', async () => {
    const response = await push(await startApp(), pushEnvelope(burnRateAlert()));
    expect(response.statusCode).toBe(401);
    expect(response.json().message).toContain('LASTGOOD_PUBSUB_AUDIENCE');
  });
});
