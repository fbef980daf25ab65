import { z } from 'zod';
import { LastgoodError } from '../errors.ts';
import { type ParsedAlert, parseCloudMonitoring } from './cloud-monitoring.ts';

/** Standard base64, as Pub/Sub encodes `message.data`; anything else is refused rather than guessed at. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The push envelope Pub/Sub POSTs for a message. Loose like the Cloud Monitoring schema: Google adds fields to
 * it (`deliveryAttempt` came later), and a sender we do not know is already refused by the OIDC check.
 */
export const pubsubPushSchema = z
  .looseObject({
    message: z.looseObject({
      data: z
        .string()
        .max(350_000) // base64 of a notification at the body limit
        .regex(BASE64, 'must be base64')
        .refine((data) => data.length % 4 === 0, 'must be padded base64'),
      messageId: z.string().max(256).optional(),
      publishTime: z.string().max(64).optional(),
      attributes: z
        .record(z.string().max(256), z.string().max(1024))
        .refine((value) => Object.keys(value).length <= 100, 'at most 100 attributes')
        .optional(),
    }),
    subscription: z.string().max(512),
    deliveryAttempt: z.number().int().min(0).optional(),
  })
  .meta({ id: 'PubsubPushEnvelope' });

export type PubsubPush = z.infer<typeof pubsubPushSchema>;

/** Refuses the keys that poison prototypes, as Fastify's own JSON parser does for the webhook body. */
function refusePrototypeKeys(key: string, value: unknown): unknown {
  if (
    key === '__proto__' ||
    (key === 'constructor' && typeof value === 'object' && value !== null && 'prototype' in value)
  ) {
    throw new SyntaxError('forbidden prototype property');
  }
  return value;
}

function badData(message: string): LastgoodError {
  return new LastgoodError('LASTGOOD_ERR_BAD_JSON', `message.data ${message}`);
}

/**
 * Decodes a push message into the Cloud Monitoring notification it carries. The decoded JSON text is what gets
 * stored, so an alert reads the same whether it came by webhook or by Pub/Sub.
 */
export function parsePubsubAlert(push: PubsubPush): { parsed: ParsedAlert; rawBody: string } {
  let rawBody: string;
  try {
    rawBody = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(push.message.data, 'base64'));
  } catch {
    throw badData('is not UTF-8 text');
  }
  let notification: unknown;
  try {
    notification = JSON.parse(rawBody, refusePrototypeKeys);
  } catch {
    throw badData('is not a JSON Cloud Monitoring notification');
  }
  return { parsed: parseCloudMonitoring(notification, 'pubsub'), rawBody };
}
