import { describe, expect, it } from 'vitest';
import { burnRateAlert, testNotification } from '../fixtures/alerts.ts';
import {
  bearer,
  countDecisions,
  OLD_WEBHOOK_TOKEN,
  OPERATOR_TOKEN,
  startTestApp,
  useSharedTestApp,
  useTestApps,
  WEBHOOK_TOKEN,
  webhookUrl,
} from '../helpers/app.ts';

const start = useTestApps();

describe('POST /webhook/error-budget-alert', () => {
  // Refusals store nothing, so they share one app; its store stays empty and each can assert that.
  const refusing = useSharedTestApp();

  it('stores a fast-burn alert, decides to roll back and answers 202 with the ids', async () => {
    const t = await start();
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert({ burnRate: 18.2 }),
    });
    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body).toMatchObject({ duplicate: false, action: 'rollback', reason: 'ROLLBACK' });
    const status = await t.store.getStatus(body.decisionId);
    expect(status?.alert?.id).toBe(body.alertId);
    expect(status?.alert?.rawBody).toContain('select_slo_burn_rate');
    expect(status?.rollback?.state).toBe('queued');
  });

  it('logs each request once, answered: method, URL without the token, status and time', async () => {
    const t = await start();
    await t.app.server.inject({ method: 'POST', url: webhookUrl(), payload: burnRateAlert() });
    const lines = t.logs.map((line) => JSON.parse(line)).filter((line) => line.reqId !== undefined);
    expect(lines).toEqual([
      expect.objectContaining({
        msg: 'request completed',
        req: expect.objectContaining({
          method: 'POST',
          url: '/webhook/error-budget-alert?auth_token=[REDACTED]',
        }),
        res: { statusCode: 202 },
        responseTime: expect.any(Number),
      }),
    ]);
  });

  it.each([
    ['0.dup'],
    // Stored as UTF-8, the lone surrogate becomes U+FFFD: the redelivery must still match the stored row.
    ['0.dup-\ud83d-lone-surrogate'],
  ])(
    'answers a redelivery of incident %j with 200 and the original ids, deciding nothing new',
    async (incidentId) => {
      const t = await start();
      const payload = burnRateAlert({ incidentId });
      const first = await t.app.server.inject({ method: 'POST', url: webhookUrl(), payload });
      const second = await t.app.server.inject({ method: 'POST', url: webhookUrl(), payload });
      expect(second.statusCode).toBe(200);
      expect(second.json()).toMatchObject({
        alertId: first.json().alertId,
        decisionId: first.json().decisionId,
        duplicate: true,
      });
      expect(await countDecisions(t)).toBe(1);
    },
  );

  it('accepts the Basic-auth channel after challenging the first, credential-less call', async () => {
    const t = await start();
    const payload = burnRateAlert();
    const challenge = await t.app.server.inject({
      method: 'POST',
      url: '/webhook/error-budget-alert',
      payload,
    });
    expect(challenge.statusCode).toBe(401);
    expect(challenge.headers['www-authenticate']).toBe('Basic realm="lastgood"');
    expect(challenge.json().code).toBe('LASTGOOD_ERR_UNAUTHORIZED');
    const authorization = `Basic ${Buffer.from(`monitoring:${WEBHOOK_TOKEN}`).toString('base64')}`;
    const accepted = await t.app.server.inject({
      method: 'POST',
      url: '/webhook/error-budget-alert',
      headers: { authorization },
      payload,
    });
    expect(accepted.statusCode).toBe(202);
  });

  it('accepts every configured token, so a token can be rotated without a gap', async () => {
    const t = await start();
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(OLD_WEBHOOK_TOKEN),
      payload: burnRateAlert(),
    });
    expect(response.statusCode).toBe(202);
  });

  it.each([
    ['a wrong token', webhookUrl('not-the-token'), {}],
    [
      'a wrong Basic password',
      '/webhook/error-budget-alert',
      { authorization: `Basic ${Buffer.from('u:nope').toString('base64')}` },
    ],
    ['an operator token', '/webhook/error-budget-alert', bearer(OPERATOR_TOKEN)],
  ])('refuses %s with 401 and stores nothing', async (_name, url, headers) => {
    const t = refusing();
    const response = await t.app.server.inject({ method: 'POST', url, headers, payload: burnRateAlert() });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('LASTGOOD_ERR_UNAUTHORIZED');
    expect(await countDecisions(t)).toBe(0);
  });

  it('refuses bad JSON with 400 LASTGOOD_ERR_BAD_JSON', async () => {
    const t = refusing();
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      headers: { 'content-type': 'application/json' },
      payload: '{"version": "1.2", "incident": {',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('LASTGOOD_ERR_BAD_JSON');
    expect(await countDecisions(t)).toBe(0);
  });

  it('refuses a body that is not a Cloud Monitoring notification, listing the issues', async () => {
    const t = refusing();
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: { version: '1.2', incident: { incident_id: 'x', state: 'open' } },
    });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.code).toBe('LASTGOOD_ERR_VALIDATION');
    expect(body.details).toContainEqual(expect.objectContaining({ path: 'body.incident.started_at' }));
    expect(await countDecisions(t)).toBe(0);
  });

  it('refuses a body over 256 KiB with 413', async () => {
    const t = refusing();
    const payload = burnRateAlert();
    payload.incident.summary = 'x'.repeat(300 * 1024);
    const response = await t.app.server.inject({ method: 'POST', url: webhookUrl(), payload });
    expect(response.statusCode).toBe(413);
    expect(response.json().code).toBe('LASTGOOD_ERR_BODY_TOO_LARGE');
  });

  it('refuses a body that is not JSON with 415', async () => {
    const t = refusing();
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      headers: { 'content-type': 'text/plain' },
      payload: 'alert!',
    });
    expect(response.statusCode).toBe(415);
    expect(response.json().code).toBe('LASTGOOD_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses a missing body with 400', async () => {
    const t = refusing();
    const response = await t.app.server.inject({ method: 'POST', url: webhookUrl() });
    expect(response.statusCode).toBe(400);
  });

  it('stores and acknowledges a test notification but never acts on it', async () => {
    const t = await start();
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: testNotification(),
    });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ action: 'none', reason: 'TEST_NOTIFICATION' });
  });

  it('stores an alert for an unknown target and decides UNKNOWN_TARGET', async () => {
    const t = await start();
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert({ target: 'nobody', service: 'nobody' }),
    });
    expect(response.statusCode).toBe(202);
    expect(response.json().reason).toBe('UNKNOWN_TARGET');
    expect((await t.store.getStatus(response.json().alertId))?.alert?.targetName).toBeNull();
  });

  it('routes on the Cloud Run service name when the policy has no lastgood_target label', async () => {
    const t = await start();
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert({ target: null, service: 'legacy-api', burnRate: 0.2 }),
    });
    const status = await t.store.getStatus(response.json().decisionId);
    expect(status?.decision.targetName).toBe('legacy-errors');
  });

  it('lets exactly one of 50 concurrent alerts for one target roll back', async () => {
    const t = await start();
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.app.server.inject({
          method: 'POST',
          url: webhookUrl(),
          payload: burnRateAlert({ incidentId: `0.concurrent-${i}`, burnRate: 50 }),
        }),
      ),
    );
    expect(responses.every((response) => response.statusCode === 202)).toBe(true);
    const reasons = responses.map((response) => response.json().reason as string);
    expect(reasons.filter((reason) => reason === 'ROLLBACK')).toHaveLength(1);
    expect(
      reasons.filter((reason) => ['RATE_LIMITED', 'COOLDOWN', 'IN_PROGRESS'].includes(reason)),
    ).toHaveLength(49);
  });

  it('keeps alerts and decisions across a restart', async () => {
    const first = await startTestApp();
    const accepted = await first.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert(),
    });
    await first.close({ keepData: true });
    const t = await start({ dataDir: first.dataDir });
    const status = await t.app.server.inject({
      method: 'GET',
      url: `/rollback/status/${accepted.json().decisionId}`,
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(status.statusCode).toBe(200);
    expect(status.json().alert.id).toBe(accepted.json().alertId);
    expect(status.json().decision.reason).toBe('ROLLBACK');
  });

  it('never writes a webhook token to the request log', async () => {
    const t = await start();
    await t.app.server.inject({ method: 'POST', url: webhookUrl(), payload: burnRateAlert() });
    await t.app.server.inject({
      method: 'POST',
      url: webhookUrl('wrong-token-value-123'),
      payload: burnRateAlert(),
    });
    await t.app.server.inject({
      method: 'POST',
      url: '/webhook/error-budget-alert',
      headers: { authorization: `Basic ${Buffer.from(`u:${WEBHOOK_TOKEN}`).toString('base64')}` },
      payload: burnRateAlert(),
    });
    const requestLines = t.logs.filter((line) => line.includes('/webhook/error-budget-alert'));
    expect(requestLines.length).toBeGreaterThan(0);
    expect(requestLines.some((line) => line.includes('auth_token=[REDACTED]'))).toBe(true);
    for (const secret of [
      WEBHOOK_TOKEN,
      'wrong-token-value-123',
      Buffer.from(`u:${WEBHOOK_TOKEN}`).toString('base64'),
    ]) {
      expect(t.logs.join('\n')).not.toContain(secret);
    }
  });
});
