/**
 * How long to wait before each retry: the wait before retry `retry` (1 = the first retry), or null when no retry is
 * left. Pure, so every retry loop is tested without a clock; the loop that uses it is given its own sleep.
 */
export type Backoff = (retry: number) => number | null;

/** The listed waits in order; their number is the number of retries. */
export function listedBackoff(delaysMs: readonly number[]): Backoff {
  return (retry) => delaysMs[retry - 1] ?? null;
}

/** `baseMs`, then doubled each retry, never more than `maxMs`; it never gives up, so its caller counts attempts. */
export function exponentialBackoff(settings: { baseMs: number; maxMs: number }): Backoff {
  return (retry) => Math.min(settings.maxMs, settings.baseMs * 2 ** Math.max(0, retry - 1));
}
