import { getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { releaseStartupMemory } from '../src/memory.ts';

const youngGenerationBytes = () =>
  getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;

describe('releasing start-up memory', () => {
  it('shrinks the young generation that a burst of allocation grew, and leaves no gc() for other code', () => {
    // A burst of short-lived objects, as loading the Google clients makes: V8 grows its young generation for it.
    let live: object[] = [];
    for (let i = 0; i < 3_000_000; i++) {
      live.push({ i });
      if (live.length > 200_000) live = [];
    }
    const grown = youngGenerationBytes();

    releaseStartupMemory();

    expect(youngGenerationBytes()).toBeLessThan(grown);
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });
});
