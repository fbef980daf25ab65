import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { z } from 'zod';
import { describeIssues, trafficTargetFixture } from './fixture.ts';
import { invalidArgument, RpcError } from './rpc-error.ts';

/** Matches every method in `unavailable`, `error`, `latency`, `fail-next-operation` and `hold-response` faults. */
export const ANY_METHOD = '*';

/** How many calls a fault fails; `until-cleared` keeps failing them until the faults are cleared. */
const times = z.union([z.number().int().positive(), z.literal('until-cleared')]).default(1);

const faultSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('unavailable'),
    method: z.string().min(1).default(ANY_METHOD),
    times,
  }),
  z.strictObject({
    kind: z.literal('error'),
    /** The call answers this gRPC status instead of being handled, e.g. 7 PERMISSION_DENIED, 8 RESOURCE_EXHAUSTED. */
    method: z.string().min(1).default(ANY_METHOD),
    code: z.number().int().min(1).max(16),
    message: z.string().min(1).default('Injected fault.'),
    times,
  }),
  z.strictObject({
    kind: z.literal('latency'),
    method: z.string().min(1).default(ANY_METHOD),
    ms: z.number().int().min(0).max(60_000),
  }),
  z.strictObject({
    kind: z.literal('fail-next-operation'),
    /** UpdateService or UpdateDeliveryPipeline: its next operation ends with `error` instead of a response. */
    method: z.string().min(1).default(ANY_METHOD),
    code: z.number().int().min(1).max(16).default(status.INTERNAL),
    message: z.string().min(1).default('Injected fault: the operation failed.'),
  }),
  z.strictObject({
    kind: z.literal('concurrent-traffic-change'),
    /** After the next GetService of this service, someone else changes it, so the etag just read goes stale. */
    service: z.string().min(1),
    /** The traffic they set; without it they change only a label, which still moves the etag. */
    traffic: z.array(trafficTargetFixture).min(1).optional(),
  }),
  z.strictObject({
    kind: z.literal('concurrent-pipeline-change'),
    /**
     * After the next GetDeliveryPipeline of this pipeline, someone else changes it, so the etag just read goes
     * stale: they suspend it when `suspend` is true, else they change only a label.
     */
    pipeline: z.string().min(1),
    suspend: z.boolean().default(false),
  }),
  z.strictObject({
    kind: z.literal('hold-response'),
    /**
     * The next call of this method that succeeds is applied as usual, then its answer is held back for `ms`: the
     * crash window between Google accepting a mutation and the caller learning it did. `validate_only` calls
     * change nothing, so they pass untouched. While held, the call's record in the call log has `code: null`
     * and the state already shows the change; clearing the faults (or reset, or stop) releases it at once.
     */
    method: z.string().min(1).default(ANY_METHOD),
    ms: z.number().int().min(0).max(60_000),
    /** What the caller gets when the hold ends: the real response, or UNAVAILABLE, as if it was lost on the way. */
    answer: z.enum(['response', 'unavailable']).default('response'),
  }),
  z.strictObject({
    kind: z.literal('fail-next-rollout'),
    /** The Cloud Deploy target id whose next rollout fails; any target when omitted. */
    targetId: z.string().min(1).optional(),
    /** The terminal state it ends in instead of SUCCEEDED; CANCELLED as if someone cancelled it meanwhile. */
    state: z.enum(['FAILED', 'HALTED', 'CANCELLED']).default('FAILED'),
    message: z.string().min(1).default('Injected fault: the deploy job failed.'),
  }),
]);

/** A fault to inject, as passed to `faults.inject()` or POSTed to the admin endpoint's `/faults`. */
export type FaultSpec = z.input<typeof faultSpecSchema>;
/** A fault with its defaults filled in. */
export type Fault = z.output<typeof faultSpecSchema>;
export type ConcurrentTrafficChange = Extract<Fault, { kind: 'concurrent-traffic-change' }>;
export type ConcurrentPipelineChange = Extract<Fault, { kind: 'concurrent-pipeline-change' }>;
export type OperationFailure = { code: number; message: string };
export type RolloutFailure = { state: 'FAILED' | 'HALTED' | 'CANCELLED'; reason: string };

/**
 * Checks a fault against the emulated state when it is injected (e.g. that a concurrent change names a real
 * service), so a bad fault fails the test that sets it rather than a later, unrelated call.
 */
export type FaultValidator = (fault: Fault) => void;

/** Faults injected per test, consumed by the calls they target. */
export class FaultInjector {
  readonly #knownMethods = new Set<string>();
  readonly #validators: FaultValidator[] = [];
  #faults: Fault[] = [];
  /** Ends the wait of each answer a `hold-response` fault is holding back. */
  readonly #holds = new Set<() => void>();

  /** Declares the methods faults may name; the emulator's method names must be unique across its services. */
  registerMethods(methods: Iterable<string>): void {
    for (const method of methods) {
      if (this.#knownMethods.has(method)) throw new Error(`method name ${method} is served twice`);
      this.#knownMethods.add(method);
    }
  }

  addValidator(validator: FaultValidator): void {
    this.#validators.push(validator);
  }

  /** Validates and arms a fault; throws an `RpcError` (INVALID_ARGUMENT) describing what is wrong with it. */
  inject(spec: FaultSpec): Fault {
    const parsed = faultSpecSchema.safeParse(spec);
    if (!parsed.success) throw invalidArgument(describeIssues('fault', parsed.error));
    const fault = parsed.data;
    if ('method' in fault && fault.method !== ANY_METHOD && !this.#knownMethods.has(fault.method)) {
      throw invalidArgument(
        `Unknown method "${fault.method}" in fault; known methods: ${[...this.#knownMethods].sort().join(', ')}.`,
      );
    }
    for (const validate of this.#validators) validate(fault);
    this.#faults.push(fault);
    return fault;
  }

  /** The faults still armed, in injection order. */
  active(): Fault[] {
    return this.#faults.map((fault) => ({ ...fault }));
  }

  /** Disarms every fault and releases the answers still held, so no call waits on a fault that is gone. */
  clear(): void {
    this.#faults = [];
    for (const release of this.#holds) release();
    this.#holds.clear();
  }

  /**
   * Applies the faults that hit a call before it is handled: the injected latency, then UNAVAILABLE or the
   * injected error. Their budgets are taken on arrival so concurrent calls consume them in arrival order.
   */
  async beforeCall(method: string): Promise<void> {
    const outage = this.#consume('unavailable', (fault) => matches(fault.method, method));
    const error = outage ? undefined : this.#consume('error', (fault) => matches(fault.method, method));
    const latency = this.#latencyFor(method);
    if (latency > 0) await sleep(latency);
    if (outage) throw new RpcError(status.UNAVAILABLE, `Injected fault: ${method} is unavailable.`);
    if (error) throw new RpcError(error.code, error.message);
  }

  /**
   * Applies the faults that hit a call after it was handled and changed the state: a `hold-response` fault
   * delays the answer, then lets it through or replaces it with UNAVAILABLE.
   */
  async afterCall(method: string, request: unknown): Promise<void> {
    if ((request as { validateOnly?: unknown } | null)?.validateOnly === true) return;
    const hold = this.#consume('hold-response', (fault) => matches(fault.method, method));
    if (!hold) return;
    await new Promise<void>((resolve) => {
      const release = () => {
        clearTimeout(timer);
        this.#holds.delete(release);
        resolve();
      };
      const timer = setTimeout(release, hold.ms);
      this.#holds.add(release);
    });
    if (hold.answer === 'unavailable') {
      throw new RpcError(
        status.UNAVAILABLE,
        `Injected fault: ${method} was applied but its answer was lost.`,
      );
    }
  }

  /** The failure the next operation started by `method` must end with, if one was injected; consumes it. */
  takeOperationFailure(method: string): OperationFailure | null {
    const failure = this.#consume('fail-next-operation', (fault) => matches(fault.method, method));
    return failure ? { code: failure.code, message: failure.message } : null;
  }

  /** The concurrent change to apply after a GetService of `serviceName`, if one was injected; consumes it. */
  takeConcurrentTrafficChange(serviceName: string): ConcurrentTrafficChange | null {
    return this.#consume('concurrent-traffic-change', (fault) => fault.service === serviceName) ?? null;
  }

  /** The concurrent change to apply after a GetDeliveryPipeline of `pipelineName`, if one was injected; consumes it. */
  takeConcurrentPipelineChange(pipelineName: string): ConcurrentPipelineChange | null {
    return this.#consume('concurrent-pipeline-change', (fault) => fault.pipeline === pipelineName) ?? null;
  }

  /** How the next rollout created on `targetId` must end instead of SUCCEEDED, if a fault says so; consumes it. */
  takeRolloutFailure(targetId: string): RolloutFailure | null {
    const failure = this.#consume(
      'fail-next-rollout',
      (fault) => fault.targetId === undefined || fault.targetId === targetId,
    );
    return failure ? { state: failure.state, reason: failure.message } : null;
  }

  /** Takes one use of the first matching fault of a kind, disarming it when its uses run out. */
  #consume<K extends Fault['kind']>(
    kind: K,
    predicate: (fault: Extract<Fault, { kind: K }>) => boolean,
  ): Extract<Fault, { kind: K }> | undefined {
    const index = this.#faults.findIndex(
      (fault) => fault.kind === kind && predicate(fault as Extract<Fault, { kind: K }>),
    );
    if (index < 0) return undefined;
    const fault: Fault = this.#faults[index]!;
    const usesLeft = 'times' in fault ? fault.times : 1;
    if (usesLeft === 'until-cleared') return fault as Extract<Fault, { kind: K }>;
    if (usesLeft > 1 && 'times' in fault) this.#faults[index] = { ...fault, times: usesLeft - 1 };
    else this.#faults.splice(index, 1);
    return fault as Extract<Fault, { kind: K }>;
  }

  /** A method's own latency wins over one set for every method. */
  #latencyFor(method: string): number {
    const latencies = this.#faults.filter((fault) => fault.kind === 'latency');
    const own = latencies.findLast((fault) => fault.method === method);
    return (own ?? latencies.findLast((fault) => fault.method === ANY_METHOD))?.ms ?? 0;
  }
}

function matches(pattern: string, method: string): boolean {
  return pattern === ANY_METHOD || pattern === method;
}
