import type {
  ChangeTime,
  CorrelatedIncident,
  IncidentEvidence,
  TelemetryStatus,
  WindowRatio,
} from './evidence.ts';
import type { Factor } from './types.ts';

/** One minute in ms: the judgement's policy durations and factors are read in minutes. */
export const MINUTE_MS = 60_000;

/** `auto`: judge, and decide on change timing when telemetry is missing; `required`: hold without it; `off`: act. */
export const EVIDENCE_MODES = ['auto', 'required', 'off'] as const;
export type EvidenceMode = (typeof EVIDENCE_MODES)[number];

/** Thresholds of the judgement, per target. Durations in ms. */
export interface JudgementPolicy {
  evidence: EvidenceMode;
  /** A change counts only if it started serving at most this long before the errors began. */
  changeWindowMs: number;
  /** A change this close before the errors began speaks for a rollback on its own, without a comparison. */
  obviousChangeMs: number;
  /** A suspect that served this long with a healthy error ratio before the onset did not cause it. */
  healthyServingMs: number;
  /** Slack when comparing a change time with the onset: both are read at minute resolution. */
  onsetToleranceMs: number;
  /** The lookback assumed when the alert condition's own is unknown. */
  defaultLookbackMs: number;
  /** Fewer requests than this in a window make its ratio inconclusive. */
  minRequests: number;
  /** The suspect's error ratio must be at least this multiple of the baseline's ... */
  ratioMultiple: number;
  /** ... and at least this much above it, absolutely. */
  minRatioIncrease: number;
  /** How much of the baseline's last serving before a full cutover its own ratio is read over. */
  baselineWindowMs: number;
  /** Requests per minute after the onset at least this multiple of before: a traffic spike. */
  spikeMultiple: number;
  /** Other targets alerting within this much of this incident's start count as the same moment. */
  correlationWindowMs: number;
  /** This many other targets burning at once, not known to have changed recently, is a shared cause. */
  correlationMinTargets: number;
}

/** The documented defaults (docs/judgement.md). */
export const DEFAULT_JUDGEMENT_POLICY: Readonly<JudgementPolicy> = Object.freeze({
  evidence: 'auto',
  changeWindowMs: 60 * MINUTE_MS,
  obviousChangeMs: 30 * MINUTE_MS,
  healthyServingMs: 10 * MINUTE_MS,
  onsetToleranceMs: 2 * MINUTE_MS,
  defaultLookbackMs: 60 * MINUTE_MS,
  minRequests: 100,
  ratioMultiple: 2,
  minRatioIncrease: 0.005,
  baselineWindowMs: 30 * MINUTE_MS,
  spikeMultiple: 3,
  correlationWindowMs: 15 * MINUTE_MS,
  correlationMinTargets: 2,
});

/** The verdicts that hold: the evidence does not show the newest change caused the burn. A held rollback's `errorCode`. */
export const HOLD_REASONS = [
  'NO_RECENT_CHANGE',
  'CHANGE_AFTER_ONSET',
  'NOT_REVISION_SPECIFIC',
  'HEALTHY_AFTER_CHANGE',
  'TRAFFIC_SPIKE',
  'CORRELATED_OUTAGE',
  'NO_LAST_KNOWN_GOOD',
  'INCONCLUSIVE',
  'INVALID_EVIDENCE',
] as const;
export type HoldReason = (typeof HOLD_REASONS)[number];

/** Every verdict the judgement gives. Closed: clients may switch on it. All but `ROLLBACK` hold. */
export const JUDGEMENT_REASONS = ['ROLLBACK', ...HOLD_REASONS] as const;
export type JudgementReason = (typeof JUDGEMENT_REASONS)[number];

/** One window the judgement measured: whose, what for, and what it saw. */
export interface MeasuredWindow extends WindowRatio {
  revision: string;
  role: 'suspect' | 'baseline' | 'suspect_before_onset';
}

/** What a status page or the CLI shows beside the verdict. Times are null when unknown. */
export interface JudgementSummary {
  evidenceMode: EvidenceMode;
  telemetry: { status: TelemetryStatus; message: string | null };
  suspect: string | null;
  baseline: string | null;
  split: boolean;
  /** Where a rollback should put all traffic when the judgement knows it: a split's baseline, else the last known good. */
  rollbackTo: string | null;
  change: ChangeTime | null;
  startedAt: Date;
  /** The earliest the errors can have begun: `startedAt` - lookback - condition duration. */
  earliestErrorsAt: Date;
  onset: Date | null;
  windows: MeasuredWindow[];
  correlated: CorrelatedIncident[];
}

/** The verdict: act or hold, why, every input looked at, and what to show. */
export interface Judgement {
  action: 'rollback' | 'hold';
  reason: JudgementReason;
  factors: Factor[];
  summary: JudgementSummary;
}

/**
 * The minutes a job should read from Cloud Monitoring for an incident: from `changeWindow` before the earliest the
 * errors can have begun (so a change inside the window shows its first minute of traffic) up to `now`.
 */
export function monitoringWindow(
  incident: IncidentEvidence,
  policy: JudgementPolicy,
  now: Date,
): { from: Date; to: Date } {
  const lookbackMs = incident.lookbackMs ?? policy.defaultLookbackMs;
  return {
    from: new Date(
      incident.startedAt.getTime() - lookbackMs - incident.conditionDurationMs - policy.changeWindowMs,
    ),
    to: now,
  };
}
