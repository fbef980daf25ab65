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

/** One job's question: the other targets' incidents around its own, as of when it asked. */
interface Ask {
  self: string;
  around: Date;
  windowMs: number;
  /** The decisions it reads: [since, until), decided from the window's start until it asked. */
  since: number;
  until: number;
  resolve: (incidents: CorrelatedIncident[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Reads the other targets' incidents for a worker's jobs, sharing store reads: the jobs that ask while a read runs
 * are answered together by the next one. That read starts after they asked, so each job still sees every decision
 * committed before it asked, as a read of its own would; their windows are read as one span and cut apart again.
 * In a storm, tens of jobs each read up to a thousand decisions at once; this reads them once for all.
 */
export class CorrelatedIncidentsReader {
  readonly #store: Pick<Store, 'decisionSignals'>;
  #waiting: Ask[] = [];
  #reading = false;

  constructor(store: Pick<Store, 'decisionSignals'>) {
    this.#store = store;
  }

  /** The other targets' incidents that began within `windowMs` of `around`, read after `now`. */
  read(self: string, around: Date, windowMs: number, now: Date): Promise<CorrelatedIncident[]> {
    return new Promise((resolve, reject) => {
      // Alerts arrive after their incident starts: look from the window's start until now.
      const since = around.getTime() - windowMs;
      this.#waiting.push({ self, around, windowMs, since, until: now.getTime() + 1, resolve, reject });
      if (!this.#reading) void this.#readWaiting();
    });
  }

  async #readWaiting(): Promise<void> {
    this.#reading = true;
    while (this.#waiting.length > 0) {
      const asks = this.#waiting.splice(0);
      try {
        const since = Math.min(...asks.map((ask) => ask.since));
        const until = Math.max(...asks.map((ask) => ask.until));
        const items = await this.#store.decisionSignals(new Date(since), new Date(until), MAX_DECISIONS);
        // A span cut off at the limit may lack some of a job's own decisions: then each job reads its own.
        const complete = items.length < MAX_DECISIONS || asks.length === 1;
        for (const ask of asks) {
          const own = complete
            ? items.filter(
                ({ decidedAt }) => decidedAt.getTime() >= ask.since && decidedAt.getTime() < ask.until,
              )
            : await this.#store.decisionSignals(new Date(ask.since), new Date(ask.until), MAX_DECISIONS);
          ask.resolve(correlatedIncidentsOf(own, ask.self, ask.around, ask.windowMs));
        }
      } catch (error) {
        for (const ask of asks) ask.reject(error);
      }
    }
    this.#reading = false;
  }
}
