/** The nearest-rank percentile of ascending `sorted` values; null when there are none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  // p * n carries binary rounding (0.07 * 100 is 7.000000000000001), which ceil would push one rank too high.
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length - 1e-9)));
  return sorted[rank - 1]!;
}
