import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { exponentialBackoff } from '../../src/domain/backoff.ts';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { verifyWebhookSignature } from '../../src/notify/webhook.ts';
import type { burnRateAlert } from '../fixtures/alerts.ts';
import {
  bearer,
  fireAlert,
  ManualClock,
  OPERATOR_TOKEN,
  startTestApp,
  type TestApp,
  type TestAppOptions,
  VIEWER_TOKEN,
  waitForRollback,
} from '../helpers/app.ts';
import { useExampleEmulator } from '../helpers/emulator.ts';
import { registerSecret } from '../helpers/log-sink.ts';
import { sleep, until } from '../helpers/poll.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { postgresUnderTest, type StoreUnderTest, sqliteUnderTest } from '../helpers/store-under-test.ts';

const ROUTING_KEY = 'pd-routing-key-test-0123456789abcdef';
const WEBHOOK_SECRET = 'webhook-secret-test-0123456789abcdef';
const SLACK_PATH = '/services/T0000/B0000/slack-token-test-0123456789';
const PUBLIC_URL = 'https://lastgood.example.com';

/** Each store the outbox can live on: the options that point the app at it, and the store read past lastgood. */
const STORES: [string, () => Promise<{ options: TestAppOptions; store: StoreUnderTest }>][] = [
  [
    'SQLite',
    async () => {
      const store = sqliteUnderTest();
      return { options: { dataDir: store.dataDir }, store };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const store = await postgresUnderTest();
      return { options: { openStore: () => store.schema.openStore() }, store };
    },
  ],
];

/** The store of the running test, chosen by its `describe.each` case. */
let onStore: { options: TestAppOptions; store: StoreUnderTest } | null = null;
let slack: Receiver;
let pagerDuty: Receiver;
let webhook: Receiver;
let clock: ManualClock;
let t: TestApp | null = null;

beforeAll(() => {
  for (const secret of [ROUTING_KEY, WEBHOOK_SECRET, SLACK_PATH]) registerSecret(secret);
});
beforeEach(async () => {
  [slack, pagerDuty, webhook] = await Promise.all([
    startReceiver(SLACK_PATH),
    startReceiver('/v2/enqueue'),
    startReceiver('/hooks/lastgood'),
  ]);
  clock = new ManualClock();
});
afterEach(async () => {
  await t?.close();
  t = null;
  await onStore?.store.dispose();
  onStore = null;
  await Promise.all([slack.close(), pagerDuty.close(), webhook.close()]);
});

async function start(options: { maxAttempts?: number; emulatorHost?: string } = {}) {
  t = await startTestApp({
    ...onStore!.options,
    clock,
    notifyBackoff: exponentialBackoff({ baseMs: 1_000, maxMs: 60_000 }),
    ...(options.emulatorHost === undefined ? {} : { emulatorHost: options.emulatorHost }),
    env: {
      LASTGOOD_JOB_POLL: '20ms',
      LASTGOOD_PUBLIC_URL: `${PUBLIC_URL}/`,
      LASTGOOD_SLACK_WEBHOOK_URL: slack.url,
      LASTGOOD_PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
      LASTGOOD_PAGERDUTY_URL: pagerDuty.url,
      LASTGOOD_NOTIFY_WEBHOOK_URL: webhook.url,
      LASTGOOD_NOTIFY_WEBHOOK_SECRET: WEBHOOK_SECRET,
      LASTGOOD_NOTIFY_MAX_ATTEMPTS: String(options.maxAttempts ?? 8),
      LASTGOOD_NOTIFY_TIMEOUT: '2s',
    },
  });
  return t;
}

/** Fires an alert that started now on the test's clock. */
function fire(app: TestApp, options: Parameters<typeof burnRateAlert>[0] = {}) {
  return fireAlert(app, { startedAt: clock.now(), ...options });
}

/** Lets the delivery worker poll a few times, to show that nothing more arrives. */
const settle = () => sleep(150);

/** Whether the Slack notification's attempt `n` has been recorded (its lease handed back), read from the store. */
async function attemptRecorded(n: number): Promise<boolean> {
  const rows = await onStore!.store.query(
    'SELECT attempts FROM outbox WHERE lease_owner IS NULL AND attempts = ?',
    [n],
  );
  return rows.length > 0;
}

describe.each(STORES)('on %s', (_name, openStore) => {
  beforeEach(async () => {
    onStore = await openStore();
  });

  describe('notification delivery', () => {
    it('tells Slack and the signed webhook that a rollback started, with a link to its status', async () => {
      const app = await start();
      const accepted = await fire(app);
      await fire(app, { burnRate: 1 });
      const [message] = await slack.waitFor(1);
      const [hook] = await webhook.waitFor(1);
      await settle();
      expect(slack.received).toHaveLength(1);
      expect(pagerDuty.received).toHaveLength(0);
      expect(message!.json.text).toBe('checkout: rolling back');
      expect(JSON.stringify(message!.json.blocks)).toContain(
        `<${PUBLIC_URL}/ui/decisions/${accepted.decisionId}|Decision status>`,
      );
      expect(
        verifyWebhookSignature({
          secret: WEBHOOK_SECRET,
          body: hook!.body,
          timestamp: hook!.headers['x-lastgood-timestamp'] as string,
          signature: hook!.headers['x-lastgood-signature'] as string,
          now: clock.now(),
        }),
      ).toBe(true);
      expect(hook!.json).toMatchObject({
        type: 'decision',
        decisionId: accepted.decisionId,
        data: { reason: 'ROLLBACK' },
        audit: { seq: 1 },
      });
      expect(await app.store.outboxBacklog()).toBe(0);
    });

    it('retries a failing channel with exponential backoff and never resends to one that took it', async () => {
      const app = await start();
      slack.answer(500, 503);
      await fire(app);
      await slack.waitFor(1);
      await webhook.waitFor(1);
      await until(() => attemptRecorded(1), 'attempt 1 to be recorded');
      clock.advance(999);
      await settle();
      expect(slack.received).toHaveLength(1);
      clock.advance(1);
      await slack.waitFor(2);
      await until(() => attemptRecorded(2), 'attempt 2 to be recorded');
      // The second wait is twice the first.
      clock.advance(1_999);
      await settle();
      expect(slack.received).toHaveLength(2);
      clock.advance(1);
      await slack.waitFor(3);
      await until(async () => (await app.store.outboxBacklog()) === 0, 'an empty outbox');
      expect(webhook.received).toHaveLength(1);
      expect(slack.received.map((request) => request.body)).toEqual(Array(3).fill(slack.received[0]!.body));
    });

    it('dead-letters after the last attempt, shows it over the API and sends it again on request', async () => {
      const app = await start({ maxAttempts: 2 });
      slack.defaultStatus = 500;
      await fire(app);
      await slack.waitFor(1);
      await until(() => attemptRecorded(1), 'attempt 1 to be recorded');
      clock.advance(1_000);
      await slack.waitFor(2);
      await until(async () => (await app.store.listDeadLetters(null, 10)).length === 1, 'one dead letter');
      await settle();
      clock.advance(60_000);
      await settle();
      expect(slack.received).toHaveLength(2);

      const listed = await app.app.server.inject({
        method: 'GET',
        url: '/v1/notifications/dead-letters',
        headers: bearer(VIEWER_TOKEN),
      });
      expect(listed.statusCode).toBe(200);
      const [dead] = listed.json().items;
      expect(dead).toMatchObject({
        state: 'dead',
        attempts: 2,
        deliveredTo: ['webhook'],
        lastError: 'slack: HTTP 500',
        event: { type: 'decision', data: { reason: 'ROLLBACK' } },
      });
      expect(JSON.stringify(listed.json())).not.toContain(SLACK_PATH);

      const refused = await app.app.server.inject({
        method: 'POST',
        url: `/v1/notifications/${dead.id}/retry`,
        headers: bearer(VIEWER_TOKEN),
      });
      expect(refused.statusCode).toBe(403);
      slack.defaultStatus = 200;
      const retried = await app.app.server.inject({
        method: 'POST',
        url: `/v1/notifications/${dead.id}/retry`,
        headers: bearer(OPERATOR_TOKEN),
      });
      expect(retried.statusCode).toBe(200);
      expect(retried.json()).toMatchObject({ state: 'pending', attempts: 0 });
      await slack.waitFor(3);
      await until(async () => (await app.store.outboxBacklog()) === 0, 'an empty outbox');
      expect(webhook.received).toHaveLength(1);
      const again = await app.app.server.inject({
        method: 'POST',
        url: `/v1/notifications/${dead.id}/retry`,
        headers: bearer(OPERATOR_TOKEN),
      });
      expect(again.statusCode).toBe(404);
      const [audited] = await app.store.listAudit(null, 1);
      expect(audited).toMatchObject({
        type: 'notification_retried',
        actor: 'alice',
        data: { notificationId: dead.id },
      });
    });

    it('dead-letters at once a notification a receiver refuses outright', async () => {
      const app = await start();
      slack.defaultStatus = 404;
      await fire(app);
      await slack.waitFor(1);
      await until(async () => (await app.store.listDeadLetters(null, 10)).length === 1, 'one dead letter');
      const [dead] = await app.store.listDeadLetters(null, 10);
      expect(dead).toMatchObject({ attempts: 1, lastError: 'slack: HTTP 404' });
    });
  });

  describe('notifications around a real rollback', () => {
    let emulator: Emulator;
    useExampleEmulator((started) => {
      emulator = started;
    });
    it('rolls back while every receiver is down: delivery never holds a rollback up', async () => {
      for (const receiver of [slack, pagerDuty, webhook]) receiver.defaultStatus = 503;
      const app = await start({ emulatorHost: emulator.host });
      const accepted = await fire(app);
      const status = await waitForRollback(app.store, accepted.decisionId);
      expect(status.rollback?.state).toBe('succeeded');
      expect(await app.store.outboxBacklog()).toBe(2);
    });

    it('pages PagerDuty for a failed rollback, keyed to that rollback', async () => {
      emulator.faults.inject({
        kind: 'fail-next-operation',
        method: 'UpdateService',
        message: 'quota exceeded',
      });
      const app = await start({ emulatorHost: emulator.host });
      const accepted = await fire(app);
      await waitForRollback(app.store, accepted.decisionId);
      const [page] = await pagerDuty.waitFor(1);
      expect(page!.json).toMatchObject({
        routing_key: ROUTING_KEY,
        event_action: 'trigger',
        dedup_key: `lastgood-${accepted.decisionId}`,
        payload: { severity: 'critical', class: 'rollback_failed', source: 'checkout' },
      });
      expect((page!.json.payload as { summary: string }).summary).toContain('quota exceeded');
      await slack.waitFor(2);
      expect(slack.received.map((request) => request.json.text)).toEqual([
        'checkout: rolling back',
        'checkout: rollback FAILED (OPERATION_FAILED): a person is needed',
      ]);
      for (const secret of [ROUTING_KEY, WEBHOOK_SECRET, SLACK_PATH]) {
        expect(app.logs.join('\n')).not.toContain(secret);
      }
    });
  });
});
