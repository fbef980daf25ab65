/** A Cloud Run revision as the last-known-good search needs it. */
export interface RevisionInfo {
  name: string;
  ready: boolean;
  createdAt: Date;
}

/** One reading of a service's traffic: which revision, if any, was serving 100% at that moment. */
export interface TrafficObservation {
  observedAt: Date;
  fullRevision: string | null;
}

export interface IncidentWindow {
  startedAt: Date;
  endedAt: Date | null;
}

export interface LastKnownGoodInput {
  revisions: readonly RevisionInfo[];
  /** The revision serving the most traffic now: the one being rolled back, never a candidate. */
  servingRevision: string | null;
  /** The revision carrying the configured stable tag, if any. */
  taggedRevision: string | null;
  /** Oldest first. */
  history: readonly TrafficObservation[];
  incidents: readonly IncidentWindow[];
  minHealthyServingMs: number;
}

/** `split_baseline`: a canary split is rolled back onto the revision serving beside the suspect. */
export const LKG_RULES = [
  'stable_tag',
  'traffic_history',
  'previous_ready',
  'requested',
  'split_baseline',
] as const;
export type LkgRule = (typeof LKG_RULES)[number];

export type LastKnownGood =
  | { revision: string; rule: LkgRule; explanation: string }
  | { revision: null; explanation: string };

interface ServingInterval {
  revision: string;
  from: Date;
  until: Date;
}

/**
 * Turns point observations into the intervals during which one revision served 100%. Conservative: an interval
 * ends at the last observation that still saw it, since nothing is known of the time after.
 */
function fullServingIntervals(history: readonly TrafficObservation[]): ServingInterval[] {
  const intervals: ServingInterval[] = [];
  let current: ServingInterval | null = null;
  for (const observation of history) {
    if (current && observation.fullRevision === current.revision) {
      current.until = observation.observedAt;
      continue;
    }
    if (current) intervals.push(current);
    current =
      observation.fullRevision === null
        ? null
        : { revision: observation.fullRevision, from: observation.observedAt, until: observation.observedAt };
  }
  if (current) intervals.push(current);
  return intervals;
}

function overlapsIncident(interval: ServingInterval, incidents: readonly IncidentWindow[]): boolean {
  return incidents.some(
    (incident) =>
      incident.startedAt.getTime() <= interval.until.getTime() &&
      (incident.endedAt === null || incident.endedAt.getTime() >= interval.from.getTime()),
  );
}

/**
 * Picks the revision to put back, by the first rule that finds one:
 * (1) the revision carrying the stable tag, if Ready; (2) the revision that last served 100% of traffic for at
 * least `minHealthyServingMs` with no incident open meanwhile; (3) the newest Ready revision older than the one
 * serving now. The serving revision is never picked.
 */
export function findLastKnownGood(input: LastKnownGoodInput): LastKnownGood {
  const byName = new Map(input.revisions.map((revision) => [revision.name, revision]));
  const usable = (name: string | null): name is string =>
    name !== null && name !== input.servingRevision && byName.get(name)?.ready === true;

  if (usable(input.taggedRevision)) {
    return {
      revision: input.taggedRevision,
      rule: 'stable_tag',
      explanation: 'carries the stable tag and is Ready',
    };
  }
  const intervals = fullServingIntervals(input.history).reverse();
  for (const interval of intervals) {
    const servedMs = interval.until.getTime() - interval.from.getTime();
    if (servedMs < input.minHealthyServingMs || !usable(interval.revision)) continue;
    if (overlapsIncident(interval, input.incidents)) continue;
    return {
      revision: interval.revision,
      rule: 'traffic_history',
      explanation: `served 100% for ${Math.round(servedMs / 60_000)} min until ${interval.until.toISOString()} with no open incident`,
    };
  }
  const serving = input.servingRevision === null ? undefined : byName.get(input.servingRevision);
  if (serving) {
    const older = input.revisions
      .filter(
        (revision) => usable(revision.name) && revision.createdAt.getTime() < serving.createdAt.getTime(),
      )
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
    if (older) {
      return {
        revision: older.name,
        rule: 'previous_ready',
        explanation: `newest Ready revision older than ${serving.name}`,
      };
    }
  }
  return {
    revision: null,
    explanation:
      'no Ready revision other than the serving one: no stable tag, no healthy history, nothing older',
  };
}
