import {
  type CorrelatedIncident,
  detectOnset,
  type Evidence,
  type Stored,
  selectSuspect,
  serviceMinutes,
} from './evidence.ts';
import { type Judgement, type JudgementPolicy, MINUTE_MS } from './judgement-policy.ts';
import {
  type Comparison,
  type Context,
  classifyTiming,
  compare,
  correlatedWithin,
  healthyBeforeOnset,
  invalidInput,
  round,
  telemetryFactor,
  timingFactor,
  trafficSpike,
  verdict,
} from './judgement-rules.ts';

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

/**
 * The `judged` timeline step's detail: the verdict with everything it rests on, so it can be shown and re-run.
 * The other targets' incidents are recorded once: when the summary lists every one the evidence holds (it keeps
 * those within the correlation window, and they were read within it), the evidence leaves them out and
 * `recordedEvidence` takes the summary's. With many targets burning, they were most of the step.
 */
export function judgedStep(judgement: Judgement, evidence: Evidence) {
  const { correlated, ...rest } = evidence;
  const listedOnce = judgement.summary.correlated.length === correlated.length;
  return {
    verdict: judgement.action,
    reason: judgement.reason,
    factors: judgement.factors,
    summary: judgement.summary,
    evidence: listedOnce ? rest : evidence,
  };
}

/** The evidence of a stored `judged` step, whole again for `reviveEvidence`: a step of any version reads back. */
export function recordedEvidence(step: {
  summary: { correlated: Stored<CorrelatedIncident>[] };
  evidence: Stored<Omit<Evidence, 'correlated'>> & { correlated?: Stored<CorrelatedIncident>[] };
}): Stored<Evidence> {
  return { ...step.evidence, correlated: step.evidence.correlated ?? step.summary.correlated };
}
