import { describe, expect, it } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { type TestApp, useTestApps, webhookUrl } from '../helpers/app.ts';

const start = useTestApps();

async function countDecisions(t: TestApp): Promise<number> {
  const stats = await t.store.decisionStats(new Date(0));
  return Object.values(stats.byAction).reduce((a, b) => a + b, 0);
}

/** Posts a burn-rate alert with one incident field replaced by raw JSON text, so 1e400 arrives as sent. */
function postWith(t: TestApp, field: string, json: string) {
  const alert = burnRateAlert();
  delete (alert.incident as Record<string, unknown>)[field];
  return t.app.server.inject({
    method: 'POST',
    url: webhookUrl(),
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(alert).replace(/"incident":\{/, `"incident":{"${field}":${json},`),
  });
}

describe('alert times', () => {
  it.each([
    ['started_at', '8640000000001'],
    ['started_at', '1e400'],
    ['started_at', '-1'],
    ['started_at', '1.5'],
    ['ended_at', '8640000000001'],
    ['ended_at', '1e400'],
  ])('refuses %s %s, beyond the range of a date, with a 400 naming the field', async (field, json) => {
    const t = await start();
    const response = await postWith(t, field, json);
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.code).toBe('LASTGOOD_ERR_VALIDATION');
    expect(body.message).toContain(`incident.${field}`);
    expect(body.details).toContainEqual(
      expect.objectContaining({
        path: `body.incident.${field}`,
        message: expect.stringContaining('epoch seconds'),
      }),
    );
    expect(await countDecisions(t)).toBe(0);
  });

  it('stores an alert dated a year ahead as stale, never as a rollback', async () => {
    const t = await start();
    const yearAhead = new Date(Date.now() + 365 * 24 * 3_600_000);
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert({ startedAt: yearAhead }),
    });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ action: 'none', reason: 'STALE_ALERT' });
  });
});

describe('alert values', () => {
  it.each([
    ['"18.200"', 'ROLLBACK'],
    ['18.2', 'ROLLBACK'],
    ['"1.82e1"', 'ROLLBACK'],
    ['"-1"', 'MISSING_VALUE'],
    ['""', 'MISSING_VALUE'],
    ['null', 'MISSING_VALUE'],
    // Number() reads these as 16, 18, 18, 1000 and 18: only plain decimals are read, anything else is no value.
    ['"0x10"', 'MISSING_VALUE'],
    ['"0b10010"', 'MISSING_VALUE'],
    ['"0o22"', 'MISSING_VALUE'],
    ['" 1e3 "', 'MISSING_VALUE'],
    ['"+18"', 'MISSING_VALUE'],
    ['"1_000"', 'MISSING_VALUE'],
    ['"18,2"', 'MISSING_VALUE'],
    ['"Infinity"', 'MISSING_VALUE'],
    ['"1e400"', 'MISSING_VALUE'],
  ])('reads observed_value %s as %s', async (json, reason) => {
    const t = await start();
    const response = await postWith(t, 'observed_value', json);
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ reason, action: reason === 'ROLLBACK' ? 'rollback' : 'none' });
  });

  it('refuses observed_value 1e400 as a JSON number, which parses to Infinity, naming the field', async () => {
    const t = await start();
    const response = await postWith(t, 'observed_value', '1e400');
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('incident.observed_value');
    expect(await countDecisions(t)).toBe(0);
  });
});
