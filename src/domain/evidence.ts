import type { RevisionInfo, TrafficObservation } from './last-known-good.ts';

/** Requests one revision (or the whole service) answered in one minute, and how many of them were 5xx. */
export interface MinuteCount {
  minuteStart: Date;
  total: number;
  errors: number;
}

/** Whether per-revision request counts could be read, and if so the series over `[from, to)`. */
export type Telemetry =
  | {
      status: 'ok';
      from: Date;
      to: Date;
      /** Per revision name, per minute, oldest first. A revision absent here had no requests. */
      series: Readonly<Record<string, readonly MinuteCount[]>>;
    }
  | { status: 'unavailable'; message: string }
  | { status: 'no_data' }
  | { status: 'off' };

export type TelemetryStatus = Telemetry['status'];

/** The alert's incident, as far as timing goes. */
export interface IncidentEvidence {
  /** When the alert condition began to hold. */
  startedAt: Date;
  /** The burn-rate lookback (second argument of `select_slo_burn_rate`), in ms; null when unknown. */
  lookbackMs: number | null;
  /** The condition's `duration`, in ms. */
  conditionDurationMs: number;
}

/** A Cloud Deploy target's current rollout: when it finished deploying and which revision it put in place. */
export interface RolloutEvidence {
  deployEndTime: Date;
  revision: string | null;
}

/** Another target that alerted around the same time, and whether it had changed shortly before. */
export interface CorrelatedIncident {
  target: string;
  startedAt: Date;
  changedRecently: boolean | 'unknown';
}

/** Everything the judgement reads about one alerting target. Plain data, filled by the targets layer. */
export interface Evidence {
  incident: IncidentEvidence;
  /** The target's revisions (Cloud Run), any order. */
  revisions: readonly RevisionInfo[];
  /** The current traffic split: revision name -> percent. */
  traffic: Readonly<Record<string, number>>;
  /** lastgood's own traffic observations, oldest first. */
  trafficRecords: readonly TrafficObservation[];
  telemetry: Telemetry;
  /** Cloud Deploy only; null for Cloud Run targets. */
  rollout: RolloutEvidence | null;
  /**
   * The revision the job would restore (from `findLastKnownGood`): null when there is none, absent when not
   * looked up (Cloud Deploy restores the previous release itself).
   */
  lastKnownGood?: string | null;
  /** Other targets' incidents; the judgement keeps those within its correlation window. */
  correlated: readonly CorrelatedIncident[];
}

/** Requests, 5xx and their ratio over a window; `ratio` is null below the minimum number of requests. */
export interface WindowRatio {
  from: Date;
  to: Date;
  requests: number;
  errors: number;
  ratio: number | null;
}

/** What an error ratio must clear to count as clearly above a reference level. */
export interface RiseThresholds {
  /** The higher ratio must be at least this multiple of the lower one. */
  ratioMultiple: number;
  /** ... and at least this much above it, absolutely. */
  minRatioIncrease: number;
}

const LOOKBACK = /select_slo_burn_rate\s*\(\s*(?:"[^"]*"|'[^']*')\s*,\s*["'](\d+(?:\.\d+)?)s["']\s*\)/;

/**
 * The lookback window of a burn-rate condition, in ms, from its filter, e.g.
 * `select_slo_burn_rate("projects/p/services/s/serviceLevelObjectives/o", "3600s")` -> 3_600_000. Null otherwise.
 */
export function parseLookbackMs(filter: string | null | undefined): number | null {
  const match = filter ? LOOKBACK.exec(filter) : null;
  if (!match) return null;
  const ms = Number(match[1]) * 1000;
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

/** Whether `ratio` is clearly above `reference`: by the multiple and by the absolute margin. */
export function isClearlyAbove(ratio: number, reference: number, thresholds: RiseThresholds): boolean {
  return ratio >= thresholds.ratioMultiple * reference && ratio - reference >= thresholds.minRatioIncrease;
}

/**
 * Pools the minutes starting in `[from, to)`. Below `minRequests` requests the ratio is null: too few to compare,
 * which is inconclusive, not a failure.
 */
export function windowRatio(
  minutes: readonly MinuteCount[],
  from: Date,
  to: Date,
  minRequests: number,
): WindowRatio {
  let requests = 0;
  let errors = 0;
  for (const minute of minutes) {
    const at = minute.minuteStart.getTime();
    if (at < from.getTime() || at >= to.getTime()) continue;
    requests += minute.total;
    errors += minute.errors;
  }
  return {
    from,
    to,
    requests,
    errors,
    ratio: requests >= minRequests && requests > 0 ? errors / requests : null,
  };
}

/** The whole service's per-minute counts: every revision's minutes summed, oldest first. */
export function serviceMinutes(series: Readonly<Record<string, readonly MinuteCount[]>>): MinuteCount[] {
  const byMinute = new Map<number, MinuteCount>();
  for (const minutes of Object.values(series)) {
    for (const minute of minutes) {
      const at = minute.minuteStart.getTime();
      const sum = byMinute.get(at) ?? { minuteStart: minute.minuteStart, total: 0, errors: 0 };
      sum.total += minute.total;
      sum.errors += minute.errors;
      byMinute.set(at, sum);
    }
  }
  return [...byMinute.values()].sort((a, b) => a.minuteStart.getTime() - b.minuteStart.getTime());
}

/** When the service's errors rose, as the per-minute series shows it. */
export type Onset =
  | { kind: 'rise'; at: Date; before: number; after: number }
  /**
   * No clear rise in the series. `earliestRatio` is the error ratio of its first minutes, up to the minimum number
   * of requests (null with fewer): errors there began before the series did.
   */
  | { kind: 'none'; earliestRatio: number | null };

function logLikelihood(errors: number, total: number): number {
  if (total === 0 || errors === 0 || errors === total) return 0;
  const p = errors / total;
  return errors * Math.log(p) + (total - errors) * Math.log(1 - p);
}

const CLAMP = 1e-6;

/**
 * Where the climb from the earlier level `p0` towards `p1` that reaches minute `split` began: a CUSUM of the
 * per-minute binomial log-likelihood ratio, run up to `split`; its last return to zero marks the start. A noisy
 * minute earlier is absorbed by the healthy minutes after it; a slow ramp is traced back to where it started to pull.
 */
function cusumStart(minutes: readonly MinuteCount[], split: number, p0: number, p1: number): number {
  const lo = Math.min(1 - CLAMP, Math.max(CLAMP, p0));
  const hi = Math.min(1 - CLAMP, Math.max(CLAMP, p1));
  const errorWeight = Math.log(hi / lo);
  const okWeight = Math.log((1 - hi) / (1 - lo));
  let sum = 0;
  let start = 0;
  for (let i = 0; i < split; i += 1) {
    const minute = minutes[i]!;
    sum = Math.max(0, sum + minute.errors * errorWeight + (minute.total - minute.errors) * okWeight);
    if (sum === 0) start = i + 1;
  }
  return start;
}

/**
 * The first minute the service's error ratio rose clearly above its earlier level. The split that best explains
 * the series as two levels (binomial likelihood) gives the levels; both sides need `minRequests` requests and
 * the later level must clear `thresholds` over the earlier; a CUSUM then dates the start of the rise.
 */
export function detectOnset(
  minutes: readonly MinuteCount[],
  minRequests: number,
  thresholds: RiseThresholds,
): Onset {
  let totalRequests = 0;
  let totalErrors = 0;
  for (const minute of minutes) {
    totalRequests += minute.total;
    totalErrors += minute.errors;
  }
  const whole = logLikelihood(totalErrors, totalRequests);
  let best: { index: number; score: number; before: number; after: number; counted: boolean } | null = null;
  let preRequests = 0;
  let preErrors = 0;
  let earliestRatio: number | null = null;
  // The split is placed where it explains the series best, whatever the traffic; only then must both sides hold
  // the minimum: a split moved to where the minimum is met would date a low-traffic rise too early. At least two
  // minutes after it, so one noisy last minute is no rise.
  for (let i = 1; i < minutes.length - 1; i += 1) {
    preRequests += minutes[i - 1]!.total;
    preErrors += minutes[i - 1]!.errors;
    if (earliestRatio === null && preRequests >= minRequests && preRequests > 0)
      earliestRatio = preErrors / preRequests;
    const postRequests = totalRequests - preRequests;
    const postErrors = totalErrors - preErrors;
    if (preRequests === 0 || postRequests === 0) continue;
    const before = preErrors / preRequests;
    const after = postErrors / postRequests;
    if (after <= before) continue;
    const score = logLikelihood(preErrors, preRequests) + logLikelihood(postErrors, postRequests) - whole;
    if (best === null || score > best.score)
      best = {
        index: i,
        score,
        before,
        after,
        counted: preRequests >= minRequests && postRequests >= minRequests,
      };
  }
  if (best === null || !best.counted || !isClearlyAbove(best.after, best.before, thresholds))
    return { kind: 'none', earliestRatio };
  const start = cusumStart(minutes, best.index, best.before, best.after);
  return { kind: 'rise', at: minutes[start]!.minuteStart, before: best.before, after: best.after };
}

/** Where a change time came from, best first. */
export type ChangeTimeSource = 'monitoring' | 'traffic_records' | 'create_time' | 'deploy_end_time';

export interface ChangeTime {
  at: Date;
  source: ChangeTimeSource;
}

function firstMinuteWithRequests(minutes: readonly MinuteCount[] | undefined): Date | null {
  return minutes?.find((minute) => minute.total > 0)?.minuteStart ?? null;
}

/**
 * When `revision` started serving. It cannot have served before it was created (`create_time`), nor before
 * lastgood last saw another revision serving 100%. The first minute Monitoring saw requests for it is the best
 * estimate, unless that is the series' first minute (it served already before the series began); lastgood's first
 * sight of it serving 100% is an upper bound. Null when the revision is unknown.
 */
export function servingSince(revision: string, evidence: Evidence): ChangeTime | null {
  const info = evidence.revisions.find((candidate) => candidate.name === revision);
  let lower = info ? info.createdAt.getTime() : Number.NEGATIVE_INFINITY;
  let upper: number | null = null;
  for (const record of evidence.trafficRecords) {
    const at = record.observedAt.getTime();
    if (record.fullRevision === revision) {
      upper = upper === null ? at : Math.min(upper, at);
    } else if (upper === null && at > lower) {
      lower = at;
    }
  }
  const telemetry = evidence.telemetry;
  if (telemetry.status === 'ok') {
    const first = firstMinuteWithRequests(telemetry.series[revision]);
    if (first !== null && first.getTime() > telemetry.from.getTime()) {
      const at = Math.max(lower, upper === null ? first.getTime() : Math.min(upper, first.getTime()));
      return { at: new Date(at), source: 'monitoring' };
    }
  }
  if (upper !== null && lower === Number.NEGATIVE_INFINITY)
    return { at: new Date(upper), source: 'traffic_records' };
  if (lower === Number.NEGATIVE_INFINITY) return null;
  const raised = info === undefined || lower > info.createdAt.getTime();
  return { at: new Date(lower), source: raised ? 'traffic_records' : 'create_time' };
}

/** Which revision is suspected, what it is compared with, and how. */
export interface SuspectSelection {
  suspect: string | null;
  baseline: string | null;
  /** True when more than one revision serves: the baseline serves beside the suspect over the same minutes. */
  split: boolean;
  changeTime: ChangeTime | null;
}

function servingRevisions(traffic: Readonly<Record<string, number>>): string[] {
  return Object.entries(traffic)
    .filter(([, percent]) => percent > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name]) => name);
}

function previousRevision(suspect: string, since: ChangeTime | null, evidence: Evidence): string | null {
  const before = since === null ? Number.POSITIVE_INFINITY : since.at.getTime();
  let best: { name: string; at: number } | null = null;
  for (const info of evidence.revisions) {
    if (info.name === suspect) continue;
    const at = servingSince(info.name, evidence)?.at.getTime() ?? info.createdAt.getTime();
    if (at < before && (best === null || at > best.at)) best = { name: info.name, at };
  }
  return best?.name ?? null;
}

/**
 * Picks the suspect. In a split, it is the newest serving revision that gained traffic before `onset` (or
 * before the alert began, when no onset is known) give or take `toleranceMs`, not the one with the largest share, and the baseline is the
 * other serving revision with the most traffic. Otherwise the suspect is the serving revision (Cloud Deploy: the
 * rollout's revision, changed at `deployEndTime`) and the baseline is the last known good, else the revision that
 * served before it.
 */
export function selectSuspect(evidence: Evidence, onset: Date | null, toleranceMs: number): SuspectSelection {
  const serving = servingRevisions(evidence.traffic);
  if (evidence.rollout !== null) {
    const suspect = evidence.rollout.revision ?? serving[0] ?? null;
    const others = serving.filter((name) => name !== suspect);
    const changeTime: ChangeTime = { at: evidence.rollout.deployEndTime, source: 'deploy_end_time' };
    return {
      suspect,
      baseline:
        others[0] ??
        evidence.lastKnownGood ??
        (suspect === null ? null : previousRevision(suspect, changeTime, evidence)),
      split: suspect !== null && others.length > 0,
      changeTime,
    };
  }
  if (serving.length > 1) {
    const reference = (onset ?? evidence.incident.startedAt).getTime() + toleranceMs;
    const timed = serving
      .map((name) => ({ name, since: servingSince(name, evidence) }))
      .sort(
        (a, b) =>
          (b.since?.at.getTime() ?? Number.NEGATIVE_INFINITY) -
          (a.since?.at.getTime() ?? Number.NEGATIVE_INFINITY),
      );
    const suspect =
      timed.find((entry) => entry.since !== null && entry.since.at.getTime() <= reference) ?? timed[0]!;
    const baseline = serving.find((name) => name !== suspect.name) ?? null;
    return { suspect: suspect.name, baseline, split: true, changeTime: suspect.since };
  }
  const suspect = serving[0] ?? null;
  if (suspect === null) return { suspect: null, baseline: null, split: false, changeTime: null };
  const changeTime = servingSince(suspect, evidence);
  return {
    suspect,
    baseline: evidence.lastKnownGood ?? previousRevision(suspect, changeTime, evidence),
    split: false,
    changeTime,
  };
}
