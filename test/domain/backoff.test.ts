import { describe, expect, it } from 'vitest';
import { exponentialBackoff, listedBackoff } from '../../src/domain/backoff.ts';

describe('listedBackoff', () => {
  it('waits the listed delays in order, then has no retry left', () => {
    const backoff = listedBackoff([5_000, 10_000, 30_000]);
    expect([1, 2, 3, 4].map(backoff)).toEqual([5_000, 10_000, 30_000, null]);
  });

  it('gives no retry at all when the list is empty', () => {
    expect(listedBackoff([])(1)).toBeNull();
  });
});

describe('exponentialBackoff', () => {
  it('doubles from the base and stops growing at the cap', () => {
    const backoff = exponentialBackoff({ baseMs: 5_000, maxMs: 60_000 });
    expect([1, 2, 3, 4, 5, 50].map(backoff)).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000]);
  });

  it('waits the base before the first retry even when asked about retry 0', () => {
    expect(exponentialBackoff({ baseMs: 1_000, maxMs: 60_000 })(0)).toBe(1_000);
  });
});
