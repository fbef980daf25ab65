import { z } from 'zod';
import { percentile } from '../../domain/stats.ts';
import { TARGET_NAME } from '../../domain/target.ts';
import { REASONS } from '../../domain/types.ts';
import { LastgoodError } from '../../errors.ts';
import type { HttpDeps } from '../deps.ts';
import { bindRoute, defineRoute } from '../route.ts';
import {
  decisionSchema,
  decisionView,
  errorSchema,
  recordId,
  rollbackSchema,
  rollbackView,
  statusSchema,
  statusView,
} from '../schemas.ts';
import { auditEventSchema, auditEventView } from './audit.ts';
import { notificationSchema, notificationView } from './notifications.ts';

/** A decision's audit events and notifications rarely reach a dozen; this bounds a pathological one. */
const DECISION_EVENTS_READ = 200;

const HOUR_MS = 3_600_000;

export const statusRoute = defineRoute({
  method: 'GET',
  path: '/rollback/status/:id',
  aliases: ['/v1/rollback/status/:id'],
  operationId: 'getRollbackStatus',
  summary: 'One decision with its alert, rollback and timeline',
  description: 'Accepts the `decisionId` or the `alertId` returned when the alert was accepted.',
  tags: ['status'],
  auth: 'viewer',
  params: z.object({ id: recordId }),
  responses: {
    200: { description: 'The decision and everything that followed.', schema: statusSchema },
    400: { description: 'Not an alert or decision id.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
    404: { description: 'No such alert or decision.', schema: errorSchema },
  },
});

export const decisionEventsRoute = defineRoute({
  method: 'GET',
  path: '/v1/rollback/status/:id/events',
  aliases: [],
  operationId: 'getDecisionEvents',
  summary: "One decision's audit entries and the notifications they sent",
  description:
    'Oldest first: the decision, the Google calls its rollback made, acknowledgements and outcomes, and for each ' +
    `notification whether it was delivered, to which channels. At most ${DECISION_EVENTS_READ} of each.`,
  tags: ['status'],
  auth: 'viewer',
  params: z.object({ id: recordId }),
  responses: {
    200: {
      description: 'The audit entries and notifications.',
      schema: z.object({
        decisionId: z.string(),
        audit: z.array(auditEventSchema),
        notifications: z.array(notificationSchema),
      }),
    },
    400: { description: 'Not an alert or decision id.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
    404: { description: 'No such alert or decision.', schema: errorSchema },
  },
});

const cursorSchema = z
  .string()
  .max(200)
  .transform((text, ctx) => {
    const [at, id] = Buffer.from(text, 'base64url').toString('utf8').split('|');
    if (!at || !/^\d{1,15}$/.test(at) || !id || !recordId.safeParse(id).success) {
      ctx.addIssue({ code: 'custom', message: 'not a cursor from a previous page' });
      return z.NEVER;
    }
    return { decidedAt: new Date(Number(at)), id };
  });

function encodeCursor(decidedAt: Date, id: string): string {
  return Buffer.from(`${decidedAt.getTime()}|${id}`, 'utf8').toString('base64url');
}

const recentItemSchema = z.object({
  decision: decisionSchema,
  alert: z
    .object({
      id: z.string(),
      incidentId: z.string(),
      receivedAt: z.string().meta({ format: 'date-time' }),
      source: z.string(),
    })
    .nullable(),
  rollback: rollbackSchema.nullable(),
});

export const recentRoute = defineRoute({
  method: 'GET',
  path: '/rollback/recent',
  aliases: ['/v1/rollback/recent'],
  operationId: 'listRecentDecisions',
  summary: 'Decisions of the last hours, newest first, paginated',
  tags: ['status'],
  auth: 'viewer',
  // Strict: a misspelt filter would otherwise silently fall back to its default.
  query: z.strictObject({
    hours: z.coerce.number().int().min(1).max(720).default(24),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    action: z.enum(['rollback', 'none']).optional(),
    target: z.string().regex(TARGET_NAME, 'not a target name').optional(),
    reason: z.enum(REASONS).optional(),
    cursor: cursorSchema.optional(),
  }),
  responses: {
    200: {
      description: 'One page of decisions; pass `nextCursor` back as `cursor` for the next.',
      schema: z.object({ items: z.array(recentItemSchema), nextCursor: z.string().nullable() }),
    },
    400: { description: 'A query parameter is out of range.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
  },
});

export const metricsRoute = defineRoute({
  method: 'GET',
  path: '/rollback/metrics',
  aliases: ['/v1/rollback/metrics'],
  operationId: 'getRollbackMetrics',
  summary: 'Decision counts, rollback success rate and time to rollback',
  tags: ['status'],
  auth: 'viewer',
  query: z.strictObject({ hours: z.coerce.number().int().min(1).max(720).default(24) }),
  responses: {
    200: {
      description: 'Counts over the window.',
      schema: z.object({
        windowHours: z.number(),
        decisions: z.object({
          total: z.number(),
          byAction: z.record(z.string(), z.number()),
          byReason: z.record(z.string(), z.number()),
        }),
        rollbacks: z.object({
          total: z.number(),
          byState: z.record(z.string(), z.number()),
          successRate: z.number().nullable(),
          timeToRollbackMs: z.object({
            count: z.number(),
            p50: z.number().nullable(),
            p95: z.number().nullable(),
          }),
        }),
      }),
    },
    400: { description: 'A query parameter is out of range.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
  },
});

export function statusRoutes(deps: HttpDeps) {
  return [
    bindRoute(statusRoute, async ({ params }) => {
      const status = await deps.store.getStatus(params.id);
      if (status === null)
        throw new LastgoodError('LASTGOOD_ERR_NOT_FOUND', `No alert or decision ${params.id}`);
      return statusView(status);
    }),
    bindRoute(decisionEventsRoute, async ({ params }) => {
      const status = await deps.store.getStatus(params.id);
      if (status === null)
        throw new LastgoodError('LASTGOOD_ERR_NOT_FOUND', `No alert or decision ${params.id}`);
      const decisionId = status.decision.id;
      const [audit, notifications] = await Promise.all([
        deps.store.decisionAudit(decisionId, DECISION_EVENTS_READ),
        deps.store.decisionNotifications(decisionId, DECISION_EVENTS_READ),
      ]);
      return {
        decisionId,
        audit: audit.map(auditEventView),
        notifications: notifications.map(notificationView),
      };
    }),
    bindRoute(recentRoute, async ({ query }) => {
      const items = await deps.store.listRecent({
        since: new Date(deps.clock.now().getTime() - query.hours * HOUR_MS),
        limit: query.limit,
        action: query.action ?? null,
        target: query.target ?? null,
        reason: query.reason ?? null,
        cursor: query.cursor ?? null,
      });
      const last = items.at(-1);
      return {
        items: items.map((item) => ({
          decision: decisionView(item.decision),
          alert:
            item.alert === null ? null : { ...item.alert, receivedAt: item.alert.receivedAt.toISOString() },
          rollback: rollbackView(item.rollback),
        })),
        nextCursor:
          items.length === query.limit && last
            ? encodeCursor(last.decision.decidedAt, last.decision.id)
            : null,
      };
    }),
    bindRoute(metricsRoute, async ({ query }) => {
      const stats = await deps.store.decisionStats(
        new Date(deps.clock.now().getTime() - query.hours * HOUR_MS),
      );
      const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
      const succeeded = stats.rollbacksByState.succeeded ?? 0;
      const finished =
        succeeded + (stats.rollbacksByState.failed ?? 0) + (stats.rollbacksByState.no_lkg ?? 0);
      return {
        windowHours: query.hours,
        decisions: { total: sum(stats.byAction), byAction: stats.byAction, byReason: stats.byReason },
        rollbacks: {
          total: sum(stats.rollbacksByState),
          byState: stats.rollbacksByState,
          successRate: finished === 0 ? null : succeeded / finished,
          timeToRollbackMs: {
            count: stats.timeToRollbackMs.length,
            p50: percentile(stats.timeToRollbackMs, 0.5),
            p95: percentile(stats.timeToRollbackMs, 0.95),
          },
        },
      };
    }),
  ];
}
