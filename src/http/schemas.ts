import { z } from 'zod';
import type { ChangeTimeSource, Evidence, Stored, TelemetryStatus } from '../domain/evidence.ts';
import {
  EVIDENCE_MODES,
  JUDGEMENT_REASONS,
  type JudgementSummary,
  type MeasuredWindow,
} from '../domain/judgement-policy.ts';
import type { RollbackRecord, TimelineEvent } from '../domain/rollback.ts';
import { REASONS, ROLLBACK_STATES } from '../domain/types.ts';
import { ERROR_CODES } from '../errors.ts';
import type { AlertRecord, DecisionRecord, StatusView } from '../store/store.ts';

/** Every error response: a stable code, a message for people, and structured details where they help. */
export const errorSchema = z
  .object({
    code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES, ...(keyof typeof ERROR_CODES)[]]),
    message: z.string(),
    details: z.unknown().optional(),
  })
  .meta({ id: 'Error' });

const isoTime = z.string().meta({ format: 'date-time' });

export const factorSchema = z.object({
  name: z.string(),
  value: z.union([z.number(), z.string(), z.boolean(), z.null()]),
  effect: z.string(),
});

export const decisionSchema = z
  .object({
    id: z.string(),
    alertId: z.string().nullable(),
    target: z.string().nullable(),
    action: z.enum(['rollback', 'none']),
    reason: z.enum(REASONS),
    confidence: z.number(),
    factors: z.array(factorSchema),
    mode: z.string().nullable(),
    wouldRollback: z.boolean(),
    nextEligibleAt: isoTime.nullable(),
    requestedBy: z.string().nullable(),
    requestedRevision: z.string().nullable(),
    decidedAt: isoTime,
  })
  .meta({ id: 'Decision' });

export const rollbackSchema = z
  .object({
    state: z.enum(ROLLBACK_STATES),
    target: z.string(),
    fromRevision: z.string().nullable(),
    toRevision: z.string().nullable(),
    lkgRule: z.string().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    createdAt: isoTime,
    finishedAt: isoTime.nullable(),
    verification: z
      .enum(['pending', 'healed', 'not_healed'])
      .nullable()
      .meta({
        description:
          'Whether the rollback healed the service: `pending` until the incident closes (`healed`) or `verifyBy` ' +
          'passes (`not_healed`: escalated, and the target needs a person); null unless the rollback succeeded.',
      }),
    verifyBy: isoTime.nullable(),
    verifiedAt: isoTime.nullable(),
  })
  .meta({ id: 'Rollback' });

export const alertSchema = z
  .object({
    id: z.string(),
    source: z.string(),
    incidentId: z.string(),
    state: z.enum(['open', 'closed']),
    isTest: z.boolean(),
    policyName: z.string(),
    conditionName: z.string(),
    observedValue: z.number().nullable(),
    thresholdValue: z.number().nullable(),
    startedAt: isoTime,
    receivedAt: isoTime,
    target: z.string().nullable(),
    acknowledgedBy: z.string().nullable(),
    acknowledgedAt: isoTime.nullable(),
  })
  .meta({ id: 'Alert' });

export const timelineEventSchema = z.object({
  at: isoTime,
  step: z.string(),
  /** Milliseconds since the previous step. */
  sincePreviousMs: z.number().nullable(),
  detail: z.record(z.string(), z.unknown()),
});

const TELEMETRY_STATUSES = ['ok', 'unavailable', 'no_data', 'off'] as const satisfies TelemetryStatus[];
const CHANGE_SOURCES = [
  'monitoring',
  'traffic_records',
  'create_time',
  'deploy_end_time',
] as const satisfies ChangeTimeSource[];
const WINDOW_ROLES = [
  'suspect',
  'baseline',
  'suspect_before_onset',
] as const satisfies MeasuredWindow['role'][];

export const judgementSummarySchema = z
  .object({
    evidenceMode: z.enum(EVIDENCE_MODES),
    telemetry: z.object({
      status: z.enum(TELEMETRY_STATUSES).meta({
        description:
          'Whether Cloud Monitoring was read: `unavailable` (an error), `no_data` (empty) or `off`.',
      }),
      message: z.string().nullable(),
    }),
    suspect: z.string().nullable().meta({ description: 'The revision (or release) suspected of the burn.' }),
    baseline: z.string().nullable().meta({ description: 'What the suspect was compared with.' }),
    split: z
      .boolean()
      .meta({ description: 'True when the baseline served beside the suspect (a traffic split).' }),
    rollbackTo: z.string().nullable(),
    change: z
      .object({ at: isoTime, source: z.enum(CHANGE_SOURCES) })
      .nullable()
      .meta({ description: 'When the suspect started serving, and what that time rests on.' }),
    startedAt: isoTime.meta({ description: 'When the alert condition began to hold.' }),
    earliestErrorsAt: isoTime.meta({
      description: 'The earliest the errors can have begun: startedAt - lookback - condition duration.',
    }),
    onset: isoTime
      .nullable()
      .meta({ description: "The minute the service's error ratio rose, from the series." }),
    windows: z
      .array(
        z.object({
          revision: z.string(),
          role: z.enum(WINDOW_ROLES),
          from: isoTime,
          to: isoTime,
          requests: z.number(),
          errors: z.number(),
          ratio: z.number().nullable().meta({ description: 'errors / requests; null below `minRequests`.' }),
        }),
      )
      .meta({ description: 'The windows compared: per revision, its requests, 5xx and error ratio.' }),
    correlated: z
      .array(
        z.object({
          target: z.string(),
          startedAt: isoTime,
          changedRecently: z.union([z.boolean(), z.literal('unknown')]),
        }),
      )
      .meta({ description: 'Other targets alerting within the correlation window.' }),
  })
  .meta({ id: 'JudgementSummary' }) satisfies z.ZodType<Stored<JudgementSummary>>;

export const judgementSchema = z
  .object({
    judgedAt: isoTime,
    verdict: z.enum(['rollback', 'hold']),
    reason: z.enum(JUDGEMENT_REASONS).meta({
      description:
        '`ROLLBACK`, or why lastgood held (docs/judgement.md); a held rollback has it as its error code.',
    }),
    factors: z.array(factorSchema),
    summary: judgementSummarySchema,
    series: z
      .record(z.string(), z.array(z.tuple([isoTime, z.number(), z.number()])))
      .nullable()
      .meta({
        description:
          'Cloud Monitoring requests per revision per minute, oldest first, as `[minuteStart, requests, errors]` ' +
          '(errors: 5xx); null when no series was read.',
      }),
  })
  .meta({
    id: 'Judgement',
    description:
      "The evidence an automatic rollback was judged on, from the rollback's `judged` step, and the verdict.",
  });

export const statusSchema = z
  .object({
    decision: decisionSchema,
    alert: alertSchema.nullable(),
    rollback: rollbackSchema.nullable(),
    judgement: judgementSchema
      .nullable()
      .meta({ description: 'Null when nothing was judged: no rollback yet, a manual one, or evidence off.' }),
    timeline: z.array(timelineEventSchema),
  })
  .meta({ id: 'Status' });

function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

export function decisionView(decision: DecisionRecord): z.infer<typeof decisionSchema> {
  return {
    id: decision.id,
    alertId: decision.alertId,
    target: decision.targetName,
    action: decision.action,
    reason: decision.reason,
    confidence: decision.confidence,
    factors: decision.factors,
    mode: decision.mode,
    wouldRollback: decision.wouldRollback,
    nextEligibleAt: iso(decision.nextEligibleAt),
    requestedBy: decision.requestedBy,
    requestedRevision: decision.requestedRevision,
    decidedAt: decision.decidedAt.toISOString(),
  };
}

export function rollbackView(rollback: RollbackRecord | null): z.infer<typeof rollbackSchema> | null {
  if (rollback === null) return null;
  return {
    state: rollback.state,
    target: rollback.targetName,
    fromRevision: rollback.fromRevision,
    toRevision: rollback.toRevision,
    lkgRule: rollback.lkgRule,
    error:
      rollback.errorCode === null ? null : { code: rollback.errorCode, message: rollback.errorMessage ?? '' },
    createdAt: rollback.createdAt.toISOString(),
    finishedAt: iso(rollback.finishedAt),
    verification: rollback.verification,
    verifyBy: iso(rollback.verifyBy),
    verifiedAt: iso(rollback.verifiedAt),
  };
}

export function alertView(alert: AlertRecord): z.infer<typeof alertSchema> {
  return {
    id: alert.id,
    source: alert.source,
    incidentId: alert.signal.incidentId,
    state: alert.signal.state,
    isTest: alert.signal.isTest,
    policyName: alert.signal.policyName,
    conditionName: alert.signal.conditionName,
    observedValue: alert.signal.observedValue,
    thresholdValue: alert.signal.thresholdValue,
    startedAt: alert.signal.startedAt.toISOString(),
    receivedAt: alert.receivedAt.toISOString(),
    target: alert.targetName,
    acknowledgedBy: alert.acknowledgedBy,
    acknowledgedAt: iso(alert.acknowledgedAt),
  };
}

function timelineView(events: TimelineEvent[]): z.infer<typeof timelineEventSchema>[] {
  return events.map((event, index) => ({
    at: event.at.toISOString(),
    step: event.step,
    sincePreviousMs: index === 0 ? null : event.at.getTime() - events[index - 1]!.at.getTime(),
    detail: event.detail,
  }));
}

/** The `judged` step's detail as it reads back from the store. */
interface StoredJudged {
  verdict: unknown;
  reason: unknown;
  factors: unknown;
  summary: unknown;
  evidence?: Stored<Evidence>;
}

/**
 * The judgement behind a rollback, from its last `judged` step; null when there is none, or it does not read as one
 * (a step from another version of lastgood must not fail the whole status).
 */
export function judgementView(timeline: TimelineEvent[]): z.infer<typeof judgementSchema> | null {
  const step = timeline.findLast((event) => event.step === 'judged');
  if (step === undefined) return null;
  // Through JSON, as the store returns it: a step written in this process may still hold Dates.
  const detail = JSON.parse(JSON.stringify(step.detail)) as StoredJudged;
  const telemetry = detail.evidence?.telemetry;
  const parsed = judgementSchema.safeParse({
    judgedAt: step.at.toISOString(),
    verdict: detail.verdict,
    reason: detail.reason,
    factors: detail.factors,
    summary: detail.summary,
    series:
      telemetry?.status === 'ok'
        ? Object.fromEntries(
            Object.entries(telemetry.series).map(([revision, minutes]) => [
              revision,
              minutes.map((minute) => [minute.minuteStart, minute.total, minute.errors]),
            ]),
          )
        : null,
  });
  return parsed.success ? parsed.data : null;
}

export function statusView(status: StatusView): z.infer<typeof statusSchema> {
  return {
    decision: decisionView(status.decision),
    alert: status.alert === null ? null : alertView(status.alert),
    rollback: rollbackView(status.rollback),
    judgement: judgementView(status.timeline),
    timeline: timelineView(status.timeline),
  };
}

/** The `alt_`/`dec_` ids lastgood hands out; anything else is refused before the store is touched. */
export const recordId = z.string().regex(/^(alt|dec)_[0-9a-z]{26}$/, 'expected an alt_... or dec_... id');
