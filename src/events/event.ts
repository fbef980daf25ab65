import type { RollbackErrorCode, RollbackOutcome, RollbackRecord } from '../domain/rollback.ts';
import type { Mode, Reason } from '../domain/types.ts';

/** How loud an event is: `critical` pages (PagerDuty), the rest only informs. */
export type Severity = 'info' | 'warning' | 'critical';

/**
 * Everything lastgood records as having happened. Every event goes to the audit log; those `isNotifiable` says so
 * also go to the notification outbox, in the same transaction as the state change they describe.
 */
export const EVENT_TYPES = [
  'decision',
  'rollback_succeeded',
  'rollback_failed',
  'rollback_no_lkg',
  'rollback_skipped',
  'rollback_held',
  'rollback_healed',
  'rollback_not_healed',
  'google_mutation',
  'alert_acknowledged',
  'target_resumed',
  'kill_switch_changed',
  'mode_changed',
  'notification_retried',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The name events carry when lastgood itself acted, rather than a person's token. */
export const SYSTEM_ACTOR = 'lastgood';

/** One thing that happened, as the audit log and the notification channels see it. `data` is plain JSON. */
export interface LastgoodEvent {
  type: EventType;
  severity: Severity;
  at: Date;
  target: string | null;
  decisionId: string | null;
  /** Who did it: an operator token's name, or `lastgood`. */
  actor: string;
  data: Record<string, unknown>;
}

/** An event with its place in the audit chain, as stored. */
export interface RecordedEvent extends LastgoodEvent {
  seq: number;
  prevHash: string;
  hash: string;
}

/** Refusals worth telling people about: lastgood wanted to act and a limit (or a block) held it back. */
const NOTIFIED_REFUSALS: ReadonlySet<Reason> = new Set(['RATE_LIMITED', 'COOLDOWN', 'NEEDS_PERSON']);
const ROLLBACK_STARTS: ReadonlySet<Reason> = new Set(['ROLLBACK', 'MANUAL']);
/** Audited only: nobody needs a message for them, and notifying a notification retry would loop. */
const AUDIT_ONLY: ReadonlySet<EventType> = new Set([
  'google_mutation',
  'alert_acknowledged',
  'notification_retried',
]);

/** Whether an event also goes to the notification outbox. */
export function isNotifiable(event: LastgoodEvent): boolean {
  if (event.type === 'decision') {
    const reason = event.data.reason as Reason;
    return (ROLLBACK_STARTS.has(reason) && event.data.action === 'rollback') || NOTIFIED_REFUSALS.has(reason);
  }
  return !AUDIT_ONLY.has(event.type);
}

/** Refusals that repeat, word for word, for every alert until the time they name. */
const COALESCED_REFUSALS: ReadonlySet<Reason> = new Set(['RATE_LIMITED', 'COOLDOWN']);

/**
 * What makes a notification a repeat of one already queued, which is then not queued again (its audit row still
 * is): during a flood, every alert for a target in cooldown is refused for the same reason until the same time,
 * and one message says all there is to say. Null for a notification that is always sent.
 */
export function notificationKey(event: LastgoodEvent): string | null {
  // A hold is told once per incident: later alerts of the incident are judged again, and held again in silence.
  if (event.type === 'rollback_held') return `${event.target}:held:${String(event.data.incidentId)}`;
  if (event.type !== 'decision' || !COALESCED_REFUSALS.has(event.data.reason as Reason)) return null;
  return `${event.target}:${String(event.data.reason)}:${String(event.data.nextEligibleAt)}`;
}

/** What a decision event records: enough to explain it without the decision row. */
export interface DecisionFacts {
  id: string;
  targetName: string | null;
  action: 'rollback' | 'none';
  reason: Reason;
  confidence: number;
  factors: unknown[];
  mode: Mode | null;
  requestedBy: string | null;
  requestedRevision: string | null;
  nextEligibleAt: Date | null;
  decidedAt: Date;
  alertId: string | null;
  incidentId: string | null;
}

/** The event every decision appends. A manual request's actor is the person who made it. */
export function decisionEvent(decision: DecisionFacts): LastgoodEvent {
  return {
    type: 'decision',
    severity: decision.reason === 'NEEDS_PERSON' ? 'warning' : 'info',
    at: decision.decidedAt,
    target: decision.targetName,
    decisionId: decision.id,
    actor: decision.requestedBy ?? SYSTEM_ACTOR,
    data: {
      action: decision.action,
      reason: decision.reason,
      confidence: decision.confidence,
      mode: decision.mode,
      alertId: decision.alertId,
      incidentId: decision.incidentId,
      requestedRevision: decision.requestedRevision,
      nextEligibleAt: decision.nextEligibleAt?.toISOString() ?? null,
      factors: decision.factors,
    },
  };
}

/** A rollback and the decision behind it, as rollback events describe them. */
export interface RollbackFacts
  extends Pick<
    RollbackRecord,
    | 'decisionId'
    | 'targetName'
    | 'state'
    | 'fromRevision'
    | 'toRevision'
    | 'lkgRule'
    | 'errorCode'
    | 'errorMessage'
    | 'verifyBy'
  > {
  reason: Reason;
  confidence: number;
  requestedBy: string | null;
  incidentId: string | null;
}

const FINISHED: Record<RollbackOutcome['state'], { type: EventType; severity: Severity }> = {
  succeeded: { type: 'rollback_succeeded', severity: 'info' },
  // A failed rollback, or one with nothing to go back to, leaves the bad release serving: someone must act now.
  failed: { type: 'rollback_failed', severity: 'critical' },
  no_lkg: { type: 'rollback_no_lkg', severity: 'critical' },
  skipped: { type: 'rollback_skipped', severity: 'warning' },
  // The on-call is already paged by the alert itself; the hold tells them why lastgood stood aside.
  held: { type: 'rollback_held', severity: 'warning' },
};

function rollbackData(rollback: RollbackFacts, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    state: rollback.state,
    fromRevision: rollback.fromRevision,
    toRevision: rollback.toRevision,
    lkgRule: rollback.lkgRule,
    errorCode: rollback.errorCode,
    errorMessage: rollback.errorMessage,
    reason: rollback.reason,
    confidence: rollback.confidence,
    requestedBy: rollback.requestedBy,
    incidentId: rollback.incidentId,
    verifyBy: rollback.verifyBy?.toISOString() ?? null,
    ...extra,
  };
}

/**
 * Skips that leave the alert's cause unhandled with nobody deciding: a deploy under way on the target, which
 * lastgood will not race, while the SLO burns. Other skips are someone's deliberate act (their traffic change,
 * a freeze, the kill switch).
 */
const SKIPS_THAT_PAGE: ReadonlySet<RollbackErrorCode> = new Set(['DEPLOY_IN_PROGRESS']);

/** The event a rollback's terminal state appends, with the judgement's evidence when there was one. */
export function rollbackFinishedEvent(
  rollback: RollbackFacts,
  at: Date,
  evidence: Record<string, unknown> = {},
): LastgoodEvent {
  const { type, severity } = FINISHED[rollback.state as keyof typeof FINISHED];
  return {
    type,
    severity:
      rollback.state === 'skipped' && rollback.errorCode !== null && SKIPS_THAT_PAGE.has(rollback.errorCode)
        ? 'critical'
        : severity,
    at,
    target: rollback.targetName,
    decisionId: rollback.decisionId,
    actor: SYSTEM_ACTOR,
    data: rollbackData(rollback, evidence),
  };
}

/**
 * The event a verification appends: healed (the incident closed in time) or not healed, which is critical and
 * leaves the target needing a person.
 */
export function verificationEvent(
  rollback: RollbackFacts,
  result: 'healed' | 'not_healed',
  at: Date,
  evidence: Record<string, unknown>,
): LastgoodEvent {
  return {
    type: result === 'healed' ? 'rollback_healed' : 'rollback_not_healed',
    severity: result === 'healed' ? 'info' : 'critical',
    at,
    target: rollback.targetName,
    decisionId: rollback.decisionId,
    actor: SYSTEM_ACTOR,
    data: rollbackData(rollback, evidence),
  };
}

/**
 * Timeline steps that record a call changing something at Google, each audited as a `google_mutation`, with the
 * method when the step's detail does not name it.
 */
export const MUTATION_STEPS: ReadonlyMap<string, string | null> = new Map([
  ['api_call_issued', null],
  ['pipeline_frozen', 'UpdateDeliveryPipeline'],
]);
