import type { CorrelatedIncident } from '../domain/evidence.ts';
import type { Reason } from '../domain/types.ts';
import type { DecisionSignalItem, Store } from '../store/store.ts';

/** Decisions that say nothing about a target burning: its alert was a test, unroutable, or already over. */
const NOT_BURNING: ReadonlySet<Reason> = new Set(['TEST_NOTIFICATION', 'UNKNOWN_TARGET', 'INCIDENT_CLOSED']);
/** A store read of history is bounded; a region-wide incident needs far fewer targets than this to show. */
const MAX_DECISIONS = 1_000;

/**
 * Whether a target had changed recently, as far as lastgood learnt it: a rollback that went ahead was judged to
 * follow a recent change; a hold for no recent change says the opposite; anything else is unknown.
 */
function changedRecently(item: DecisionSignalItem): boolean | 'unknown' {
  const rollback = item.rollback;
  if (rollback === null) return 'unknown';
  if (rollback.state === 'succeeded' || rollback.state === 'running') return true;
  if (rollback.state === 'held' && rollback.errorCode === 'NO_RECENT_CHANGE') return false;
  return 'unknown';
}

/** The other targets whose incidents began within `windowMs` of `around`, one entry a target, the most telling. */
export function correlatedIncidentsOf(
  items: readonly DecisionSignalItem[],
  self: string,
  around: Date,
  windowMs: number,
): CorrelatedIncident[] {
  const byTarget = new Map<string, CorrelatedIncident>();
  for (const item of items) {
    const { targetName: target, signal } = item;
    if (target === null || target === self || signal === null || signal.isTest) continue;
    if (NOT_BURNING.has(item.reason)) continue;
    if (Math.abs(signal.startedAt.getTime() - around.getTime()) > windowMs) continue;
    const incident = { target, startedAt: signal.startedAt, changedRecently: changedRecently(item) };
    const known = byTarget.get(target);
    if (known === undefined || known.changedRecently === 'unknown') byTarget.set(target, incident);
  }
  return [...byTarget.values()];
}

/** Reads the decisions around `around` and keeps the other targets' incidents. */
export async function readCorrelatedIncidents(
  store: Pick<Store, 'decisionSignals'>,
  self: string,
  around: Date,
  windowMs: number,
  now: Date,
): Promise<CorrelatedIncident[]> {
  // Alerts arrive after their incident starts: look from the window's start until now.
  const items = await store.decisionSignals(
    new Date(around.getTime() - windowMs),
    new Date(now.getTime() + 1),
    MAX_DECISIONS,
  );
  return correlatedIncidentsOf(items, self, around, windowMs);
}
