import { z } from 'zod';
import { LastgoodError } from '../../errors.ts';
import type { OutboxItem } from '../../store/store.ts';
import type { HttpDeps } from '../deps.ts';
import { bindRoute, defineRoute } from '../route.ts';
import { errorSchema } from '../schemas.ts';
import { auditEventSchema, auditEventView } from './audit.ts';

const NOTIFICATION_ID = /^obx_[0-9a-z]{26}$/;
const notificationId = z.string().regex(NOTIFICATION_ID, 'expected an obx_... notification id');
const isoTime = z.string().meta({ format: 'date-time' });

export const notificationSchema = z
  .object({
    id: z.string(),
    state: z.enum(['pending', 'delivered', 'dead']),
    attempts: z.number().int(),
    deliveredTo: z
      .array(z.string())
      .meta({ description: 'Channels that took it; a retry sends to the others' }),
    lastError: z
      .string()
      .nullable()
      .meta({ description: 'Per channel, why the last attempt failed, e.g. `slack: HTTP 404`' }),
    nextAttemptAt: isoTime,
    createdAt: isoTime,
    updatedAt: isoTime,
    event: auditEventSchema,
  })
  .meta({ id: 'Notification' });

/** A notification as the API shows it. */
export function notificationView(item: OutboxItem): z.infer<typeof notificationSchema> {
  return {
    id: item.id,
    state: item.state,
    attempts: item.attempts,
    deliveredTo: item.deliveredTo,
    lastError: item.lastError,
    nextAttemptAt: item.nextAttemptAt.toISOString(),
    createdAt: item.createdAt.toISOString(),
    updatedAt: item.updatedAt.toISOString(),
    event: auditEventView(item.event),
  };
}

export const deadLettersRoute = defineRoute({
  method: 'GET',
  path: '/v1/notifications/dead-letters',
  aliases: [],
  operationId: 'listDeadLetters',
  summary: 'Notifications lastgood gave up delivering, newest first',
  description:
    'A notification is dead-lettered after `LASTGOOD_NOTIFY_MAX_ATTEMPTS` attempts, or at once when a receiver ' +
    'refuses the request itself (a 4xx other than 408 and 429). `lastError` says which channel failed and why.',
  tags: ['notifications'],
  auth: 'viewer',
  query: z.strictObject({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: notificationId.optional(),
  }),
  responses: {
    200: {
      description: 'One page; pass `nextCursor` back as `cursor` for older ones.',
      schema: z.object({ items: z.array(notificationSchema), nextCursor: z.string().nullable() }),
    },
    400: { description: 'A query parameter is out of range.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
  },
});

export const retryNotificationRoute = defineRoute({
  method: 'POST',
  path: '/v1/notifications/:id/retry',
  aliases: [],
  operationId: 'retryNotification',
  summary: 'Send a dead-lettered notification again',
  description:
    'Puts it back in the outbox with a fresh count of attempts; channels that already took it are not sent it again. ' +
    'Audited with the token name.',
  tags: ['notifications'],
  auth: 'operator',
  params: z.object({ id: notificationId }),
  responses: {
    200: { description: 'Queued again.', schema: notificationSchema },
    400: { description: 'Not a notification id.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
    403: { description: 'The token is only a viewer.', schema: errorSchema },
    404: {
      description: 'No dead letter with that id (it may be delivered or still retrying).',
      schema: errorSchema,
    },
  },
});

export function notificationRoutes(deps: HttpDeps) {
  return [
    bindRoute(deadLettersRoute, async ({ query }) => {
      const items = await deps.store.listDeadLetters(query.cursor ?? null, query.limit);
      const last = items.at(-1);
      return {
        items: items.map(notificationView),
        nextCursor: items.length === query.limit && last ? last.id : null,
      };
    }),
    bindRoute(retryNotificationRoute, async ({ params, principal }) => {
      const item = await deps.store.retryNotification(params.id, principal!.name, deps.clock.now());
      if (item === null) throw new LastgoodError('LASTGOOD_ERR_NOT_FOUND', `No dead letter ${params.id}`);
      deps.notificationQueued();
      return notificationView(item);
    }),
  ];
}
