import { z } from 'zod';
import { TARGET_NAME, type TargetConfig } from '../../domain/target.ts';
import { LastgoodError } from '../../errors.ts';
import { intakeManualRollback } from '../../ingest/intake.ts';
import type { HttpDeps } from '../deps.ts';
import { bindDecisionToRequestLog } from '../register.ts';
import { bindRoute, defineRoute } from '../route.ts';
import { alertSchema, alertView, errorSchema, recordId } from '../schemas.ts';

/** Cloud Run revision and Cloud Deploy release names share this shape. */
export const RESOURCE_ID = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const acknowledgeRoute = defineRoute({
  method: 'POST',
  path: '/alerts/:id/acknowledge',
  aliases: ['/v1/alerts/:id/acknowledge'],
  operationId: 'acknowledgeAlert',
  summary: 'Mark an alert as seen by a person',
  description: 'Idempotent: acknowledging again keeps the first acknowledgement.',
  tags: ['operator'],
  auth: 'operator',
  params: z.object({ id: recordId.refine((id) => id.startsWith('alt_'), 'expected an alt_... alert id') }),
  responses: {
    200: { description: 'The alert, acknowledged.', schema: alertSchema },
    400: { description: 'Not an alert id.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
    403: { description: 'The token is only a viewer.', schema: errorSchema },
    404: { description: 'No such alert.', schema: errorSchema },
  },
});

export const manualRollbackAcceptedSchema = z
  .object({
    decisionId: z.string(),
    target: z.string(),
    requestedRevision: z.string().nullable(),
    requestedBy: z.string(),
    action: z.literal('rollback'),
    reason: z.literal('MANUAL'),
  })
  .meta({ id: 'ManualRollbackAccepted' });

export const manualRollbackRoute = defineRoute({
  method: 'POST',
  path: '/rollback/manual/:service',
  aliases: ['/v1/rollback/manual/:service'],
  operationId: 'requestManualRollback',
  summary: 'Roll a target back now, to a named revision or to its last known good one',
  description:
    '`:service` is a target name from the policy file (or the Cloud Run service it protects). Bypasses confidence, ' +
    'thresholds, rate limit and cooldown; never the kill switch, `off` mode or a rollback already in progress.',
  tags: ['operator'],
  auth: 'operator',
  params: z.object({ service: z.string().regex(TARGET_NAME, 'not a target name') }),
  // Strict: an unknown parameter is a typo (or the wrong client), never something to ignore on a rollback.
  query: z.strictObject({
    target_revision: z.string().regex(RESOURCE_ID, 'not a revision or release name').optional(),
  }),
  responses: {
    202: {
      description: 'Recorded; the rollback runs in the background.',
      schema: manualRollbackAcceptedSchema,
    },
    400: { description: 'Bad target or revision name.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
    403: { description: 'The token is only a viewer.', schema: errorSchema },
    404: { description: 'No configured target of that name.', schema: errorSchema },
    409: {
      description: 'Refused (kill switch, mode off, rollback in progress) or the revision is unusable.',
      schema: errorSchema,
    },
    502: { description: 'Google could not be asked whether the revision is usable.', schema: errorSchema },
  },
});

export const unfreezeRoute = defineRoute({
  method: 'POST',
  path: '/v1/targets/:name/unfreeze',
  aliases: [],
  operationId: 'unfreezeTarget',
  summary: 'Resume a Cloud Deploy pipeline that lastgood suspended after a rollback',
  description:
    'After a successful Cloud Deploy rollback lastgood suspends the pipeline (policy `freezeAfterRollback`) so ' +
    'the bad release is not promoted again. Call this once the fix is ready to ship. lastgood lifts only a ' +
    'suspension it made itself.',
  tags: ['operator'],
  auth: 'operator',
  params: z.object({ name: z.string().regex(TARGET_NAME, 'not a target name') }),
  responses: {
    200: {
      description: 'The pipeline is resumed, or was not suspended.',
      schema: z.object({
        target: z.string(),
        pipeline: z.string(),
        suspended: z.literal(false),
        unfrozenBy: z.string(),
      }),
    },
    400: { description: 'Not a target name, or not a Cloud Deploy target.', schema: errorSchema },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
    403: { description: 'The token is only a viewer.', schema: errorSchema },
    404: { description: 'No configured target of that name.', schema: errorSchema },
    409: {
      description:
        'Someone other than lastgood suspended the pipeline (`LASTGOOD_ERR_FREEZE_NOT_OURS`); they must resume it.',
      schema: errorSchema,
    },
    502: { description: 'Cloud Deploy refused or failed.', schema: errorSchema },
    503: { description: 'This process has no Cloud Deploy client.', schema: errorSchema },
  },
});

function findTarget(targets: ReadonlyMap<string, TargetConfig>, name: string): TargetConfig | null {
  return (
    targets.get(name) ??
    [...targets.values()].find((target) => target.kind === 'cloud-run' && target.service === name) ??
    null
  );
}

export function operatorRoutes(deps: HttpDeps) {
  return [
    bindRoute(acknowledgeRoute, async ({ params, principal }) => {
      const alert = await deps.store.acknowledgeAlert(params.id, principal!.name, deps.clock.now());
      if (alert === null) throw new LastgoodError('LASTGOOD_ERR_NOT_FOUND', `No alert ${params.id}`);
      return alertView(alert);
    }),
    bindRoute(manualRollbackRoute, async ({ params, query, principal, reply }) => {
      const target = findTarget(deps.targets, params.service);
      if (target === null) {
        throw new LastgoodError('LASTGOOD_ERR_UNKNOWN_TARGET', `No configured target "${params.service}"`);
      }
      if (query.target_revision !== undefined)
        await deps.checkRequestedRevision(target, query.target_revision);
      const outcome = await intakeManualRollback(deps, {
        target,
        requestedBy: principal!.name,
        requestedRevision: query.target_revision ?? null,
      });
      deps.metrics.decisionRecorded(outcome.decision);
      bindDecisionToRequestLog(reply, outcome.decision);
      if (outcome.decision.action !== 'rollback') {
        throw new LastgoodError(
          'LASTGOOD_ERR_ROLLBACK_REFUSED',
          `Manual rollback refused: ${outcome.decision.reason}`,
          {
            details: { decisionId: outcome.decision.id, reason: outcome.decision.reason },
          },
        );
      }
      reply.code(202);
      return {
        decisionId: outcome.decision.id,
        target: target.name,
        requestedRevision: outcome.decision.requestedRevision,
        requestedBy: principal!.name,
        action: 'rollback' as const,
        reason: 'MANUAL' as const,
      };
    }),
    bindRoute(unfreezeRoute, async ({ params, principal, request }) => {
      const target = deps.targets.get(params.name);
      if (target === undefined) {
        throw new LastgoodError('LASTGOOD_ERR_UNKNOWN_TARGET', `No configured target "${params.name}"`);
      }
      if (target.kind !== 'cloud-deploy') {
        throw new LastgoodError(
          'LASTGOOD_ERR_VALIDATION',
          `Target "${target.name}" is not a Cloud Deploy target`,
        );
      }
      // Nothing to lift is no change to audit: the answer says the pipeline is not suspended, which is true.
      if (await deps.unfreezeTarget(target)) {
        request.log.info({ target: target.name, by: principal!.name }, 'pipeline unfrozen');
        await deps.store.recordEvent({
          type: 'google_mutation',
          severity: 'info',
          at: deps.clock.now(),
          target: target.name,
          decisionId: null,
          actor: principal!.name,
          data: { step: 'pipeline_unfrozen', method: 'UpdateDeliveryPipeline', pipeline: target.pipeline },
        });
      }
      return {
        target: target.name,
        pipeline: target.pipeline,
        suspended: false as const,
        unfrozenBy: principal!.name,
      };
    }),
  ];
}
