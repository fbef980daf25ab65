/** Where an alert came from. `manual` is an operator's request over the API. */
export type SignalSource = 'cloud-monitoring' | 'pubsub' | 'manual';

/** One alert, whatever its source, in the shape the decision engine reads. */
export interface Signal {
  source: SignalSource;
  incidentId: string;
  state: 'open' | 'closed';
  /** Cloud Monitoring's "Send test notification": stored, never acted on. */
  isTest: boolean;
  policyName: string;
  conditionName: string;
  /** The metric value that fired the alert: an error ratio or a burn-rate multiple, depending on the policy. */
  observedValue: number | null;
  /** The alert condition's own threshold, in the same unit as `observedValue`. */
  thresholdValue: number | null;
  /** How long the condition had to hold before the alert fired (the condition's `duration`), in ms. */
  conditionDurationMs: number;
  /**
   * The burn-rate lookback window (the second argument of `select_slo_burn_rate` in the condition's filter), in ms:
   * the errors began at most this long before `startedAt`. Null when the filter names none; absent in alerts
   * stored before lastgood read it.
   */
  lookbackMs?: number | null;
  startedAt: Date;
  endedAt: Date | null;
  /** `policy_user_labels.lastgood_target` (set by Terraform), else the resource's `metadata.user_labels` one. */
  targetLabel: string | null;
  /** The Cloud Run `service_name` resource label: the routing fallback. */
  serviceName: string | null;
  summary: string;
  url: string | null;
}

export type TargetKind = 'cloud-run' | 'cloud-deploy';
export type Mode = 'auto' | 'dry-run' | 'notify' | 'off';

/** How an alert's observed value becomes an error rate. */
export type SignalKind = { kind: 'error_ratio' } | { kind: 'burn_rate'; sloGoal: number };

/** The policy in force for one target, defaults already merged in. Durations in ms. */
export interface Policy {
  mode: Mode;
  errorRateThreshold: number;
  minConfidence: number;
  maxRollbacksPerHour: number;
  cooldownMs: number;
  maxAlertAgeMs: number;
  signal: SignalKind;
}

/** Every reason a decision can give. Closed: clients may switch on it. */
export const REASONS = [
  'ROLLBACK',
  'MANUAL',
  'DISABLED',
  'TEST_NOTIFICATION',
  'UNKNOWN_TARGET',
  'INVALID_INPUT',
  'INCIDENT_CLOSED',
  'NEEDS_PERSON',
  'STALE_ALERT',
  'MISSING_VALUE',
  'BELOW_THRESHOLD',
  'RATE_LIMITED',
  'COOLDOWN',
  'LOW_CONFIDENCE',
  'IN_PROGRESS',
  'DRY_RUN',
  'NOTIFY_ONLY',
] as const;
export type Reason = (typeof REASONS)[number];

export type Action = 'rollback' | 'none';

/** One input to a decision and what it did to the outcome, so every decision explains itself. */
export interface Factor {
  name: string;
  value: number | string | boolean | null;
  effect: string;
}

export interface Decision {
  action: Action;
  reason: Reason;
  /** In [0, 0.95]; 0 when the engine stopped before scoring. */
  confidence: number;
  factors: Factor[];
  target: string | null;
  /** When a refused target may be rolled back again (COOLDOWN, RATE_LIMITED). */
  nextEligibleAt: Date | null;
  /** True for DRY_RUN: lastgood would have rolled back. */
  wouldRollback: boolean;
}

/**
 * States a rollback moves through; `queued` and `running` are active. `held` means the evidence did not show the
 * newest change caused the burn, so lastgood stood aside and told people why.
 */
export const ROLLBACK_STATES = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'no_lkg',
  'skipped',
  'held',
] as const;
export type RollbackState = (typeof ROLLBACK_STATES)[number];

export function isActiveRollback(state: RollbackState): boolean {
  return state === 'queued' || state === 'running';
}

/** A past rollback of the target, as the engine needs it. */
export interface PastRollback {
  decisionId: string;
  decidedAt: Date;
  state: RollbackState;
}

/**
 * Why a target takes no more automatic rollbacks until a person resumes it: a rollback of it failed, or succeeded
 * and the service did not heal. A second step back on its own would be guessing.
 */
export interface TargetBlock {
  /** The rollback's decision. */
  decisionId: string;
  why: 'rollback_failed' | 'not_healed';
}

/** What the store knows about a target at decision time. `rollbacks` is newest first. */
export interface TargetHistory {
  rollbacks: PastRollback[];
  /** Set while the target needs a person; absent or null when it does not. */
  blockedBy?: TargetBlock | null;
}
