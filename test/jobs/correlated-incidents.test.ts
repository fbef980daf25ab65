import { describe, expect, it } from 'vitest';
import { CorrelatedIncidentsReader } from '../../src/jobs/correlated-incidents.ts';
import type { DecisionSignalItem, Store } from '../../src/store/store.ts';

const T0 = new Date('2026-03-01T12:00:00Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
const WINDOW_MS = 15 * 60_000;

/** A decision to roll `target` back, its incident started `startedAt`, decided `decidedAt`, still queued. */
function burning(target: string, startedAt: Date, decidedAt: Date): DecisionSignalItem {
  return {
    decidedAt,
    targetName: target,
    reason: 'ROLLBACK',
    signal: { startedAt, isTest: false },
    rollback: { state: 'queued', errorCode: null },
  };
}

/**
 * A store of `decisions` whose reads wait until `answer()`, as a read behind other work does. It answers what is
 * stored when the read starts, and counts the reads.
 */
function slowStore(decisions: DecisionSignalItem[]) {
  const reads: { since: Date; until: Date }[] = [];
  const pending: (() => void)[] = [];
  const store: Pick<Store, 'decisionSignals'> = {
    decisionSignals: (since, until, limit) => {
      reads.push({ since, until });
      const answer = decisions
        .filter(({ decidedAt }) => decidedAt >= since && decidedAt < until)
        .slice(0, limit);
      return new Promise((resolve) => pending.push(() => resolve(answer)));
    },
  };
  const answer = async () => {
    while (pending.length === 0) await new Promise((resolve) => setImmediate(resolve));
    pending.shift()?.();
  };
  return { store, reads, answer };
}

const targetsOf = (incidents: { target: string }[]) => incidents.map(({ target }) => target).sort();

describe('CorrelatedIncidentsReader', () => {
  it('answers the jobs that ask during a read with one read begun after they asked', async () => {
    const decisions = [burning('a', at(0), at(1))];
    const { store, reads, answer } = slowStore(decisions);
    const reader = new CorrelatedIncidentsReader(store);
    const first = reader.read('x', at(0), WINDOW_MS, at(2));
    // Committed while the first read runs: the jobs asking now must see it, the first need not.
    decisions.push(burning('b', at(0), at(3)));
    const second = reader.read('y', at(0), WINDOW_MS, at(4));
    const third = reader.read('z', at(0), WINDOW_MS, at(4));
    await answer();
    await answer();
    expect(targetsOf(await first)).toEqual(['a']);
    expect(targetsOf(await second)).toEqual(['a', 'b']);
    expect(targetsOf(await third)).toEqual(['a', 'b']);
    expect(reads).toHaveLength(2);
  });

  it("cuts the shared read back to each job's own window and moment", async () => {
    const decisions = [
      burning('early', at(-20), at(-19)),
      burning('a', at(0), at(1)),
      burning('late', at(0), at(5)),
    ];
    const { store, reads, answer } = slowStore(decisions);
    const reader = new CorrelatedIncidentsReader(store);
    const blocking = reader.read('x', at(0), WINDOW_MS, at(6));
    // One job's window reaches back to `early`'s decision; the other asked before `late` was decided.
    const wide = reader.read('y', at(-10), WINDOW_MS, at(6));
    const before = reader.read('z', at(0), WINDOW_MS, at(2));
    await answer();
    await answer();
    await blocking;
    expect(targetsOf(await wide)).toEqual(['a', 'early', 'late']);
    expect(targetsOf(await before)).toEqual(['a']);
    expect(reads).toHaveLength(2);
  });

  it('reads each job its own decisions when the shared read reached the limit', async () => {
    const decisions = Array.from({ length: 1_000 }, (_, i) => burning(`old-${i}`, at(-20), at(-19)));
    decisions.push(burning('a', at(0), at(1)));
    const { store, reads, answer } = slowStore(decisions);
    const reader = new CorrelatedIncidentsReader(store);
    const blocking = reader.read('x', at(0), WINDOW_MS, at(2));
    const wide = reader.read('y', at(-20), WINDOW_MS, at(2));
    const narrow = reader.read('z', at(0), WINDOW_MS, at(2));
    for (let i = 0; i < 4; i++) await answer();
    await blocking;
    expect(await wide).toHaveLength(1_000);
    expect(targetsOf(await narrow)).toEqual(['a']);
    expect(reads).toHaveLength(4);
  });

  it('fails every job a failed read answers, and reads again for the next', async () => {
    let fail = true;
    const store: Pick<Store, 'decisionSignals'> = {
      decisionSignals: async () => {
        if (fail) throw new Error('store unavailable');
        return [burning('a', at(0), at(1))];
      },
    };
    const reader = new CorrelatedIncidentsReader(store);
    await expect(reader.read('x', at(0), WINDOW_MS, at(2))).rejects.toThrow('store unavailable');
    fail = false;
    expect(targetsOf(await reader.read('x', at(0), WINDOW_MS, at(2)))).toEqual(['a']);
  });
});
