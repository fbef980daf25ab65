/** At most `max` calls may start within any `windowMs`: Google's write quotas count requests per minute. */
export interface WriteBudget {
  max: number;
  windowMs: number;
}

/**
 * When the next call may start, given the start times already taken (ascending, future reservations included):
 * `nowMs`, or as soon as the `max`-th latest of them leaves the window. A sliding window rather than a token
 * bucket, because a bucket refilling while it bursts lets up to twice `max` through in one window.
 */
export function nextWriteSlot(starts: readonly number[], nowMs: number, budget: WriteBudget): number {
  const blocking = starts[starts.length - budget.max];
  return blocking === undefined ? nowMs : Math.max(nowMs, blocking + budget.windowMs);
}
