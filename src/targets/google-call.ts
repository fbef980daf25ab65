import { type Backoff, exponentialBackoff, listedBackoff } from '../domain/backoff.ts';
import { LastgoodError } from '../errors.ts';
import type { GoogleCallObservation } from '../metrics.ts';
import { retry } from '../retry.ts';
import { LeaseLostError } from './executor.ts';

/** gRPC status codes lastgood reacts to. */
export const GRPC = {
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNAVAILABLE: 14,
} as const;

/** The first wait of `quickPolls`: about what the Cloud Run emulator and a quick real operation take. */
const FIRST_POLL_MS = 20;

const RETRYABLE = new Set<number>([GRPC.UNAVAILABLE, GRPC.DEADLINE_EXCEEDED]);

/** Deadlines and retries for every Google call; shortened in tests. */
export interface GoogleCallPolicy {
  /** Per-call deadline. */
  deadlineMs: number;
  /** Waits before each retry of UNAVAILABLE / DEADLINE_EXCEEDED; its length is the number of retries. */
  retryDelaysMs: readonly number[];
  /** Interval between polls of an operation, a rollout or the service's serving state. */
  pollMs: number;
  /** How long a rollback may wait for Google to finish and for the result to verify. */
  completionTimeoutMs: number;
  sleep(ms: number): Promise<void>;
  /** Told of every attempt (lastgood's metrics), so targets/ need not know where the numbers go. */
  observe?: (observation: GoogleCallObservation) => void;
  /** Waits for the write quota of `api/project/region` (a `WriteQuota`); resolves with the ms waited. */
  writeSlot?: (key: string) => Promise<number>;
}

/** The longest a call may take under `policy`, every attempt and wait included: after that it can no longer land. */
export function callHorizonMs(policy: Pick<GoogleCallPolicy, 'deadlineMs' | 'retryDelaysMs'>): number {
  const waits = policy.retryDelaysMs.reduce((sum, delay) => sum + delay, 0);
  return policy.deadlineMs * (policy.retryDelaysMs.length + 1) + waits;
}

export function grpcCode(error: unknown): number | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : null;
}

/** gax call options: our own deadline, and no gax retries, so every retry is ours and lands in the timeline. */
export function callOptions(policy: GoogleCallPolicy) {
  return { timeout: policy.deadlineMs, retry: null };
}

/**
 * Calls Google with the policy's retries of transient failures. Other errors, and the last transient one, are
 * raised as LASTGOOD_ERR_GOOGLE_API carrying the method and gRPC code.
 */
export async function callGoogle<T>(
  method: string,
  policy: GoogleCallPolicy,
  call: () => Promise<T>,
  onRetry: (attempt: number, code: number, delayMs: number) => Promise<void>,
): Promise<T> {
  const observed = async () => {
    const startedAt = performance.now();
    try {
      const result = await call();
      policy.observe?.({ method, grpcCode: 0, durationMs: performance.now() - startedAt });
      return result;
    } catch (error) {
      policy.observe?.({ method, grpcCode: grpcCode(error), durationMs: performance.now() - startedAt });
      throw error;
    }
  };
  try {
    return await retry(observed, {
      backoff: listedBackoff(policy.retryDelaysMs),
      sleep: (ms) => policy.sleep(ms),
      retryable: (error) => RETRYABLE.has(grpcCode(error) ?? -1),
      onRetry: (attempt, error, delayMs) => onRetry(attempt, grpcCode(error)!, delayMs),
    });
  } catch (error) {
    throw googleApiError(method, error);
  }
}

/** Something that records a rollback's steps; retries are recorded as `google_retry` steps. */
export interface StepRecorder {
  decisionId: string;
  signal: AbortSignal;
  progress(step: string, detail: Record<string, unknown>): Promise<void>;
}

/** `callGoogle` with each retry recorded in the rollback's timeline (when there is a rollback to record it in). */
export function callGoogleRecorded<T>(
  recorder: StepRecorder | null,
  method: string,
  policy: GoogleCallPolicy,
  call: () => Promise<T>,
): Promise<T> {
  // A job given up at shutdown keeps running until its current await settles; it must not start new calls, whose
  // clients are being closed (another worker takes the job over).
  if (recorder?.signal.aborted) {
    return Promise.reject(
      new LeaseLostError(recorder.decisionId, 'the worker gave it up while shutting down'),
    );
  }
  return callGoogle(method, policy, call, async (attempt, code, delayMs) => {
    await recorder?.progress('google_retry', { method, attempt, grpcCode: code, delayMs });
  });
}

/**
 * Waits, before a mutating call is announced, until the write quota of its API, project and region allows it; a
 * wait is recorded, since under a storm it can last up to the quota's window.
 */
export async function awaitWriteSlot(
  recorder: StepRecorder | null,
  policy: GoogleCallPolicy,
  method: string,
  quota: { api: string; project: string; region: string },
): Promise<void> {
  const waitedMs = (await policy.writeSlot?.(`${quota.api}/${quota.project}/${quota.region}`)) ?? 0;
  if (waitedMs > 0) await recorder?.progress('write_quota_wait', { method, ...quota, waitedMs });
}

export function googleApiError(method: string, error: unknown): LastgoodError {
  const code = grpcCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return new LastgoodError('LASTGOOD_ERR_GOOGLE_API', `${method} failed: ${message}`, {
    details: { method, grpcCode: code },
    cause: error,
  });
}

/** The gRPC code behind a LASTGOOD_ERR_GOOGLE_API error, or of a raw gRPC error. */
export function googleErrorCode(error: unknown): number | null {
  if (error instanceof LastgoodError && error.code === 'LASTGOOD_ERR_GOOGLE_API') {
    return (error.details as { grpcCode: number | null }).grpcCode;
  }
  return grpcCode(error);
}

/**
 * Asks `probe` until it answers, or until the policy's completion timeout has passed; then `timedOut` gives the
 * answer. Operations, rollouts and serving state all settle this way. Between probes it waits `waits(n)` before
 * probe n + 1, by default `pollMs` each time.
 */
export async function pollUntil<T>(
  policy: GoogleCallPolicy,
  now: () => Date,
  probe: () => Promise<T | undefined>,
  timedOut: () => Promise<T>,
  waits: Backoff = () => policy.pollMs,
): Promise<T> {
  const deadline = now().getTime() + policy.completionTimeoutMs;
  for (let polls = 1; ; polls++) {
    const answer = await probe();
    if (answer !== undefined) return answer;
    if (now().getTime() > deadline) return timedOut();
    await policy.sleep(waits(polls) ?? policy.pollMs);
  }
}

/**
 * Waits for a change that usually lands within a few hundred milliseconds (a Cloud Run traffic update): the first
 * poll after `FIRST_POLL_MS`, doubling up to `pollMs`, so a quick operation is seen as soon as it is done and a
 * slow one costs only a handful of extra reads.
 */
export function quickPolls(policy: Pick<GoogleCallPolicy, 'pollMs'>): Backoff {
  return exponentialBackoff({ baseMs: Math.min(FIRST_POLL_MS, policy.pollMs), maxMs: policy.pollMs });
}
