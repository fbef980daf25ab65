import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { MAX_WEBHOOK_TOKEN_LENGTH } from '../../auth/token-strength.ts';
import { LastgoodError } from '../../errors.ts';
import {
  cloudMonitoringPayloadSchema,
  type ParsedAlert,
  signalFromCloudMonitoring,
} from '../../ingest/cloud-monitoring.ts';
import { intakeAlert } from '../../ingest/intake.ts';
import type { HttpDeps } from '../deps.ts';
import { bindDecisionToRequestLog } from '../register.ts';
import { bindRoute, defineRoute } from '../route.ts';
import { errorSchema } from '../schemas.ts';

export const alertAcceptedSchema = z
  .object({
    alertId: z.string(),
    decisionId: z.string(),
    duplicate: z.boolean(),
    action: z.enum(['rollback', 'none']),
    reason: z.string(),
  })
  .meta({ id: 'AlertAccepted' });

/** What every intake route answers, whatever the source of the alert. */
export const INTAKE_RESPONSES = {
  200: {
    description: 'A redelivery of an alert already stored; the original ids.',
    schema: alertAcceptedSchema,
  },
  202: {
    description: 'Stored and decided; any rollback runs in the background.',
    schema: alertAcceptedSchema,
  },
  413: { description: 'Body over 256 KiB.', schema: errorSchema },
  415: { description: 'Not application/json.', schema: errorSchema },
} as const;

export const webhookRoute = defineRoute({
  method: 'POST',
  path: '/webhook/error-budget-alert',
  aliases: [],
  operationId: 'receiveCloudMonitoringAlert',
  summary: 'Receive a Cloud Monitoring alert (webhook schema 1.2)',
  description:
    'Authenticate with `?auth_token=` (webhook_tokenauth channel) or HTTP Basic (webhook_basicauth channel; the ' +
    'password is the token). The alert and its decision are committed before the response is sent.',
  tags: ['intake'],
  auth: 'webhook',
  query: z.object({ auth_token: z.string().max(MAX_WEBHOOK_TOKEN_LENGTH).optional() }),
  body: cloudMonitoringPayloadSchema,
  responses: {
    ...INTAKE_RESPONSES,
    400: {
      description:
        'Not JSON, or not a Cloud Monitoring notification (the message names the first bad field and what was ' +
        'expected; `details` lists every issue), or schema version 1.0/1.1 (`LASTGOOD_ERR_UNSUPPORTED_SCHEMA`).',
      schema: errorSchema,
    },
    401: {
      description: 'Missing or wrong token (with a Basic challenge); the connection is closed.',
      schema: errorSchema,
    },
    503: {
      description:
        'Shutting down, or the store cannot be written just now; retry after `Retry-After` seconds (another ' +
        'replica, or the store once it is back).',
      schema: errorSchema,
    },
  },
});

/**
 * Stores and decides a parsed alert and answers as every intake route does: 202 when new, 200 with the original
 * ids for a redelivery.
 */
export async function acceptAlert(deps: HttpDeps, parsed: ParsedAlert, rawBody: string, reply: FastifyReply) {
  if (!deps.accepting()) {
    // Shutting down: a 503 makes Cloud Monitoring's retry (or Pub/Sub's redelivery) reach another replica.
    throw new LastgoodError('LASTGOOD_ERR_UNAVAILABLE', 'lastgood is shutting down');
  }
  const outcome = await intakeAlert(deps, parsed, rawBody);
  deps.metrics.alertReceived(parsed.signal.source, outcome.duplicate ? 'duplicate' : 'accepted');
  bindDecisionToRequestLog(reply, outcome.decision);
  if (!outcome.duplicate) deps.metrics.decisionRecorded(outcome.decision);
  reply.code(outcome.duplicate ? 200 : 202);
  return {
    alertId: outcome.alert?.id ?? '',
    decisionId: outcome.decision.id,
    duplicate: outcome.duplicate,
    action: outcome.decision.action,
    reason: outcome.decision.reason,
  };
}

export function webhookRoutes(deps: HttpDeps) {
  return [
    bindRoute(webhookRoute, async ({ body, request, reply }) =>
      acceptAlert(
        deps,
        signalFromCloudMonitoring(body, 'cloud-monitoring'),
        request.rawBody ?? JSON.stringify(body),
        reply,
      ),
    ),
  ];
}
