import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextWriteSlot } from '../../src/domain/write-window.ts';

const budget = { max: 3, windowMs: 1_000 };

describe('nextWriteSlot', () => {
  it.each([
    ['no call yet', [], 5_000, 5_000],
    ['fewer calls than the budget in the window', [4_500, 4_800], 5_000, 5_000],
    ['a full window: when its oldest call leaves it', [4_200, 4_500, 4_800], 5_000, 5_200],
    ['a full window that has already passed', [3_000, 3_500, 3_900], 5_000, 5_000],
    ['reservations queued ahead: after the third-latest leaves', [4_200, 4_500, 4_800, 5_200], 5_000, 5_500],
  ])('%s', (_name, starts, now, expected) => {
    expect(nextWriteSlot(starts, now, budget)).toBe(expected);
  });

  it('never lets more than max calls start within any window, however they arrive', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3_000 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 5 }),
        (gaps, max) => {
          const window = { max, windowMs: 1_000 };
          const starts: number[] = [];
          let now = 0;
          for (const gap of gaps) {
            now += gap;
            starts.push(nextWriteSlot(starts, now, window));
          }
          for (const [index, start] of starts.entries()) {
            const inWindow = starts.filter((at) => at >= start && at < start + window.windowMs);
            expect(inWindow.length, `from start ${index}`).toBeLessThanOrEqual(max);
          }
        },
      ),
    );
  });
});
