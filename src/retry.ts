import type { Backoff } from './domain/backoff.ts';

/** What a retry loop needs besides the work: its schedule, a sleep (injected so tests need not wait), a filter. */
export interface RetryOptions {
  backoff: Backoff;
  sleep(ms: number): Promise<void>;
  /** Whether this failure may go away on its own; others are thrown at once. */
  retryable(error: unknown): boolean;
  /** Told before each wait, so the caller can record the retry. */
  onRetry?(retry: number, error: unknown, delayMs: number): Promise<void>;
}

/** Runs `attempt` until it succeeds, fails for good, or the backoff has no wait left; then throws its last error. */
export async function retry<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let retries = 0; ; retries++) {
    try {
      return await attempt();
    } catch (error) {
      const delayMs = options.retryable(error) ? options.backoff(retries + 1) : null;
      if (delayMs === null) throw error;
      await options.onRetry?.(retries + 1, error, delayMs);
      await options.sleep(delayMs);
    }
  }
}
