import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { WorkerLoop, type WorkerLoopOptions } from '../src/worker-loop.ts';

const POLL_MS = 1_000;

/** A queue of due items and a record of what the loop did with them; each run ends when the test says so. */
function harness(overrides: Partial<WorkerLoopOptions<string>> = {}) {
  const due: string[] = [];
  const started: string[] = [];
  const released: string[] = [];
  const aborted: string[] = [];
  const finish = new Map<string, () => void>();
  const loop = new WorkerLoop<string>({
    claim: async (limit) => due.splice(0, limit),
    run: (item, signal) => {
      started.push(item);
      signal.addEventListener('abort', () => aborted.push(item));
      return new Promise<void>((resolve) => finish.set(item, resolve));
    },
    release: async (item) => void released.push(item),
    concurrency: 2,
    pollMs: POLL_MS,
    logger: createLogger('silent'),
    what: 'test items',
    ...overrides,
  });
  return {
    loop,
    due,
    started,
    released,
    aborted,
    finish: (item: string) => finish.get(item)?.(),
    /** Stops with no grace: what still runs is released at once (fake timers must be moved for that). */
    async halt() {
      const stopped = loop.stop(0);
      await vi.advanceTimersByTimeAsync(0);
      await stopped;
    },
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('WorkerLoop', () => {
  it('runs at most `concurrency` items, and claims the next as soon as one finishes', async () => {
    const h = harness();
    h.due.push('a', 'b', 'c');
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.started).toEqual(['a', 'b']);
    h.finish('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.started).toEqual(['a', 'b', 'c']);
    expect(h.loop.active).toBe(2);
    await h.halt();
  });

  it('finds work queued elsewhere at the next poll, and runs the poll hook each time', async () => {
    let polls = 0;
    const h = harness({
      onPoll: () => {
        polls += 1;
      },
    });
    h.loop.start();
    h.due.push('late');
    await vi.advanceTimersByTimeAsync(POLL_MS - 1);
    expect(h.started).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.started).toEqual(['late']);
    await vi.advanceTimersByTimeAsync(2 * POLL_MS);
    expect(polls).toBe(3);
    await h.halt();
  });

  it('looks again at once when woken', async () => {
    const h = harness();
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    h.due.push('now');
    h.loop.wake();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.started).toEqual(['now']);
    await h.halt();
  });

  it('retries a failed claim at the next poll', async () => {
    let failures = 1;
    const due = ['x'];
    const h = harness({
      claim: async (limit) => {
        if (failures-- > 0) throw new Error('database restarting');
        return due.splice(0, limit);
      },
    });
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.started).toEqual([]);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(h.started).toEqual(['x']);
    await h.halt();
  });

  it('at stop, waits for the items under way within the grace and claims nothing more', async () => {
    const h = harness();
    h.due.push('a');
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    const stopped = h.loop.stop(5_000);
    h.due.push('b');
    h.loop.wake();
    await vi.advanceTimersByTimeAsync(1_000);
    h.finish('a');
    await expect(stopped).resolves.toBe(true);
    expect(h.started).toEqual(['a']);
    expect(h.released).toEqual([]);
  });

  it('past the grace, releases and aborts what still runs', async () => {
    const h = harness();
    h.due.push('a', 'b');
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    h.finish('a');
    const stopped = h.loop.stop(5_000);
    await vi.advanceTimersByTimeAsync(5_000);
    await expect(stopped).resolves.toBe(false);
    expect(h.released).toEqual(['b']);
    expect(h.aborted).toEqual(['b']);
  });

  it('runs an item created claimed at once, its reserved place counting against the limit', async () => {
    const h = harness();
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    const place = h.loop.reserve()!;
    h.due.push('queued-1', 'queued-2');
    h.loop.wake();
    await vi.advanceTimersByTimeAsync(0);
    // One place is held while its item is being created: only one queued item is claimed beside it.
    expect(h.started).toEqual(['queued-1']);
    expect(h.loop.reserve()).toBeNull();
    place.start('created');
    expect(h.started).toEqual(['queued-1', 'created']);
    expect(h.loop.active).toBe(2);
    h.finish('created');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.started).toEqual(['queued-1', 'created', 'queued-2']);
    await h.halt();
  });

  it('claims queued work when a reserved place is given back', async () => {
    const h = harness({ concurrency: 1 });
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    const place = h.loop.reserve()!;
    h.due.push('queued');
    h.loop.wake();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.started).toEqual([]);
    place.cancel();
    // A second answer for the same place changes nothing.
    place.start('late');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.started).toEqual(['queued']);
    await h.halt();
  });

  it('at stop, waits for an item being created claimed; one created after the grace is handed back, not run', async () => {
    const h = harness();
    h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    const inTime = h.loop.reserve()!;
    const late = h.loop.reserve()!;
    const stopped = h.loop.stop(5_000);
    expect(h.loop.reserve()).toBeNull();
    inTime.start('in-time');
    await vi.advanceTimersByTimeAsync(5_000);
    await expect(stopped).resolves.toBe(false);
    expect(h.released).toEqual(['in-time']);
    late.start('late');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.started).toEqual(['in-time']);
    expect(h.released).toEqual(['in-time', 'late']);
  });
});
