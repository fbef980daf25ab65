import { z } from 'zod';
import { verifyAuditChain } from '../../audit/chain.ts';
import { EVENT_TYPES, type RecordedEvent } from '../../events/event.ts';
import type { HttpDeps } from '../deps.ts';
import { bindRoute, defineRoute } from '../route.ts';
import { errorSchema } from '../schemas.ts';

const hash = z.string().meta({ description: 'SHA-256, hex' });

export const auditEventSchema = z
  .object({
    seq: z.number().int(),
    at: z.string().meta({ format: 'date-time' }),
    type: z.enum(EVENT_TYPES),
    severity: z.enum(['info', 'warning', 'critical']),
    target: z.string().nullable(),
    decisionId: z.string().nullable(),
    actor: z.string().meta({ description: "An operator token's name, or `lastgood` when lastgood acted" }),
    data: z.record(z.string(), z.unknown()),
    prevHash: hash,
    hash,
  })
  .meta({ id: 'AuditEvent' });

/** The audit event as the API shows it. */
export function auditEventView(event: RecordedEvent): z.infer<typeof auditEventSchema> {
  return {
    seq: event.seq,
    at: event.at.toISOString(),
    type: event.type,
    severity: event.severity,
    target: event.target,
    decisionId: event.decisionId,
    actor: event.actor,
    data: event.data,
    prevHash: event.prevHash,
    hash: event.hash,
  };
}

export const auditListRoute = defineRoute({
  method: 'GET',
  path: '/v1/audit',
  aliases: [],
  operationId: 'listAuditLog',
  summary: 'The audit log, newest first, paginated',
  description:
    'Every decision, manual action, kill switch and mode change and Google mutation, each row carrying the SHA-256 ' +
    'of the row before it.',
  tags: ['audit'],
  auth: 'viewer',
  query: z.strictObject({
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z
      .string()
      .regex(/^[1-9]\d{0,14}$/, 'not a cursor from a previous page')
      .transform(Number)
      .optional(),
  }),
  responses: {
    200: {
      description: 'One page; pass `nextCursor` back as `cursor` for older rows.',
      schema: z.object({ items: z.array(auditEventSchema), nextCursor: z.string().nullable() }),
    },
    400: { description: 'A query parameter is out of range.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
  },
});

export const auditVerifyRoute = defineRoute({
  method: 'GET',
  path: '/v1/audit/verify',
  aliases: [],
  operationId: 'verifyAuditLog',
  summary: "Recompute the audit log's hash chain and report the first broken row",
  description:
    'Reads every row from the first, recomputes each hash from its content and the previous row, and compares the ' +
    'end of the chain with the head lastgood keeps. `lastgood audit-verify` calls this.',
  tags: ['audit'],
  auth: 'viewer',
  responses: {
    200: {
      description:
        '`ok` false names the first row that does not match (also answered 200: the check itself worked).',
      schema: z
        .object({
          ok: z.boolean(),
          rows: z.number().int(),
          firstBrokenRow: z
            .object({
              seq: z.number().int(),
              expectedHash: hash,
              storedHash: hash.nullable().meta({ description: 'null when the row is missing' }),
              problem: z.enum(['content', 'link', 'missing', 'head']),
            })
            .optional(),
        })
        .meta({ id: 'AuditVerification' }),
    },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
  },
});

export function auditRoutes(deps: HttpDeps) {
  return [
    bindRoute(auditListRoute, async ({ query }) => {
      const events = await deps.store.listAudit(query.cursor ?? null, query.limit);
      const last = events.at(-1);
      return {
        items: events.map(auditEventView),
        nextCursor: events.length === query.limit && last && last.seq > 1 ? String(last.seq) : null,
      };
    }),
    bindRoute(auditVerifyRoute, async () =>
      verifyAuditChain({
        rows: (afterSeq, limit) => deps.store.auditRows(afterSeq, limit),
        head: () => deps.store.auditHead(),
      }),
    ),
  ];
}
