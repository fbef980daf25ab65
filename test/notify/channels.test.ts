import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/events/event.ts';
import { DeliveryError, type Notification } from '../../src/notify/channel.ts';
import { pagerDutyChannel } from '../../src/notify/pagerduty.ts';
import { slackChannel } from '../../src/notify/slack.ts';
import {
  DELIVERY_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifyWebhookSignature,
  webhookChannel,
} from '../../src/notify/webhook.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const AT = new Date('2026-11-23T12:00:00Z');
const SECRET = 'whsec-test-0123456789abcdef';

function event(overrides: Partial<RecordedEvent> = {}): RecordedEvent {
  return {
    seq: 7,
    prevHash: 'a'.repeat(64),
    hash: 'b'.repeat(64),
    type: 'rollback_failed',
    severity: 'critical',
    at: AT,
    target: 'checkout',
    decisionId: 'dec_01jd5x0000000000000000000a',
    actor: 'lastgood',
    data: {
      state: 'failed',
      fromRevision: 'checkout-00002-xyz',
      toRevision: 'checkout-00001-abc',
      reason: 'ROLLBACK',
      confidence: 0.9071,
      errorCode: 'OPERATION_FAILED',
      errorMessage: 'UpdateService operation failed: quota exceeded',
    },
    ...overrides,
  };
}

function notification(overrides: Partial<RecordedEvent> = {}): Notification {
  return {
    id: 'obx_01jd5x0000000000000000000a',
    event: event(overrides),
    service: 'checkout',
    statusUrl: 'https://lastgood.example.com/ui/decisions/dec_01jd5x0000000000000000000a',
  };
}

const signal = () => AbortSignal.timeout(2_000);

let receiver: Receiver;
beforeEach(async () => {
  receiver = await startReceiver('/services/T000/B000/slack-secret-path');
});
afterEach(async () => {
  await receiver.close();
});

describe('Slack', () => {
  it('posts blocks with the service, revisions, reason, confidence and a link to the status', async () => {
    await slackChannel(receiver.url).send(notification(), signal());
    const [request] = await receiver.waitFor(1);
    expect(request!.headers['content-type']).toBe('application/json');
    const body = request!.json as { text: string; blocks: Record<string, unknown>[] };
    expect(body.text).toBe('checkout: rollback FAILED (OPERATION_FAILED): a person is needed');
    const text = JSON.stringify(body.blocks);
    for (const expected of [
      '*Service*\\ncheckout',
      '*Revisions*\\ncheckout-00002-xyz → checkout-00001-abc',
      '*Reason*\\nROLLBACK',
      '*Confidence*\\n0.91',
      'quota exceeded',
      'POST /v1/targets/checkout/resume',
      '<https://lastgood.example.com/ui/decisions/dec_01jd5x0000000000000000000a|Decision status>',
      'audit #7',
    ]) {
      expect(text).toContain(expected);
    }
    expect(body.blocks[0]).toMatchObject({ type: 'header' });
  });

  it('says why a delivery failed without naming the webhook URL, and whether to try again', async () => {
    receiver.answer(500, 404);
    const send = () => slackChannel(receiver.url).send(notification(), signal());
    const transient = await send().catch((error: unknown) => error);
    expect(transient).toBeInstanceOf(DeliveryError);
    expect(transient).toMatchObject({ message: 'HTTP 500', permanent: false });
    expect(await send().catch((error: unknown) => error)).toMatchObject({
      message: 'HTTP 404',
      permanent: true,
    });
    const url = receiver.url;
    await receiver.close();
    const down = await slackChannel(url)
      .send(notification(), signal())
      .catch((error: unknown) => error as DeliveryError);
    expect(down).toMatchObject({ message: expect.stringMatching(/^network error/), permanent: false });
    expect((down as Error).message).not.toContain('slack-secret-path');
    receiver = await startReceiver();
  });

  it('gives up on a receiver that never answers when the timeout aborts', async () => {
    receiver.hang = true;
    const error = await slackChannel(receiver.url)
      .send(notification(), AbortSignal.timeout(100))
      .catch((failure: unknown) => failure);
    expect(error).toMatchObject({ message: 'no answer before the timeout', permanent: false });
  });
});

describe('PagerDuty', () => {
  const channel = () => pagerDutyChannel('routing-key-0123456789', receiver.url);

  it('pages for a critical rollback event with one dedup key per rollback', async () => {
    expect(channel().wants(event())).toBe(true);
    await channel().send(notification(), signal());
    const [request] = await receiver.waitFor(1);
    expect(request!.json).toMatchObject({
      routing_key: 'routing-key-0123456789',
      event_action: 'trigger',
      dedup_key: 'lastgood-dec_01jd5x0000000000000000000a',
      client: 'lastgood',
      client_url: 'https://lastgood.example.com/ui/decisions/dec_01jd5x0000000000000000000a',
      payload: {
        severity: 'critical',
        source: 'checkout',
        component: 'checkout',
        class: 'rollback_failed',
        timestamp: AT.toISOString(),
        custom_details: {
          Revisions: 'checkout-00002-xyz → checkout-00001-abc',
          errorCode: 'OPERATION_FAILED',
        },
      },
    });
    expect((request!.json.payload as { summary: string }).summary).toContain('quota exceeded');
  });

  it('resolves when a rollback heals and when a person resumes the targets it blocked', async () => {
    await channel().send(notification({ type: 'rollback_healed', severity: 'info' }), signal());
    await channel().send(
      notification({
        type: 'target_resumed',
        severity: 'info',
        actor: 'alice',
        data: { cleared: ['dec_a', 'dec_b'] },
      }),
      signal(),
    );
    const requests = await receiver.waitFor(3);
    expect(requests.map((request) => [request.json.event_action, request.json.dedup_key])).toEqual([
      ['resolve', 'lastgood-dec_01jd5x0000000000000000000a'],
      ['resolve', 'lastgood-dec_a'],
      ['resolve', 'lastgood-dec_b'],
    ]);
  });

  it('leaves everything else to the other channels', () => {
    expect(channel().wants(event({ type: 'rollback_succeeded', severity: 'info' }))).toBe(false);
    expect(
      channel().wants(event({ type: 'kill_switch_changed', severity: 'warning', decisionId: null })),
    ).toBe(false);
  });
});

describe('signed webhook', () => {
  it('signs the timestamp and raw body so the receiver can check both, and names the delivery', async () => {
    await webhookChannel(receiver.url, SECRET, () => AT).send(notification(), signal());
    const [request] = await receiver.waitFor(1);
    const timestamp = request!.headers[TIMESTAMP_HEADER] as string;
    const signature = request!.headers[SIGNATURE_HEADER] as string;
    expect(timestamp).toBe(String(AT.getTime() / 1000));
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(request!.headers[DELIVERY_HEADER]).toBe('obx_01jd5x0000000000000000000a');
    const check = (overrides: Partial<Parameters<typeof verifyWebhookSignature>[0]>) =>
      verifyWebhookSignature({
        secret: SECRET,
        body: request!.body,
        timestamp,
        signature,
        now: AT,
        ...overrides,
      });
    expect(check({})).toBe(true);
    expect(check({ body: request!.body.replace('checkout', 'checkin') })).toBe(false);
    expect(check({ secret: 'another-secret-0123456789' })).toBe(false);
    // A replay later, or with a fresh timestamp on the old signature, is refused.
    expect(check({ now: new Date(AT.getTime() + 6 * 60_000) })).toBe(false);
    expect(check({ timestamp: String(AT.getTime() / 1000 + 60) })).toBe(false);
    expect(request!.json).toMatchObject({
      type: 'rollback_failed',
      severity: 'critical',
      target: 'checkout',
      data: { errorCode: 'OPERATION_FAILED' },
      audit: { seq: 7, hash: 'b'.repeat(64), prevHash: 'a'.repeat(64) },
    });
  });
});
