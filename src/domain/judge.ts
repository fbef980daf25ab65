import {
  type ChangeTime,
  type CorrelatedIncident,
  detectOnset,
  type Evidence,
  type IncidentEvidence,
  isClearlyAbove,
  type MinuteCount,
  type Onset,
  type RiseThresholds,
  selectSuspect,
  serviceMinutes,
  significantlyAbove,
  type Telemetry,
  type TelemetryStatus,
  type WindowRatio,
  windowRatio,
} from './evidence.ts';
import type { Factor } from './types.ts';

const MINUTE_MS = 60_000;

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

/** Every verdict the judgement gives. Closed: clients may switch on it. All but `ROLLBACK` hold. */
export const JUDGEMENT_REASONS = [
  'ROLLBACK',
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

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

function finiteDate(date: Date): boolean {
  return date instanceof Date && Number.isFinite(date.getTime());
}

function finiteCount(value: number): boolean {
  return Number.isFinite(value) && value >= 0;
}

function validMinutes(minutes: readonly MinuteCount[]): boolean {
  return minutes.every(
    (minute) =>
      finiteDate(minute.minuteStart) &&
      finiteCount(minute.total) &&
      finiteCount(minute.errors) &&
      minute.errors <= minute.total,
  );
}

function validTelemetry(telemetry: Telemetry): boolean {
  if (telemetry.status !== 'ok') return true;
  return (
    finiteDate(telemetry.from) &&
    finiteDate(telemetry.to) &&
    Object.values(telemetry.series).every(validMinutes)
  );
}

/** What makes the inputs unusable, or null. A NaN or an Infinity anywhere never turns into a rollback. */
function invalidInput(evidence: Evidence, policy: JudgementPolicy): string | null {
  const numbers = Object.entries(policy).filter(([key]) => key !== 'evidence');
  const badKey = numbers.find(([, value]) => !finiteCount(value as number));
  if (badKey) return `policy ${badKey[0]}`;
  if (!EVIDENCE_MODES.includes(policy.evidence)) return 'policy evidence';
  const incident = evidence.incident;
  if (!finiteDate(incident.startedAt)) return 'incident startedAt';
  if (incident.lookbackMs !== null && !(finiteCount(incident.lookbackMs) && incident.lookbackMs > 0))
    return 'incident lookback';
  if (!finiteCount(incident.conditionDurationMs)) return 'incident condition duration';
  if (!evidence.revisions.every((revision) => finiteDate(revision.createdAt))) return 'revision createdAt';
  if (!Object.values(evidence.traffic).every(finiteCount)) return 'traffic percent';
  if (!evidence.trafficRecords.every((record) => finiteDate(record.observedAt))) return 'traffic record';
  if (!validTelemetry(evidence.telemetry)) return 'telemetry series';
  if (evidence.rollout !== null && !finiteDate(evidence.rollout.deployEndTime))
    return 'rollout deployEndTime';
  if (!evidence.correlated.every((incident) => finiteDate(incident.startedAt))) return 'correlated startedAt';
  return null;
}

/** The outcome of comparing the suspect with its baseline. */
type Comparison =
  | { kind: 'specific'; suspect: number; baseline: number }
  /** `suspect` is null when it had too few requests to measure. */
  | { kind: 'not_specific'; suspect: number | null; baseline: number }
  /** Too few requests on one side, no baseline, or the 5xx series does not show the failure the alert reports. */
  | { kind: 'inconclusive'; why: string }
  | { kind: 'unavailable' };

/** How the change time relates to when the errors began. */
type Timing =
  | { kind: 'unknown' }
  | { kind: 'after_start' | 'after_onset' | 'too_old' }
  | { kind: 'suspect'; obvious: boolean; gapMs: number };

interface Context {
  evidence: Evidence;
  policy: JudgementPolicy;
  thresholds: RiseThresholds;
  factors: Factor[];
  summary: JudgementSummary;
}

function verdict(context: Context, reason: JudgementReason): Judgement {
  return {
    action: reason === 'ROLLBACK' ? 'rollback' : 'hold',
    reason,
    factors: context.factors,
    summary: context.summary,
  };
}

function telemetryFactor(telemetry: Telemetry, mode: EvidenceMode): Factor {
  if (telemetry.status === 'ok')
    return { name: 'telemetry', value: 'ok', effect: 'per-revision request counts read' };
  const message = telemetry.status === 'unavailable' ? `: ${telemetry.message}` : '';
  return {
    name: 'evidence_unavailable',
    value: telemetry.status,
    effect:
      mode === 'required'
        ? `no per-revision evidence${message}; evidence is required for this target`
        : `no per-revision evidence${message}; judged on change timing and the alert`,
  };
}

function classifyTiming(
  change: ChangeTime | null,
  startedAt: Date,
  onset: Onset | null,
  errorsBy: Date | null,
  earliestErrorsAt: Date,
  policy: JudgementPolicy,
): Timing {
  if (change === null) return { kind: 'unknown' };
  const at = change.at.getTime();
  if (at > startedAt.getTime()) return { kind: 'after_start' };
  // errorsBy: the errors were already visible at this time (the onset, or the series start when they show
  // throughout); a change serving only after it came too late to cause them.
  if (errorsBy !== null && at > errorsBy.getTime() + policy.onsetToleranceMs) return { kind: 'after_onset' };
  const began = onset?.kind === 'rise' ? onset.at : (errorsBy ?? earliestErrorsAt);
  if (at < began.getTime() - policy.changeWindowMs) return { kind: 'too_old' };
  // Without an onset, the alert's start is the only fixed point: the errors began at most a lookback earlier.
  const reference = onset?.kind === 'rise' ? onset.at : startedAt;
  const gapMs = Math.max(0, reference.getTime() - at);
  return { kind: 'suspect', obvious: gapMs <= policy.obviousChangeMs, gapMs };
}

function timingFactor(timing: Timing, change: ChangeTime | null, policy: JudgementPolicy): Factor {
  const window = `change window ${policy.changeWindowMs / MINUTE_MS} min`;
  switch (timing.kind) {
    case 'unknown':
      return { name: 'change_time', value: null, effect: 'no change time known for the suspect' };
    case 'after_start':
      return {
        name: 'change_time',
        value: change!.at.toISOString(),
        effect: 'started serving after the alert condition began to hold: it did not cause the burn',
      };
    case 'after_onset':
      return {
        name: 'change_time',
        value: change!.at.toISOString(),
        effect: 'started serving after the errors began: it did not cause them',
      };
    case 'too_old':
      return { name: 'change_time', value: change!.at.toISOString(), effect: `older than the ${window}` };
    case 'suspect':
      return {
        name: 'change_to_onset_minutes',
        value: round(timing.gapMs / MINUTE_MS),
        effect: timing.obvious
          ? `within ${policy.obviousChangeMs / MINUTE_MS} min before the errors: speaks for a rollback on its own`
          : `within the ${window}, but needs the revision comparison`,
      };
  }
}

function measure(
  context: Context,
  revision: string,
  role: MeasuredWindow['role'],
  from: Date,
  to: Date,
): WindowRatio {
  const telemetry = context.evidence.telemetry;
  const minutes = telemetry.status === 'ok' ? (telemetry.series[revision] ?? []) : [];
  const measured = windowRatio(minutes, from, to, context.policy.minRequests);
  context.summary.windows.push({ revision, role, ...measured });
  return measured;
}

function describe(window: WindowRatio): string {
  return `${window.errors}/${window.requests} 5xx from ${window.from.toISOString()} to ${window.to.toISOString()}`;
}

/**
 * Compares the suspect with its baseline: in a split, over the same minutes since the errors began (or since the
 * suspect gained traffic); after a full cutover, with the baseline's own ratio before the switch.
 */
function compare(
  context: Context,
  telemetry: Extract<Telemetry, { status: 'ok' }>,
  change: ChangeTime,
  onset: Onset,
): Comparison {
  const { suspect, baseline, split } = context.summary;
  if (suspect === null) return { kind: 'inconclusive', why: 'no suspect revision' };
  const sinceChange = change.at.getTime();
  const from = new Date(onset.kind === 'rise' ? Math.max(onset.at.getTime(), sinceChange) : sinceChange);
  const suspectWindow = measure(context, suspect, 'suspect', from, telemetry.to);
  context.factors.push({
    name: 'suspect_error_ratio',
    value: suspectWindow.ratio === null ? null : round(suspectWindow.ratio),
    effect: `${suspect}: ${describe(suspectWindow)}`,
  });
  if (baseline === null) return { kind: 'inconclusive', why: 'no baseline revision to compare with' };
  // After a cutover, the baseline's own last stretch of serving before the change: the revision a rollback restores
  // may have served long before the one just replaced.
  const lastServed = (telemetry.series[baseline] ?? [])
    .filter((minute) => minute.total > 0 && minute.minuteStart.getTime() < sinceChange)
    .at(-1);
  const baselineEnd = lastServed ? lastServed.minuteStart.getTime() + MINUTE_MS : sinceChange;
  const baselineWindow = split
    ? measure(context, baseline, 'baseline', from, telemetry.to)
    : measure(
        context,
        baseline,
        'baseline',
        new Date(baselineEnd - context.policy.baselineWindowMs),
        new Date(baselineEnd),
      );
  context.factors.push({
    name: 'baseline_error_ratio',
    value: baselineWindow.ratio === null ? null : round(baselineWindow.ratio),
    effect: `${baseline} ${split ? 'over the same minutes' : 'before the change'}: ${describe(baselineWindow)}`,
  });
  const suspectRatio = suspectWindow.ratio;
  const baselineRatio = baselineWindow.ratio;
  if (suspectRatio !== null && baselineRatio !== null && suspectRatio >= context.policy.minRatioIncrease) {
    if (!isClearlyAbove(suspectRatio, baselineRatio, context.thresholds))
      return { kind: 'not_specific', suspect: suspectRatio, baseline: baselineRatio };
    // Clearly above, but a handful of errors can be that by chance: it must also be more than noise.
    if (
      significantlyAbove(
        suspectWindow.errors,
        suspectWindow.requests,
        baselineRatio,
        context.policy.ratioMultiple,
      )
    )
      return { kind: 'specific', suspect: suspectRatio, baseline: baselineRatio };
  }
  // A baseline serving beside the suspect that fails clearly above the service's earlier level shows the failure
  // is not confined to the suspect, even when the suspect has too few requests (or no 5xx) to measure.
  const healthyLevel = onset.kind === 'rise' ? onset.before : 0;
  if (split && baselineRatio !== null && isClearlyAbove(baselineRatio, healthyLevel, context.thresholds))
    return { kind: 'not_specific', suspect: suspectRatio, baseline: baselineRatio };
  if (suspectRatio === null || baselineRatio === null)
    return { kind: 'inconclusive', why: `fewer than ${context.policy.minRequests} requests in a window` };
  // A suspect without 5xx does not show the failure the alert reports (a latency SLO, or data not in yet): the
  // 5xx comparison cannot clear it.
  if (suspectRatio < context.policy.minRatioIncrease)
    return { kind: 'inconclusive', why: 'the suspect shows no 5xx failure to compare' };
  return {
    kind: 'inconclusive',
    why: 'the suspect is above its baseline by too few errors to be more than noise',
  };
}

/**
 * Whether the suspect served healthy traffic between its change and a much later onset: then the change did not
 * make it fail; something that happened at the onset did.
 */
function healthyBeforeOnset(
  context: Context,
  change: ChangeTime,
  onset: Extract<Onset, { kind: 'rise' }>,
  baselineRatio: number | null,
): boolean {
  const suspect = context.summary.suspect!;
  const before = measure(
    context,
    suspect,
    'suspect_before_onset',
    change.at,
    new Date(onset.at.getTime() - context.policy.onsetToleranceMs),
  );
  if (before.ratio === null) return false;
  // Exonerating evidence, so the bar is low: any significant excess over the baseline means it was failing already.
  const healthy = !significantlyAbove(
    before.errors,
    before.requests,
    baselineRatio ?? onset.before,
    context.policy.ratioMultiple,
  );
  context.factors.push({
    name: 'suspect_before_onset_error_ratio',
    value: round(before.ratio),
    effect: healthy
      ? `${suspect} served healthy traffic after its change (${describe(before)}) until the errors began`
      : `${suspect} was already failing before the onset (${describe(before)})`,
  });
  return healthy;
}

/** Requests per minute after the onset against before it (since the change): a surge means load, not code. */
function trafficSpike(
  context: Context,
  telemetry: Extract<Telemetry, { status: 'ok' }>,
  change: ChangeTime,
  onset: Extract<Onset, { kind: 'rise' }>,
): boolean {
  const minutes = serviceMinutes(telemetry.series);
  const start = Math.max(change.at.getTime(), telemetry.from.getTime());
  const rate = (from: number, to: number): number | null => {
    const inWindow = minutes.filter(
      (minute) => minute.minuteStart.getTime() >= from && minute.minuteStart.getTime() < to,
    );
    if (inWindow.length === 0) return null;
    return inWindow.reduce((sum, minute) => sum + minute.total, 0) / inWindow.length;
  };
  const before = rate(start, onset.at.getTime());
  const after = rate(onset.at.getTime(), telemetry.to.getTime());
  if (before === null || after === null || before === 0) return false;
  const multiple = after / before;
  const spike = multiple >= context.policy.spikeMultiple;
  context.factors.push({
    name: 'request_rate_multiple',
    value: round(multiple),
    effect: spike
      ? `requests per minute rose ${round(multiple)}x at the onset, after the suspect had served normally`
      : `spike threshold ${context.policy.spikeMultiple}x`,
  });
  return spike;
}

function correlatedWithin(evidence: Evidence, policy: JudgementPolicy): CorrelatedIncident[] {
  const startedAt = evidence.incident.startedAt.getTime();
  return evidence.correlated.filter(
    (incident) => Math.abs(incident.startedAt.getTime() - startedAt) <= policy.correlationWindowMs,
  );
}

/**
 * Judges whether the suspect change caused the burn an alert reports, before any rollback changes production.
 * Pure: every time it compares comes from the evidence. Holds carry a reason; `factors` explain every input looked
 * at. Rules run in the documented order (docs/judgement.md); the first that holds wins.
 */
export function judge(evidence: Evidence, policy: JudgementPolicy): Judgement {
  const telemetry = evidence.telemetry;
  const startedAt = evidence.incident.startedAt;
  const lookbackMs = evidence.incident.lookbackMs ?? policy.defaultLookbackMs;
  const context: Context = {
    evidence,
    policy,
    thresholds: { ratioMultiple: policy.ratioMultiple, minRatioIncrease: policy.minRatioIncrease },
    factors: [{ name: 'evidence_mode', value: policy.evidence, effect: 'how evidence is used' }],
    summary: {
      evidenceMode: policy.evidence,
      telemetry: {
        status: telemetry.status,
        message: telemetry.status === 'unavailable' ? telemetry.message : null,
      },
      suspect: null,
      baseline: null,
      split: false,
      rollbackTo: null,
      change: null,
      startedAt,
      earliestErrorsAt: new Date(startedAt.getTime() - lookbackMs - evidence.incident.conditionDurationMs),
      onset: null,
      windows: [],
      correlated: [],
    },
  };
  const invalid = invalidInput(evidence, policy);
  if (invalid !== null) {
    context.factors.push({ name: 'invalid_evidence', value: invalid, effect: 'not a number or not a time' });
    return verdict(context, 'INVALID_EVIDENCE');
  }
  if (policy.evidence === 'off') {
    context.factors[0]!.effect = 'evidence is off for this target: acting on the alert alone';
    return verdict(context, 'ROLLBACK');
  }
  const summary = context.summary;
  summary.correlated = correlatedWithin(evidence, policy);
  context.factors.push(telemetryFactor(telemetry, policy.evidence));

  const service = telemetry.status === 'ok' ? serviceMinutes(telemetry.series) : [];
  const onset =
    telemetry.status === 'ok' ? detectOnset(service, policy.minRequests, context.thresholds) : null;
  // Errors visible from the series' first minute began no later than that minute.
  const errorsThroughout =
    onset?.kind === 'none' && onset.earliestRatio !== null && onset.earliestRatio >= policy.minRatioIncrease;
  const errorsBy =
    onset?.kind === 'rise'
      ? onset.at
      : errorsThroughout
        ? (service.find((minute) => minute.total > 0)?.minuteStart ?? null)
        : null;
  if (onset?.kind === 'rise') {
    summary.onset = onset.at;
    context.factors.push({
      name: 'onset',
      value: onset.at.toISOString(),
      effect: `service error ratio rose from ${round(onset.before)} to ${round(onset.after)}`,
    });
  } else if (errorsThroughout) {
    context.factors.push({
      name: 'onset',
      value: null,
      effect: `errors (${round(onset.earliestRatio!)}) from the first minutes of the series: they began before ${errorsBy!.toISOString()}`,
    });
  }

  const selection = selectSuspect(evidence, errorsBy, policy.onsetToleranceMs);
  summary.suspect = selection.suspect;
  summary.baseline = selection.baseline;
  summary.split = selection.split;
  summary.change = selection.changeTime;
  summary.rollbackTo = selection.split ? selection.baseline : (evidence.lastKnownGood ?? null);
  context.factors.push({
    name: 'suspect',
    value: selection.suspect,
    effect: selection.split
      ? `newest revision that gained traffic before the errors; baseline ${selection.baseline} serves beside it`
      : `serving revision; baseline ${selection.baseline ?? 'none'}`,
  });

  const timing = classifyTiming(
    selection.changeTime,
    startedAt,
    onset,
    errorsBy,
    summary.earliestErrorsAt,
    policy,
  );
  context.factors.push(timingFactor(timing, selection.changeTime, policy));
  if (timing.kind === 'after_start' || timing.kind === 'after_onset')
    return verdict(context, 'CHANGE_AFTER_ONSET');
  if (timing.kind === 'too_old') return verdict(context, 'NO_RECENT_CHANGE');
  if (!selection.split && evidence.lastKnownGood === null) {
    context.factors.push({
      name: 'last_known_good',
      value: null,
      effect: 'no revision to go back to: a rollback cannot help',
    });
    return verdict(context, 'NO_LAST_KNOWN_GOOD');
  }

  const comparison: Comparison =
    telemetry.status === 'ok' && selection.changeTime !== null && onset !== null
      ? compare(context, telemetry, selection.changeTime, onset)
      : { kind: 'unavailable' };
  if (comparison.kind === 'not_specific') {
    context.factors.push({
      name: 'revision_specific',
      value: false,
      effect:
        comparison.suspect === null
          ? `the baseline serving beside it fails too (${round(comparison.baseline)}); the suspect has too few requests to set apart`
          : `the baseline fails about as much (${round(comparison.baseline)} against ${round(comparison.suspect)})`,
    });
    return verdict(context, 'NOT_REVISION_SPECIFIC');
  }
  const splitSpecific = comparison.kind === 'specific' && selection.split;
  if (
    !splitSpecific &&
    timing.kind === 'suspect' &&
    onset?.kind === 'rise' &&
    telemetry.status === 'ok' &&
    selection.changeTime !== null &&
    timing.gapMs > policy.onsetToleranceMs
  ) {
    const baselineRatio = comparison.kind === 'specific' ? comparison.baseline : null;
    if (
      timing.gapMs >= policy.healthyServingMs &&
      healthyBeforeOnset(context, selection.changeTime, onset, baselineRatio)
    )
      return verdict(context, 'HEALTHY_AFTER_CHANGE');
    if (trafficSpike(context, telemetry, selection.changeTime, onset))
      return verdict(context, 'TRAFFIC_SPIKE');
  }

  const correlated = summary.correlated;
  const unchanged = correlated.filter((incident) => incident.changedRecently !== true);
  if (correlated.length > 0) {
    context.factors.push({
      name: 'correlated_targets',
      value: correlated.length,
      effect: `${unchanged.length} other target(s) burning within ${policy.correlationWindowMs / MINUTE_MS} min without a known recent change (shared cause at ${policy.correlationMinTargets})`,
    });
  }
  if (!splitSpecific && unchanged.length >= policy.correlationMinTargets)
    return verdict(context, 'CORRELATED_OUTAGE');

  if (comparison.kind === 'specific') {
    context.factors.push({
      name: 'revision_specific',
      value: true,
      effect:
        comparison.baseline === 0
          ? 'the suspect fails; its baseline had no 5xx'
          : `the suspect fails ${Math.round((comparison.suspect / comparison.baseline) * 10) / 10}x as often as its baseline`,
    });
    return verdict(context, 'ROLLBACK');
  }
  if (comparison.kind === 'inconclusive')
    context.factors.push({ name: 'comparison', value: 'inconclusive', effect: comparison.why });
  if (comparison.kind === 'unavailable' && policy.evidence === 'required')
    return verdict(context, 'INCONCLUSIVE');
  return verdict(context, timing.kind === 'suspect' && timing.obvious ? 'ROLLBACK' : 'INCONCLUSIVE');
}
