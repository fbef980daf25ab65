/** How long `eventually` and `until` keep asking, and how often. */
export interface PollOptions {
  /** Gives up after this long (default 10 s). */
  timeoutMs?: number;
  /** Waits this long between two asks (default 5 ms). */
  everyMs?: number;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Asks `probe` until it answers something other than `undefined` and returns that answer. Fails after the timeout
 * naming `what` (a function is read then, so it can say the last state seen).
 */
export async function eventually<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string | (() => string),
  { timeoutMs = 10_000, everyMs = 5 }: PollOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await probe();
    if (answer !== undefined) return answer;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    }
    await sleep(everyMs);
  }
}

/** Resolves once `condition` holds, asked as `eventually` asks. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string | (() => string),
  options: PollOptions = {},
): Promise<void> {
  await eventually(async () => ((await condition()) ? true : undefined), what, options);
}
