import { setImmediate as nextTurn } from 'node:timers/promises';
import { type Backoff, exponentialBackoff, listedBackoff } from '../domain/backoff.ts';
import { LastgoodError } from '../errors.ts';
import type { GoogleCallObservation } from '../metrics.ts';
import { retry } from '../retry.ts';
import { type ExecutionContext, LeaseLostError } from './executor.ts';

/** gRPC status codes lastgood reacts to. */
export const GRPC = {
  CANCELLED: 1,
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

/**
 * When a rollback's time runs out (LASTGOOD_ROLLBACK_TIMEOUT from its start): every call and poll of the rollback
 * is cut to it, so the timeout bounds the whole job.
 */
export interface CallBudget {
  now(): Date;
  /** Epoch milliseconds. */
  endsAt: number;
}

/** A budget of the policy's rollback timeout, starting now. */
export function startBudget(policy: GoogleCallPolicy, now: () => Date): CallBudget {
  return { now, endsAt: now().getTime() + policy.completionTimeoutMs };
}

/** A rollback under way: its context, and the budget every call and poll it makes is cut to. */
export type RollbackJob = ExecutionContext & CallBudget;

/**
 * The rollback starting now, with a budget of the policy's rollback timeout. Its reads of lastgood's own history
 * start on the event loop's next turn: node:sqlite runs a read synchronously, and Node sends the HTTP/2 frames of the
 * Google calls a turn started only once that turn is over, so a history read started beside them held them back by
 * its own time, where started after them it runs while Google answers.
 */
export function startRollback(context: ExecutionContext, policy: GoogleCallPolicy): RollbackJob {
  return {
    ...context,
    ...startBudget(policy, context.now),
    trafficHistory: () => nextTurn().then(() => context.trafficHistory()),
    incidents: () => nextTurn().then(() => context.incidents()),
    correlatedIncidents: (around, windowMs) =>
      nextTurn().then(() => context.correlatedIncidents(around, windowMs)),
  };
}

function timeLeft(budget: CallBudget | null): number {
  return budget === null ? Number.POSITIVE_INFINITY : budget.endsAt - budget.now().getTime();
}

/**
 * gax call options: our own deadline, and no gax retries, so every retry is ours and lands in the timeline. Within
 * a budget the deadline is cut to the time left; once it has run out a call gets the whole deadline, because the
 * only calls made then are the last reads of the truth before it is recorded.
 */
export function callOptions(policy: GoogleCallPolicy, budget: CallBudget | null = null) {
  const left = timeLeft(budget);
  return {
    timeout: left > 0 ? Math.min(policy.deadlineMs, Math.ceil(left)) : policy.deadlineMs,
    retry: null,
  };
}

/** The gax options one attempt is made with. */
export type GoogleCallOptions = ReturnType<typeof callOptions>;

/**
 * Calls Google with the policy's retries of transient failures. Other errors, and the last transient one, are
 * raised as LASTGOOD_ERR_GOOGLE_API carrying the method and gRPC code.
 */
export async function callGoogle<T>(
  method: string,
  policy: GoogleCallPolicy,
  call: (options: GoogleCallOptions) => Promise<T>,
  onRetry: (attempt: number, code: number, delayMs: number) => Promise<void>,
  budget: CallBudget | null = null,
): Promise<T> {
  const observed = async () => {
    const startedAt = performance.now();
    try {
      const result = await call(callOptions(policy, budget));
      policy.observe?.({ method, grpcCode: 0, durationMs: performance.now() - startedAt });
      return result;
    } catch (error) {
      policy.observe?.({ method, grpcCode: grpcCode(error), durationMs: performance.now() - startedAt });
      throw error;
    }
  };
  try {
    return await retry(observed, {
      backoff: withinBudget(listedBackoff(policy.retryDelaysMs), budget),
      sleep: (ms) => policy.sleep(ms),
      retryable: (error) => RETRYABLE.has(grpcCode(error) ?? -1),
      onRetry: (attempt, error, delayMs) => onRetry(attempt, grpcCode(error)!, delayMs),
    });
  } catch (error) {
    throw googleApiError(method, error);
  }
}

/** No retry whose wait would end past the budget: the time left is for reading the truth, not for more retries. */
function withinBudget(backoff: Backoff, budget: CallBudget | null): Backoff {
  return (retry) => {
    const delayMs = backoff(retry);
    return delayMs !== null && delayMs < timeLeft(budget) ? delayMs : null;
  };
}

/** What lastgood reads of a long-running operation. */
export interface OperationStatus {
  done?: boolean | null;
  error?: { code?: number | null; message?: string | null } | null;
}

/**
 * GetOperation through a client's operations client, with our call options: the generated
 * `check...Progress` helpers take none, so they wait out the library's own 60 s timeout instead of our deadline.
 */
export async function getOperation<Request>(
  operations: { getOperation(request: Request, options: GoogleCallOptions): Promise<[OperationStatus]> },
  name: string,
  options: GoogleCallOptions,
): Promise<OperationStatus> {
  // gax types the request as its protobuf class, but encodes a plain object just the same.
  const [operation] = await operations.getOperation({ name } as Request, options);
  return operation;
}

/**
 * Every item of a list method, its pages followed here (`page` calls it with `autoPaginate: false`). gax's own
 * auto-pagination sends even the first request only on a later turn of the event loop (it schedules it with
 * setImmediate), after everything else that turn runs; this one leaves with the calls started beside it.
 */
export async function allPages<Request, Item>(
  first: Request,
  page: (request: Request) => Promise<[Item[], Request | null | undefined, unknown]>,
): Promise<Item[]> {
  const items: Item[] = [];
  for (let request: Request | null | undefined = first; request; ) {
    const [found, next]: [Item[], Request | null | undefined, unknown] = await page(request);
    items.push(...found);
    request = next;
  }
  return items;
}

/** Something that records a rollback's steps; retries are recorded as `google_retry` steps. */
export interface StepRecorder {
  decisionId: string;
  signal: AbortSignal;
  progress(step: string, detail: Record<string, unknown>): Promise<void>;
}

/** A rollback under way: where its steps are recorded, and the budget its calls are cut to. */
export type RollbackCalls = StepRecorder & CallBudget;

/**
 * Where the calls a rollback starts before its job runs (`RollbackExecutor.startReads`) record their retries: in the
 * job's timeline, once the job runs. They are cut short with the job, or at once if it never runs here.
 */
export class PendingJobRecorder implements StepRecorder {
  readonly #stopped = new AbortController();
  readonly #job = Promise.withResolvers<StepRecorder | null>();
  #decisionId = 'a rollback still being decided';

  get decisionId(): string {
    return this.#decisionId;
  }

  get signal(): AbortSignal {
    return this.#stopped.signal;
  }

  async progress(step: string, detail: Record<string, unknown>): Promise<void> {
    await (await this.#job.promise)?.progress(step, detail);
  }

  /** The job runs now: what waited to be recorded is recorded in its timeline, and the job's end stops the calls. */
  attach(job: StepRecorder): void {
    this.#decisionId = job.decisionId;
    if (job.signal.aborted) this.#stopped.abort();
    else job.signal.addEventListener('abort', () => this.#stopped.abort(), { once: true });
    this.#job.resolve(job);
  }

  /** No job will run on these calls: nothing more is recorded, and none of them is tried again. */
  discard(): void {
    this.#stopped.abort();
    this.#job.resolve(null);
  }
}

/**
 * `callGoogle` with each retry recorded in the rollback's timeline (when there is one), and cut to the rollback's
 * budget when the recorder carries one; other calls get the plain deadline and retries.
 */
export function callGoogleRecorded<T>(
  recorder: StepRecorder | RollbackCalls | null,
  method: string,
  policy: GoogleCallPolicy,
  call: (options: GoogleCallOptions) => Promise<T>,
): Promise<T> {
  // A job given up at shutdown keeps running until its current await settles; it must not start new calls, whose
  // clients are being closed (another worker takes the job over).
  if (recorder?.signal.aborted) {
    return Promise.reject(
      new LeaseLostError(recorder.decisionId, 'the worker gave it up while shutting down'),
    );
  }
  return callGoogle(
    method,
    policy,
    call,
    async (attempt, code, delayMs) => {
      await recorder?.progress('google_retry', { method, attempt, grpcCode: code, delayMs });
    },
    recorder !== null && 'endsAt' in recorder ? recorder : null,
  );
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
 * Records a mutating call that failed: `mutation_unanswered` when it may still land (so the target must be
 * followed, not assumed unchanged), else `mutation_refused`. Returns which, and the message to record.
 */
export async function recordFailedMutation(
  recorder: StepRecorder,
  method: string,
  error: unknown,
): Promise<{ doubtful: boolean; message: string }> {
  const doubtful = inDoubt(error);
  const message = error instanceof Error ? error.message : String(error);
  await recorder.progress(doubtful ? 'mutation_unanswered' : 'mutation_refused', {
    method,
    grpcCode: googleErrorCode(error),
    error: message,
  });
  return { doubtful, message };
}

/**
 * Whether a failed call may have been cut short rather than refused: a read that may answer next time, or a
 * mutation that may still land. The other failures are Google's definite answer.
 */
export function inDoubt(error: unknown): boolean {
  return RETRYABLE.has(googleErrorCode(error) ?? -1) || googleErrorCode(error) === GRPC.CANCELLED;
}

/**
 * Asks `probe` until it answers or the budget runs out; then `timedOut` gives the answer (its own last read of the
 * truth). A probe failing in doubt (DEADLINE_EXCEEDED, UNAVAILABLE) is recorded as `poll_error` and asked again:
 * Google's trouble answering says nothing about the operation or rollout being followed. Between probes it waits
 * `waits(n)` before probe n + 1, by default `pollMs` each time.
 */
export async function pollUntil<T>(
  policy: GoogleCallPolicy,
  job: CallBudget & { progress?: StepRecorder['progress'] },
  probe: () => Promise<T | undefined>,
  timedOut: () => Promise<T>,
  waits: Backoff = () => policy.pollMs,
): Promise<T> {
  for (let polls = 1; ; polls++) {
    if (timeLeft(job) <= 0) return timedOut();
    try {
      const answer = await probe();
      if (answer !== undefined) return answer;
    } catch (error) {
      if (!inDoubt(error)) throw error;
      await job.progress?.('poll_error', pollErrorDetail(error));
    }
    const left = timeLeft(job);
    if (left > 0) await policy.sleep(Math.min(waits(polls) ?? policy.pollMs, left));
  }
}

function pollErrorDetail(error: unknown): Record<string, unknown> {
  const method =
    error instanceof LastgoodError ? (error.details as { method?: string } | undefined)?.method : undefined;
  return { method: method ?? null, grpcCode: googleErrorCode(error) };
}

/**
 * Waits for a change that usually lands within a few hundred milliseconds (a Cloud Run traffic update): the first
 * poll after `FIRST_POLL_MS`, doubling up to `pollMs`, so a quick operation is seen as soon as it is done and a
 * slow one costs only a handful of extra reads.
 */
export function quickPolls(policy: Pick<GoogleCallPolicy, 'pollMs'>): Backoff {
  return exponentialBackoff({ baseMs: Math.min(FIRST_POLL_MS, policy.pollMs), maxMs: policy.pollMs });
}
