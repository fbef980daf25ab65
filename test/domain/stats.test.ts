import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { percentile } from '../../src/domain/stats.ts';

const ONE_TO_HUNDRED = Array.from({ length: 100 }, (_, i) => i + 1);

describe('percentile', () => {
  it.each([
    ['no values', [], 0.5, null],
    ['one value', [42], 0.95, 42],
    ['the median of two', [10, 20], 0.5, 10],
    ['the 95th of two', [10, 20], 0.95, 20],
    ['p = 0', [3, 5, 8], 0, 3],
    ['p = 1', [3, 5, 8], 1, 8],
    ['the 95th of 20', Array.from({ length: 20 }, (_, i) => i + 1), 0.95, 19],
    ['a rank that p * n overshoots in binary (0.07 * 100)', ONE_TO_HUNDRED, 0.07, 7],
    ['another (0.55 * 100)', ONE_TO_HUNDRED, 0.55, 55],
  ])('takes the nearest rank for %s', (_name, values, p, expected) => {
    expect(percentile(values, p)).toBe(expected);
  });

  it('matches the exact nearest rank, ceil(percent × n / 100), for every whole percent', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 500 }),
        fc.integer({ min: 1, max: 100 }),
        (values, percent) => {
          const sorted = [...values].sort((a, b) => a - b);
          const rank = Math.max(1, Math.ceil((percent * sorted.length) / 100));
          expect(percentile(sorted, percent / 100)).toBe(sorted[rank - 1]);
        },
      ),
    );
  });
});
