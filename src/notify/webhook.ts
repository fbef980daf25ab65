import { createHmac, timingSafeEqual } from 'node:crypto';
import { type Notification, type NotificationChannel, postJson } from './channel.ts';
import { describe } from './message.ts';

export const SIGNATURE_HEADER = 'x-lastgood-signature';
export const TIMESTAMP_HEADER = 'x-lastgood-timestamp';
export const DELIVERY_HEADER = 'x-lastgood-delivery';

/** How old a signed request a receiver should still accept. */
export const DEFAULT_TOLERANCE_MS = 5 * 60_000;

/**
 * `sha256=` and the hex HMAC-SHA256, keyed with the shared secret, of `<timestamp>.<raw body>`. Signing the
 * timestamp with the body means a captured request cannot be replayed later under a fresh timestamp.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

/**
 * What a receiver does with a lastgood webhook: true when the signature matches the body and timestamp (compared
 * in constant time) and the timestamp is within `toleranceMs` of `now`.
 */
export function verifyWebhookSignature(input: {
  secret: string;
  body: string;
  timestamp: string | undefined;
  signature: string | undefined;
  now: Date;
  toleranceMs?: number;
}): boolean {
  const { timestamp, signature } = input;
  if (timestamp === undefined || signature === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
  const age = Math.abs(input.now.getTime() - Number(timestamp) * 1000);
  if (age > (input.toleranceMs ?? DEFAULT_TOLERANCE_MS)) return false;
  const expected = Buffer.from(webhookSignature(input.secret, timestamp, input.body));
  const presented = Buffer.from(signature);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/**
 * The webhook body: the audited event as stored, with its place in the chain, so receivers can anchor the log, and
 * a hold's evidence in words (`evidence`, one line each; empty for other events) for a receiver that only posts text.
 */
export function webhookBody(notification: Notification): Record<string, unknown> {
  const { event } = notification;
  return {
    id: notification.id,
    type: event.type,
    severity: event.severity,
    at: event.at.toISOString(),
    target: event.target,
    service: notification.service,
    decisionId: event.decisionId,
    actor: event.actor,
    data: event.data,
    evidence: describe(notification).evidence,
    statusUrl: notification.statusUrl,
    audit: { seq: event.seq, prevHash: event.prevHash, hash: event.hash },
  };
}

/** A generic JSON webhook, signed (see `webhookSignature`): every notifiable event. */
export function webhookChannel(url: string, secret: string, now: () => Date): NotificationChannel {
  return {
    name: 'webhook',
    wants: () => true,
    send(notification, signal) {
      const body = JSON.stringify(webhookBody(notification));
      const timestamp = String(Math.floor(now().getTime() / 1000));
      return postJson(
        url,
        body,
        {
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body),
          [DELIVERY_HEADER]: notification.id,
        },
        signal,
      );
    },
  };
}
