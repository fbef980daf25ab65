import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type TestApp, useTestApps, webhookUrl } from '../helpers/app.ts';

const start = useTestApps();

/**
 * A real-shaped notification from test/fixtures/payloads/, dated a minute ago (the files carry a fixed date, which
 * would make every alert stale); a closed one ended just now.
 */
function payload(name: string): Record<string, unknown> & { incident: Record<string, unknown> } {
  const body = JSON.parse(
    readFileSync(new URL(`../fixtures/payloads/${name}.json`, import.meta.url), 'utf8'),
  );
  if (body.version !== 'test') {
    const now = Math.floor(Date.now() / 1000);
    body.incident.started_at = now - 60;
    if (body.incident.state === 'closed') body.incident.ended_at = now;
  }
  return body;
}

async function post(t: TestApp, body: unknown) {
  return t.app.server.inject({ method: 'POST', url: webhookUrl(), payload: body as object });
}

/** Posts a fixture and returns the answer with the decision the store holds for it. */
async function deliver(t: TestApp, name: string) {
  const response = await post(t, payload(name));
  expect(response.statusCode, response.body).toBe(202);
  const status = await t.store.getStatus(response.json().decisionId);
  if (status === null) throw new Error(`no stored decision for ${name}`);
  return { body: response.json(), decision: status.decision, alert: status.alert };
}

describe('real Cloud Monitoring payload variants, end to end through the webhook', () => {
  it.each([
    ['threshold', 'legacy-errors', 'ROLLBACK'],
    ['slo-burn-rate', 'checkout', 'ROLLBACK'],
    ['mql', 'checkout', 'ROLLBACK'],
    ['promql', 'checkout', 'ROLLBACK'],
    ['absence', 'checkout', 'MISSING_VALUE'],
    ['log-match', 'checkout', 'MISSING_VALUE'],
    ['test-notification', null, 'TEST_NOTIFICATION'],
    ['closed', 'checkout', 'INCIDENT_CLOSED'],
    ['other-resource-https-lb', 'checkout', 'ROLLBACK'],
    ['other-resource-gke', 'payments', 'DRY_RUN'],
  ])('%s: 202, stored for target %s as %s', async (name, target, reason) => {
    const t = await start();
    const { body, decision, alert } = await deliver(t, name);
    expect(body.reason).toBe(reason);
    expect(decision.reason).toBe(reason);
    expect(decision.targetName).toBe(target);
    expect(alert?.rawBody).toContain(name === 'test-notification' ? 'Test Incident' : 'incident_id');
  });

  it('scores the same burn held as long the same, whether the condition is a threshold, MQL or PromQL', async () => {
    const scored = [];
    // One app each: in one, the first rollback's cooldown would refuse the others before they are scored.
    for (const name of ['slo-burn-rate', 'mql', 'promql'])
      scored.push((await deliver(await start(), name)).decision);
    const held = scored.map(
      (decision) => decision.factors.find((f) => f.name === 'condition_held_seconds')?.value,
    );
    expect(held.every((seconds) => typeof seconds === 'number' && seconds >= 660)).toBe(true);
    expect(new Set(scored.map((decision) => decision.confidence)).size).toBe(1);
    expect(scored[0]?.confidence).toBeCloseTo(0.836, 3);
  });

  it('routes by policy_user_labels first, then metadata.user_labels', async () => {
    const t = await start();
    const body = payload('other-resource-gke');
    body.incident.policy_user_labels = { lastgood_target: 'checkout' };
    const response = await post(t, body);
    expect(response.json()).toMatchObject({ reason: 'ROLLBACK' });
    const status = await t.store.getStatus(response.json().decisionId);
    expect(status?.decision.targetName).toBe('checkout');
  });

  it('refuses a schema 1.1 notification with a 400 that names the version, storing nothing', async () => {
    const t = await start();
    const response = await post(t, payload('schema-1.1'));
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'LASTGOOD_ERR_UNSUPPORTED_SCHEMA',
      message: expect.stringContaining('1.1'),
    });
    const recent = await t.store.listRecent({ since: new Date(0), limit: 10, action: null, cursor: null });
    expect(recent).toHaveLength(0);
  });

  it('names the bad field and what was expected in a 400', async () => {
    const t = await start();
    const body = payload('slo-burn-rate');
    delete body.incident.state;
    const response = await post(t, body);
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toMatch(/incident\.state: .*expected/i);
    expect(response.json().details).toContainEqual(expect.objectContaining({ path: 'body.incident.state' }));
  });
});
