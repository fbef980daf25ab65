import {
  type ChangeTime,
  type CorrelatedIncident,
  type Evidence,
  isClearlyAbove,
  type MinuteCount,
  type Onset,
  type RiseThresholds,
  serviceMinutes,
  significantlyAbove,
  type Telemetry,
  type WindowRatio,
  windowRatio,
} from './evidence.ts';
import {
  EVIDENCE_MODES,
  type EvidenceMode,
  type Judgement,
  type JudgementPolicy,
  type JudgementReason,
  type JudgementSummary,
  type MeasuredWindow,
  MINUTE_MS,
} from './judgement-policy.ts';
import type { Factor } from './types.ts';

/** Rounds a ratio or a duration to six decimals, so factors read cleanly and compare exactly. */
export function round(value: number): number {
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
export function invalidInput(evidence: Evidence, policy: JudgementPolicy): string | null {
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
export type Comparison =
  | { kind: 'specific'; suspect: number; baseline: number }
  /** `suspect` is null when it had too few requests to measure. */
  | { kind: 'not_specific'; suspect: number | null; baseline: number }
  /** Too few requests on one side, no baseline, or the 5xx series does not show the failure the alert reports. */
  | { kind: 'inconclusive'; why: string }
  | { kind: 'unavailable' };

/** How the change time relates to when the errors began. */
export type Timing =
  | { kind: 'unknown' }
  | { kind: 'after_start' | 'after_onset' | 'too_old' }
  | { kind: 'suspect'; obvious: boolean; gapMs: number };

/** What one judgement carries through its rules: the inputs, and the factors and summary the rules fill in. */
export interface Context {
  evidence: Evidence;
  policy: JudgementPolicy;
  thresholds: RiseThresholds;
  factors: Factor[];
  summary: JudgementSummary;
}

/** The judgement for `reason` with everything gathered so far: only `ROLLBACK` acts. */
export function verdict(context: Context, reason: JudgementReason): Judgement {
  return {
    action: reason === 'ROLLBACK' ? 'rollback' : 'hold',
    reason,
    factors: context.factors,
    summary: context.summary,
  };
}

/** The factor saying whether per-revision telemetry was read, and what its absence means in this mode. */
export function telemetryFactor(telemetry: Telemetry, mode: EvidenceMode): Factor {
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

/** Classifies when the suspect started serving against the alert's start and the errors' onset. */
export function classifyTiming(
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

/** The factor explaining a timing classification. */
export function timingFactor(timing: Timing, change: ChangeTime | null, policy: JudgementPolicy): Factor {
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
export function compare(
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
export function healthyBeforeOnset(
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
export function trafficSpike(
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

/** The other targets' incidents that started within the correlation window of this one. */
export function correlatedWithin(evidence: Evidence, policy: JudgementPolicy): CorrelatedIncident[] {
  const startedAt = evidence.incident.startedAt.getTime();
  return evidence.correlated.filter(
    (incident) => Math.abs(incident.startedAt.getTime() - startedAt) <= policy.correlationWindowMs,
  );
}
