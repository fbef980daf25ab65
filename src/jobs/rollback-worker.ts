import type { Clock } from '../clock.ts';
import { type Controls, effectiveControls, type StoredControls } from '../domain/controls.ts';
import { type IncidentEvidence, incidentOf } from '../domain/evidence.ts';
import { outcomeWithoutChange, type RollbackOutcome } from '../domain/rollback.ts';
import type { TargetConfig } from '../domain/target.ts';
import type { TargetKind } from '../domain/types.ts';
import { rollbackErrorCodeOf } from '../errors.ts';
import type { RollbackSlot } from '../ingest/intake.ts';
import { type Logger, withLogLabels } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { newId } from '../store/ids.ts';
import type { HeldLease, JobRecord, Store } from '../store/store.ts';
import {
  type ExecutionContext,
  LeaseLostError,
  type RollbackExecutor,
  type StartedRollback,
} from '../targets/executor.ts';
import { WorkerLoop } from '../worker-loop.ts';
import { readCorrelatedIncidents } from './correlated-incidents.ts';

const INCIDENT_LOOKBACK_MS = 7 * 24 * 3_600_000;

/** A job this worker holds, and the reads of Google its rollback began with at its decision, if it did. */
interface Claimed {
  job: JobRecord;
  started: StartedRollback | null;
}

/** The controls, read in the fence before a mutating call, no longer let the rollback change production. */
class ControlsRefusedError extends Error {}

/**
 * Why the controls in force now forbid this rollback, or null when they allow it: what a decision made now would
 * allow (a person's request passes `dry-run` and `notify`, an automatic rollback only `auto`).
 */
function controlsRefusal(
  stored: StoredControls,
  defaults: Controls,
  target: TargetConfig,
  manual: boolean,
): string | null {
  const { enabled, policy } = effectiveControls(stored, defaults, target.policy);
  if (!enabled) return 'the kill switch is off';
  if (policy.mode === 'off' || (!manual && policy.mode !== 'auto')) return `target mode is ${policy.mode}`;
  return null;
}

export interface WorkerOptions {
  store: Store;
  targets: ReadonlyMap<string, TargetConfig>;
  executors: Partial<Record<TargetKind, RollbackExecutor>>;
  controls: Controls;
  clock: Clock;
  logger: Logger;
  /** This process's name in job leases. */
  owner: string;
  leaseMs: number;
  /**
   * How long a Google call may still land after it was sent, retries included: the announcement of a mutation holds
   * the job's lease at least that long, so no claim (this process's own included) acts again while it may land.
   */
  callHorizonMs: number;
  /** How often to look for jobs when not woken (jobs enqueued by other replicas, expired leases). */
  pollMs: number;
  concurrency: number;
  metrics: Pick<Metrics, 'rollbackFinished' | 'rollbacksNotHealed'>;
}

/**
 * Runs rollback jobs from the store. Each job is held under a lease that is renewed while it runs; a job whose
 * owner died is taken over once its lease expires. Every job ends with a recorded terminal state.
 */
export class RollbackWorker {
  readonly #options: WorkerOptions;
  readonly #loop: WorkerLoop<Claimed>;

  constructor(options: WorkerOptions) {
    this.#options = options;
    const { store, clock, owner, leaseMs } = options;
    this.#loop = new WorkerLoop<Claimed>({
      // One job per claim, so each starts before the next is leased.
      claim: async () => {
        const job = await store.claimJob(owner, clock.now(), leaseMs);
        return job === null ? [] : [{ job, started: null }];
      },
      run: ({ job, started }, signal) => this.#run(job, signal, started),
      release: ({ job, started }) => {
        started?.discard();
        return store.releaseJob(job.id, owner, clock.now());
      },
      onPoll: () => void this.#sweepVerifications(),
      concurrency: options.concurrency,
      pollMs: options.pollMs,
      logger: options.logger,
      what: 'rollback jobs',
    });
  }

  start(): void {
    this.#loop.start();
  }

  /** Looks for work now: called when this process has just queued a rollback for any worker. */
  wake(): void {
    this.#loop.wake();
  }

  /**
   * A place for a rollback this process is deciding, so its job is created claimed by this worker and run here at
   * once; null when every place is taken (the job is queued for whichever worker has room) or the worker stopped.
   * An automatic rollback's first reads of Google start with it (`RollbackExecutor.startReads`).
   */
  reserve(target: TargetConfig, incident: IncidentEvidence | null): RollbackSlot | null {
    const reservation = this.#loop.reserve();
    if (reservation === null) return null;
    const started = incident === null ? null : this.#startReads(target, incident);
    return {
      lease: { owner: this.#options.owner, leaseMs: this.#options.leaseMs },
      // Started on the next turn, so the alert's 2xx, sent once intake returns, is written before the job's work.
      run: (job) => setImmediate(() => reservation.start({ job, started })),
      cancel: () => {
        started?.discard();
        reservation.cancel();
      },
    };
  }

  /**
   * The executor's early reads, started on the next turn: the decision reserves its place inside its transaction,
   * whose COMMIT this turn makes, so the reads leave while that commit is synced rather than delaying it.
   */
  #startReads(target: TargetConfig, incident: IncidentEvidence): StartedRollback | null {
    const executor = this.#options.executors[target.kind];
    if (executor?.startReads === undefined) return null;
    let started: StartedRollback | null = null;
    let discarded = false;
    setImmediate(() => {
      if (discarded) return;
      try {
        started = executor.startReads?.(target, incident, () => this.#options.clock.now()) ?? null;
      } catch (error) {
        // The job reads for itself when it runs, and meets (and records) the same trouble then.
        this.#options.logger.warn(
          { err: error, target: target.name },
          'could not start the rollback reads early',
        );
      }
    });
    return {
      execute: (context) => (started ?? executor).execute(context),
      discard: () => {
        discarded = true;
        started?.discard();
      },
    };
  }

  /** Rollbacks whose verification window ended without the incident closing did not heal: escalate them. */
  async #sweepVerifications(): Promise<void> {
    try {
      const notHealed = await this.#options.store.expireVerifications(this.#options.clock.now());
      if (notHealed > 0) {
        this.#options.metrics.rollbacksNotHealed(notHealed);
        this.#options.logger.error(
          { rollbacks: notHealed },
          'rollback did not heal the service; a person is needed',
        );
      }
    } catch (error) {
      this.#options.logger.error(
        { err: error },
        'checking rollback verifications failed; retrying at the next poll',
      );
    }
  }

  /**
   * Stops claiming, lets running jobs finish for up to `graceMs`, then gives back the leases of those still
   * running so another replica takes them over at once instead of after the lease expires.
   */
  async stop(graceMs: number): Promise<void> {
    await this.#loop.stop(graceMs);
  }

  get activeJobs(): number {
    return this.#loop.active;
  }

  async #run(job: JobRecord, signal: AbortSignal, started: StartedRollback | null): Promise<void> {
    const { store, clock, logger } = this.#options;
    const log = logger.child(
      withLogLabels({ decisionId: job.decisionId, target: job.targetName, jobId: job.id }),
    );
    const { leaseMs } = this.#options;
    const renewEvery = Math.max(50, Math.floor(leaseMs / 3));
    let owned = true;
    const renew = () => {
      void store
        .renewLease(this.#lease(job, leaseMs))
        .then((still) => {
          owned &&= still;
        })
        .catch((error: unknown) => log.warn({ err: error }, 'lease renewal failed'));
      renewal = setTimeout(renew, renewEvery);
    };
    // Renewed a third into the lease, as timed from when it was taken: a job created claimed took it at its
    // decision, before that commit, so a schedule started now would leave less of it at the first renewal.
    const leasedFor = leaseMs - (job.leaseExpiresAt.getTime() - clock.now().getTime());
    let renewal = setTimeout(renew, Math.max(0, renewEvery - leasedFor));
    try {
      const outcome = await this.#execute(job, () => owned, signal, started);
      const finishedAt = clock.now();
      const recorded = await store.completeJob(
        job,
        outcome,
        {
          at: finishedAt,
          step: outcome.state,
          detail: {
            fromRevision: outcome.fromRevision,
            toRevision: outcome.toRevision,
            ...(outcome.errorCode === null
              ? {}
              : { errorCode: outcome.errorCode, error: outcome.errorMessage }),
            ...(outcome.judgement === undefined ? {} : { judgement: outcome.judgement }),
          },
        },
        // A target gone from the configuration never succeeds (its job is skipped), so no window is needed.
        this.#options.targets.get(job.targetName)?.execution.verificationWindowMs ?? 0,
      );
      if (!recorded) {
        log.warn('lost the lease before recording the outcome; the new owner finishes the job');
        return;
      }
      this.#options.metrics.rollbackFinished(
        job.targetName,
        outcome.state,
        outcome.state === 'succeeded' ? await this.#sinceAlert(job.decisionId, finishedAt) : null,
      );
      if (outcome.state === 'succeeded') log.info({ outcome }, 'rollback succeeded');
      else if (outcome.state === 'failed') log.error({ outcome }, 'rollback failed');
      else log.warn({ outcome }, `rollback ended ${outcome.state}`);
    } catch (error) {
      if (error instanceof LeaseLostError) log.warn(error.message);
      else log.error({ err: error }, 'rollback job crashed; its lease will expire and it will be retried');
    } finally {
      clearTimeout(renewal);
      started?.discard();
    }
  }

  /** The lease `job`'s claim holds, renewed for `leaseMs` from now. */
  #lease(job: JobRecord, leaseMs: number): HeldLease {
    return {
      jobId: job.id,
      owner: job.leaseOwner,
      generation: job.generation,
      now: this.#options.clock.now(),
      leaseMs,
    };
  }

  /** Time to rollback as `GET /rollback/metrics` measures it: from the alert's arrival (or the manual request). */
  async #sinceAlert(decisionId: string, finishedAt: Date): Promise<number | null> {
    const status = await this.#options.store.getStatus(decisionId);
    if (status === null) return null;
    const startedAt = status.alert?.receivedAt ?? status.decision.decidedAt;
    return finishedAt.getTime() - startedAt.getTime();
  }

  async #execute(
    job: JobRecord,
    owned: () => boolean,
    signal: AbortSignal,
    started: StartedRollback | null,
  ): Promise<RollbackOutcome> {
    const { store, clock, controls } = this.#options;
    const status = await store.getStatus(job.decisionId);
    const target = this.#options.targets.get(job.targetName);
    if (status === null || target === undefined) {
      return outcomeWithoutChange(
        'skipped',
        'UNKNOWN_TARGET',
        `Target ${job.targetName} is no longer configured`,
      );
    }
    // The kill switch may have been flipped between the decision and now, here or on another replica; it wins.
    // It is read again in the fence before each mutating call, which may come long after this.
    const manual = status.decision.requestedBy !== null;
    const refusal = controlsRefusal(await store.controls(target.name), controls, target, manual);
    if (refusal !== null) {
      return outcomeWithoutChange('skipped', 'KILL_SWITCH', `Not rolled back: ${refusal}`);
    }
    const executor = this.#options.executors[target.kind];
    if (executor === undefined) {
      return outcomeWithoutChange(
        'failed',
        'INTERNAL',
        `No executor for ${target.kind} targets in this process`,
      );
    }
    // Steps an executor asks for together may commit in any order on PostgreSQL; their ids, made now, keep the
    // timeline in the order they were asked for.
    const timelineStep = (step: string, detail: Record<string, unknown>, at = clock.now()) => ({
      at,
      step,
      detail,
      id: newId('evt', at.getTime()),
    });
    const signalOfAlert = status.decision.reason === 'MANUAL' ? null : (status.alert?.signal ?? null);
    const context: ExecutionContext = {
      decisionId: job.decisionId,
      target,
      requestedRevision: status.decision.requestedRevision,
      incident: signalOfAlert === null ? null : incidentOf(signalOfAlert),
      previous: {
        fromRevision: status.rollback?.fromRevision ?? null,
        toRevision: status.rollback?.toRevision ?? null,
        lkgRule: status.rollback?.lkgRule ?? null,
      },
      now: () => clock.now(),
      signal,
      progress: async (step, detail, learnt = {}, at) => {
        await store.recordProgress(job.decisionId, learnt, [timelineStep(step, detail, at)]);
      },
      beforeMutation: async (step, detail, learnt = {}) => {
        if (!owned()) return false;
        let refused: string | null = null;
        const written = await store.recordProgress(job.decisionId, learnt, [timelineStep(step, detail)], {
          ...this.#lease(job, Math.max(this.#options.leaseMs, this.#options.callHorizonMs)),
          permits: (stored) => {
            refused = controlsRefusal(stored, controls, target, manual);
            return refused === null;
          },
        });
        if (written === 'refused') throw new ControlsRefusedError(`Not rolled back: ${refused}`);
        return written === 'written';
      },
      trafficHistory: () =>
        store.trafficHistory(target.name, new Date(clock.now().getTime() - INCIDENT_LOOKBACK_MS)),
      incidents: () =>
        store.incidentWindows(target.name, new Date(clock.now().getTime() - INCIDENT_LOOKBACK_MS)),
      correlatedIncidents: (around, windowMs) =>
        readCorrelatedIncidents(store, target.name, around, windowMs, clock.now()),
      observeTraffic: (observation) => store.recordTrafficObservation(target.name, observation),
    };
    try {
      return await (started ?? executor).execute(context);
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      if (error instanceof ControlsRefusedError) {
        return outcomeWithoutChange('skipped', 'KILL_SWITCH', error.message, context.previous);
      }
      const code = rollbackErrorCodeOf(error);
      if (code === 'INTERNAL') {
        this.#options.logger.error({ err: error, decisionId: job.decisionId }, 'rollback executor failed');
      }
      return outcomeWithoutChange(
        'failed',
        code,
        error instanceof Error ? error.message : String(error),
        context.previous,
      );
    }
  }
}
