import { z } from 'zod';
import type { TargetConfig } from '../../domain/target.ts';
import { TARGET_STATES, targetState } from '../../domain/target-state.ts';
import { REASONS, ROLLBACK_STATES } from '../../domain/types.ts';
import type { RecordedEvent } from '../../events/event.ts';
import type { RecentItem } from '../../store/store.ts';
import type { HttpDeps } from '../deps.ts';
import { bindRoute, defineRoute } from '../route.ts';
import { errorSchema } from '../schemas.ts';
import { controlsView, targetControlSchema } from './controls.ts';

/** How far back the overview looks for a target's last decision and rollback, and how many of each it reads. */
const LOOKBACK_MS = 30 * 86_400_000;
const DECISIONS_READ = 500;
const AUDIT_READ = 500;

const isoTime = z.string().meta({ format: 'date-time' });

const targetOverviewSchema = z
  .object({
    name: z.string(),
    kind: z.enum(['cloud-run', 'cloud-deploy']),
    project: z.string(),
    region: z.string(),
    service: z.string().nullable(),
    pipeline: z.string().nullable().meta({ description: 'Cloud Deploy only' }),
    mode: targetControlSchema.shape.mode,
    enabled: z.boolean().meta({ description: 'The kill switch, the same for every target' }),
    blockedBy: targetControlSchema.shape.blockedBy,
    frozen: z.boolean().meta({ description: 'Its Cloud Deploy pipeline was suspended after a rollback' }),
    state: z.enum(TARGET_STATES).meta({
      description: 'The state that matters most: rolling back, off, waiting for a person, frozen, or healthy',
    }),
    lastDecision: z
      .object({
        id: z.string(),
        action: z.enum(['rollback', 'none']),
        reason: z.enum(REASONS),
        decidedAt: isoTime,
      })
      .nullable(),
    lastRollback: z
      .object({
        decisionId: z.string(),
        state: z.enum(ROLLBACK_STATES),
        fromRevision: z.string().nullable(),
        toRevision: z.string().nullable(),
        createdAt: isoTime,
        finishedAt: isoTime.nullable(),
      })
      .nullable(),
    nextEligibleAt: isoTime
      .nullable()
      .meta({ description: 'When an automatic rollback is next allowed (cooldown, rate limit); null: now' }),
  })
  .meta({ id: 'TargetOverview' });

export const listTargetsRoute = defineRoute({
  method: 'GET',
  path: '/v1/targets',
  aliases: [],
  operationId: 'listTargets',
  summary: 'Every configured target with its state, last decision, last rollback and next eligible time',
  description:
    `What the status page's Targets page shows. The last decision and rollback are looked for among the ` +
    `${DECISIONS_READ} newest decisions of the last 30 days, and a pipeline's freeze among the ${AUDIT_READ} newest ` +
    'audit events.',
  tags: ['status'],
  auth: 'viewer',
  responses: {
    200: {
      description: 'Every target, in policy file order.',
      schema: z.object({ enabled: z.boolean(), targets: z.array(targetOverviewSchema) }),
    },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
  },
});

/** Whether the newest freeze or unfreeze the audit log holds for the target froze its pipeline. */
function isFrozen(target: TargetConfig, events: readonly RecordedEvent[]): boolean {
  if (target.kind !== 'cloud-deploy') return false;
  const newest = events.find(
    (event) =>
      event.type === 'google_mutation' &&
      event.target === target.name &&
      (event.data.step === 'pipeline_frozen' || event.data.step === 'pipeline_unfrozen'),
  );
  return newest?.data.step === 'pipeline_frozen';
}

/** The later of a refusal's stated next eligible time and the cooldown after the last rollback, if still ahead. */
function nextEligible(target: TargetConfig, decisions: readonly RecentItem[], now: Date): string | null {
  const times = [decisions[0]?.decision.nextEligibleAt?.getTime() ?? 0];
  const rolledBack = decisions.find((item) => item.rollback !== null);
  if (rolledBack !== undefined)
    times.push(rolledBack.decision.decidedAt.getTime() + target.policy.cooldownMs);
  const latest = Math.max(...times);
  return latest > now.getTime() ? new Date(latest).toISOString() : null;
}

export function targetRoutes(deps: HttpDeps) {
  return [
    bindRoute(listTargetsRoute, async () => {
      const now = deps.clock.now();
      const [controls, recent, audit] = await Promise.all([
        controlsView(deps),
        deps.store.listRecent({
          since: new Date(now.getTime() - LOOKBACK_MS),
          limit: DECISIONS_READ,
          action: null,
          cursor: null,
        }),
        deps.store.listAudit(null, AUDIT_READ),
      ]);
      const targets = [...deps.targets.values()].map((target, index) => {
        const control = controls.targets[index]!;
        const decisions = recent.filter((item) => item.decision.targetName === target.name);
        const last = decisions[0]?.decision ?? null;
        const rolledBack = decisions.find((item) => item.rollback !== null);
        const rollback = rolledBack?.rollback ?? null;
        const frozen = isFrozen(target, audit);
        return {
          name: target.name,
          kind: target.kind,
          project: target.project,
          region: target.region,
          service: target.service,
          pipeline: target.kind === 'cloud-deploy' ? target.pipeline : null,
          mode: control.mode,
          enabled: controls.enabled,
          blockedBy: control.blockedBy,
          frozen,
          state: targetState({
            enabled: controls.enabled,
            mode: control.mode,
            lastRollback: rollback?.state ?? null,
            blocked: control.blockedBy !== null,
            frozen,
          }),
          lastDecision:
            last === null
              ? null
              : {
                  id: last.id,
                  action: last.action,
                  reason: last.reason,
                  decidedAt: last.decidedAt.toISOString(),
                },
          lastRollback:
            rolledBack === undefined || rollback === null
              ? null
              : {
                  decisionId: rolledBack.decision.id,
                  state: rollback.state,
                  fromRevision: rollback.fromRevision,
                  toRevision: rollback.toRevision,
                  createdAt: rollback.createdAt.toISOString(),
                  finishedAt: rollback.finishedAt?.toISOString() ?? null,
                },
          nextEligibleAt: nextEligible(target, decisions, now),
        };
      });
      return { enabled: controls.enabled, targets };
    }),
  ];
}
