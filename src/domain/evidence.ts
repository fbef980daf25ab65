import type { RevisionInfo, TrafficObservation } from './last-known-good.ts';
import type { Signal } from './types.ts';

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

/** Whether the series was read: `ok`, `unavailable` (an error), `no_data` (an empty answer) or `off`. */
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

/** The timing of the incident `signal` reports. */
export function incidentOf(signal: Signal): IncidentEvidence {
  return {
    startedAt: signal.startedAt,
    lookbackMs: signal.lookbackMs ?? null,
    conditionDurationMs: signal.conditionDurationMs,
  };
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

/** Log-likelihood ratio (nats) that makes a difference in error ratio real: odds of about 22000:1. */
const SPLIT_EVIDENCE = 10;

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
 * Whether `errors` of `requests` are significantly above what `reference` predicts: by the ratio multiple, and by a
 * likelihood-ratio test, so a handful of errors in a small sample does not count and neither does a hair's
 * difference in a huge one.
 */
export function significantlyAbove(
  errors: number,
  requests: number,
  reference: number,
  ratioMultiple: number,
): boolean {
  if (requests === 0 || errors === 0) return false;
  const ratio = errors / requests;
  if (ratio < ratioMultiple * reference || ratio <= reference) return false;
  const expected = Math.max(reference, 1e-9);
  const score =
    errors * Math.log(ratio / expected) +
    (requests - errors) * (ratio === 1 ? 0 : Math.log((1 - ratio) / (1 - expected)));
  return score >= SPLIT_EVIDENCE;
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

interface Level {
  /** Index of the segment's first minute. */
  start: number;
  end: number;
  requests: number;
  errors: number;
}

function levelOf(minutes: readonly MinuteCount[], start: number, end: number): Level {
  let requests = 0;
  let errors = 0;
  for (let i = start; i < end; i += 1) {
    requests += minutes[i]!.total;
    errors += minutes[i]!.errors;
  }
  return { start, end, requests, errors };
}

function ratioOf(level: Level): number {
  return level.requests === 0 ? 0 : level.errors / level.requests;
}

/**
 * Cuts `minutes[start, end)` into stretches of steady error ratio (binary segmentation): a stretch is split where
 * two levels explain it best, when they explain it much better than one (a likelihood-ratio test, which weighs
 * the number of requests itself: a low-traffic rise is found where it happened, a wobble of a busy service is no
 * split) and one level is clearly above the other. The last stretch of the series is at least two minutes long, so
 * one noisy last minute is no rise.
 */
function segment(
  minutes: readonly MinuteCount[],
  start: number,
  end: number,
  thresholds: RiseThresholds,
  out: Level[],
): void {
  const whole = levelOf(minutes, start, end);
  const base = logLikelihood(whole.errors, whole.requests);
  const lastStart = end === minutes.length ? end - 2 : end - 1;
  let best: { index: number; score: number } | null = null;
  let preRequests = 0;
  let preErrors = 0;
  for (let i = start + 1; i <= lastStart; i += 1) {
    preRequests += minutes[i - 1]!.total;
    preErrors += minutes[i - 1]!.errors;
    const postRequests = whole.requests - preRequests;
    const postErrors = whole.errors - preErrors;
    if (preRequests === 0 || postRequests === 0) continue;
    const before = preErrors / preRequests;
    const after = postErrors / postRequests;
    if (!isClearlyAbove(Math.max(before, after), Math.min(before, after), thresholds)) continue;
    const score = logLikelihood(preErrors, preRequests) + logLikelihood(postErrors, postRequests) - base;
    if (best === null || score > best.score) best = { index: i, score };
  }
  if (best === null || best.score < SPLIT_EVIDENCE) {
    out.push(whole);
    return;
  }
  segment(minutes, start, best.index, thresholds, out);
  segment(minutes, best.index, end, thresholds, out);
}

/**
 * The first minute the service's error ratio rose clearly above its earlier level, for the episode still under way.
 * The series is cut into stretches of steady error ratio; the healthy level is the lowest of them. The onset is
 * where the last healthy stretch ended, so an earlier episode that recovered, or a single noisy minute, is passed
 * over, and a slow ramp is dated from its first clearly raised stretch.
 */
export function detectOnset(
  minutes: readonly MinuteCount[],
  minRequests: number,
  thresholds: RiseThresholds,
): Onset {
  let earliest = 0;
  let earliestRequests = 0;
  let earliestRatio: number | null = null;
  while (earliestRatio === null && earliest < minutes.length) {
    earliestRequests += minutes[earliest]!.total;
    earliest += 1;
    if (earliestRequests >= minRequests && earliestRequests > 0)
      earliestRatio = levelOf(minutes, 0, earliest).errors / earliestRequests;
  }
  const levels: Level[] = [];
  if (minutes.length > 0) segment(minutes, 0, minutes.length, thresholds, levels);
  const healthy = Math.min(...levels.map(ratioOf));
  const lastHealthy = levels.findLastIndex((level) => !isClearlyAbove(ratioOf(level), healthy, thresholds));
  if (lastHealthy === -1 || lastHealthy === levels.length - 1) return { kind: 'none', earliestRatio };
  const episode = levelOf(minutes, levels[lastHealthy + 1]!.start, minutes.length);
  return {
    kind: 'rise',
    at: minutes[episode.start]!.minuteStart,
    before: ratioOf(levels[lastHealthy]!),
    after: ratioOf(episode),
  };
}

/** Where a change time came from, best first. */
export type ChangeTimeSource = 'monitoring' | 'traffic_records' | 'create_time' | 'deploy_end_time';

/** When the suspect started serving, and what that time rests on. */
export interface ChangeTime {
  at: Date;
  source: ChangeTimeSource;
}

/**
 * The first minute a revision received a real share of the service's requests: at least a quarter of its share now
 * (its traffic percent; for a revision no longer serving, the largest share it had). A tagged revision's preview URL
 * answers a few requests long before it takes traffic; a share, unlike a rate, is not fooled by a traffic spike.
 */
function gainedTrafficAt(
  revision: string,
  series: Readonly<Record<string, readonly MinuteCount[]>>,
  percent: number | undefined,
): Date | null {
  const own = (series[revision] ?? []).filter((minute) => minute.total > 0);
  if (own.length === 0) return null;
  const service = new Map(
    serviceMinutes(series).map((minute) => [minute.minuteStart.getTime(), minute.total]),
  );
  const shares = own.map((minute) => ({
    at: minute.minuteStart,
    share: minute.total / (service.get(minute.minuteStart.getTime()) ?? minute.total),
  }));
  const target =
    percent !== undefined && percent > 0 ? percent / 100 : Math.max(...shares.map((m) => m.share));
  return shares.find((minute) => minute.share >= target / 4)?.at ?? null;
}

/**
 * When `revision` started serving. It cannot have served before it was created (`create_time`), nor before
 * lastgood last saw another revision serving 100%. The first minute Monitoring saw it take a real share of requests
 * is the best estimate, unless that is the series' first minute (it served already before the series began); lastgood's first
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
    const first = gainedTrafficAt(revision, telemetry.series, evidence.traffic[revision]);
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

/** A value as it reads back from JSON: every Date became its ISO string. */
export type Stored<T> = T extends Date
  ? string
  : T extends readonly (infer Item)[]
    ? Stored<Item>[]
    : T extends object
      ? { [Key in keyof T]: Stored<T[Key]> }
      : T;

const revive = (text: string): Date => new Date(text);

/**
 * The evidence a `judged` step recorded, with its times Dates again, so a replay can judge it anew. A time that does
 * not parse becomes an invalid Date, which the judgement itself refuses (`INVALID_EVIDENCE`).
 */
export function reviveEvidence(stored: Stored<Evidence>): Evidence {
  const telemetry = stored.telemetry;
  return {
    incident: { ...stored.incident, startedAt: revive(stored.incident.startedAt) },
    revisions: stored.revisions.map((revision) => ({ ...revision, createdAt: revive(revision.createdAt) })),
    traffic: stored.traffic,
    trafficRecords: stored.trafficRecords.map((record) => ({
      ...record,
      observedAt: revive(record.observedAt),
    })),
    telemetry:
      telemetry.status === 'ok'
        ? {
            status: 'ok',
            from: revive(telemetry.from),
            to: revive(telemetry.to),
            series: Object.fromEntries(
              Object.entries(telemetry.series).map(([revision, minutes]) => [
                revision,
                minutes.map((minute) => ({ ...minute, minuteStart: revive(minute.minuteStart) })),
              ]),
            ),
          }
        : telemetry,
    rollout:
      stored.rollout === null
        ? null
        : { ...stored.rollout, deployEndTime: revive(stored.rollout.deployEndTime) },
    ...(stored.lastKnownGood === undefined ? {} : { lastKnownGood: stored.lastKnownGood }),
    correlated: stored.correlated.map((incident) => ({ ...incident, startedAt: revive(incident.startedAt) })),
  };
}
