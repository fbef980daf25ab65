import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import {
  bearer,
  EXAMPLE_POLICY,
  OPERATOR_TOKEN,
  requestManualRollback,
  startTestApp,
  type TestApp,
  type TestAppOptions,
  useTestApps,
  WRONG_TOKEN,
  waitForRollback,
  webhookUrl,
} from '../helpers/app.ts';
import { useAppOnExampleEmulator } from '../helpers/emulator.ts';
import { createSigner, pushEnvelope, signPushToken, testPushVerifier } from '../helpers/oidc.ts';
import { eventually, until } from '../helpers/poll.ts';
import { createTestSchema } from '../helpers/postgres.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { sampleValue, scrape } from './scrape.ts';

const google = createSigner('google-key-1');

/** Each store the app can run on: the options that select it and how to throw it away afterwards. */
const STORES: [string, () => Promise<{ options: TestAppOptions; drop(): Promise<void> }>][] = [
  ['SQLite', async () => ({ options: {}, drop: async () => {} })],
  [
    'PostgreSQL',
    async () => {
      const db = await createTestSchema();
      return { options: { openStore: () => db.openStore() }, drop: () => db.drop() };
    },
  ],
];

describe.each(STORES)('GET /metrics on %s', (_name, openStore) => {
  let t: TestApp;
  let drop: () => Promise<void>;
  beforeEach(async () => {
    const store = await openStore();
    drop = store.drop;
    t = await startTestApp({ ...store.options, pushVerifier: testPushVerifier([google]) });
  });
  afterEach(async () => {
    await t.close();
    await drop();
  });

  it('counts alerts by source and outcome, and decisions by reason and target', async () => {
    const alert = burnRateAlert({ burnRate: 18.2 });
    const send = (url: string, payload: unknown) =>
      t.app.server.inject({ method: 'POST', url, payload: payload as object });
    expect((await send(webhookUrl(), alert)).statusCode).toBe(202);
    expect((await send(webhookUrl(), alert)).statusCode).toBe(200);
    expect((await send(webhookUrl(WRONG_TOKEN), alert)).statusCode).toBe(401);
    expect((await send(webhookUrl(), { version: '1.2' })).statusCode).toBe(400);
    const pushed = await t.app.server.inject({
      method: 'POST',
      url: '/webhook/pubsub',
      headers: bearer(signPushToken(google)),
      payload: pushEnvelope(burnRateAlert({ target: 'payments', service: 'payments' })),
    });
    expect(pushed.statusCode).toBe(202);

    const text = await scrape(t);
    const alerts = (source: string, outcome: string) =>
      sampleValue(text, 'lastgood_alerts_received_total', { source, outcome });
    expect(alerts('cloud-monitoring', 'accepted')).toBe(1);
    expect(alerts('cloud-monitoring', 'duplicate')).toBe(1);
    expect(alerts('cloud-monitoring', 'rejected')).toBe(2);
    expect(alerts('pubsub', 'accepted')).toBe(1);
    expect(alerts('pubsub', 'rejected')).toBe(0);
    const decisions = (reason: string, target: string) =>
      sampleValue(text, 'lastgood_decisions_total', { reason, target });
    expect(decisions('ROLLBACK', 'checkout')).toBe(1);
    expect(decisions('DRY_RUN', 'payments')).toBe(1);
    expect(decisions('COOLDOWN', 'checkout')).toBe(0);
  });

  it('reads the rollback job queue depth from the store at every scrape', async () => {
    // Built without executors, so queued rollbacks stay queued.
    expect(sampleValue(await scrape(t), 'lastgood_job_queue_depth')).toBe(0);
    await t.app.server.inject({ method: 'POST', url: webhookUrl(), payload: burnRateAlert() });
    const manual = await requestManualRollback(t, 'legacy-errors');
    expect(manual.statusCode).toBe(202);
    const text = await scrape(t);
    expect(sampleValue(text, 'lastgood_job_queue_depth')).toBe(2);
    expect(sampleValue(text, 'lastgood_decisions_total', { reason: 'MANUAL', target: 'legacy-errors' })).toBe(
      1,
    );
  });
});

describe('GET /metrics access', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses a scrape without a token: the counters name every target', async () => {
    const response = await t.app.server.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('LASTGOOD_ERR_UNAUTHORIZED');
  });

  it('answers a viewer in the Prometheus text format, every target starting at zero', async () => {
    const response = await t.app.server.inject({
      method: 'GET',
      url: '/metrics',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const target of t.config.targets.keys()) {
      expect(
        sampleValue(response.body, 'lastgood_rollbacks_total', { target, result: 'succeeded' }),
        target,
      ).toBe(0);
    }
  });
});

describe('the outbox backlog, against a local webhook receiver', () => {
  let receiver: Receiver;
  let t: TestApp;
  beforeEach(async () => {
    receiver = await startReceiver('/hooks/lastgood');
    t = await startTestApp({
      env: {
        LASTGOOD_NOTIFY_WEBHOOK_URL: receiver.url,
        LASTGOOD_NOTIFY_WEBHOOK_SECRET: 'metrics-test-webhook-secret-0123456789',
      },
    });
  });
  afterEach(async () => {
    await t.close();
    await receiver.close();
  });

  const backlog = async () => sampleValue(await scrape(t), 'lastgood_outbox_backlog');

  it('counts a dead letter until a person retries it and it is delivered', async () => {
    expect(await backlog()).toBe(0);
    // The receiver refuses the request itself: dead-lettered at once.
    receiver.defaultStatus = 400;
    await t.app.server.inject({ method: 'POST', url: webhookUrl(), payload: burnRateAlert() });
    // Asked every 20 ms: at the default 5 ms the operator rate limit (120 a minute) refuses within a second.
    const letter = await eventually(
      async () => {
        const dead = await t.app.server.inject({
          method: 'GET',
          url: '/v1/notifications/dead-letters',
          headers: bearer(OPERATOR_TOKEN),
        });
        return (dead.json().items as { id: string }[])[0];
      },
      'a dead letter',
      { everyMs: 20 },
    );
    expect(await backlog()).toBe(1);
    receiver.defaultStatus = 200;
    const retried = await t.app.server.inject({
      method: 'POST',
      url: `/v1/notifications/${letter.id}/retry`,
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(retried.statusCode).toBe(200);
    await until(async () => (await backlog()) === 0, 'an empty outbox', { everyMs: 20 });
    expect(receiver.received).toHaveLength(2);
  });
});

describe('rollback and Google API metrics, through the emulator', () => {
  let emulator: Emulator;
  let t: TestApp;
  useAppOnExampleEmulator((started, app) => {
    emulator = started;
    t = app;
  });
  const restart = useTestApps();

  async function rollBack() {
    const accepted = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert({ burnRate: 18.2 }),
    });
    return waitForRollback(t.store, accepted.json().decisionId);
  }

  it('counts a finished rollback by result and times it from the alert', async () => {
    const status = await rollBack();
    expect(status.rollback?.state).toBe('succeeded');
    const text = await scrape(t);
    expect(sampleValue(text, 'lastgood_rollbacks_total', { target: 'checkout', result: 'succeeded' })).toBe(
      1,
    );
    expect(sampleValue(text, 'lastgood_time_to_rollback_seconds_count', { target: 'checkout' })).toBe(1);
    const took = (status.rollback!.finishedAt!.getTime() - status.alert!.receivedAt.getTime()) / 1000;
    expect(sampleValue(text, 'lastgood_time_to_rollback_seconds_sum', { target: 'checkout' })).toBeCloseTo(
      took,
      3,
    );
    expect(sampleValue(text, 'lastgood_job_queue_depth')).toBe(0);
  });

  it('counts a rollback whose incident did not close in time as not healed', async () => {
    await t.close();
    t = await restart({
      emulatorHost: emulator.host,
      policy: EXAMPLE_POLICY.replace('maxAlertAge: 15m', 'maxAlertAge: 15m\n  verificationWindow: 100ms'),
    });
    expect(sampleValue(await scrape(t), 'lastgood_rollbacks_not_healed_total')).toBe(0);
    expect((await rollBack()).rollback?.state).toBe('succeeded');
    await until(
      async () => sampleValue(await scrape(t), 'lastgood_rollbacks_not_healed_total') === 1,
      'the rollback to be counted as not healed',
      { everyMs: 20 },
    );
    expect(sampleValue(await scrape(t), 'lastgood_rollbacks_not_healed_total')).toBe(1);
  });

  it('times every Google call attempt and counts the failed ones by method and gRPC code', async () => {
    emulator.faults.inject({ kind: 'unavailable', method: 'GetService', times: 2 });
    expect((await rollBack()).rollback?.state).toBe('succeeded');
    const text = await scrape(t);
    const calls = (method: string, code: string) =>
      sampleValue(text, 'lastgood_google_api_call_duration_seconds_count', { method, code });
    expect(calls('GetService', 'UNAVAILABLE')).toBe(2);
    expect(calls('UpdateService', 'OK')).toBe(emulator.calls.count('UpdateService'));
    expect(
      sampleValue(text, 'lastgood_google_api_errors_total', { method: 'GetService', code: 'UNAVAILABLE' }),
    ).toBe(2);
    expect(
      sampleValue(text, 'lastgood_google_api_errors_total', { method: 'UpdateService', code: 'OK' }),
    ).toBe(undefined);
  });
});
