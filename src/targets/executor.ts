import type { CorrelatedIncident, IncidentEvidence } from '../domain/evidence.ts';
import type { IncidentWindow, TrafficObservation } from '../domain/last-known-good.ts';
import type { RollbackOutcome, RollbackProgress } from '../domain/rollback.ts';
import type { TargetConfig } from '../domain/target.ts';

/** What the job runner gives an executor: the rollback to do, and ways to record and check as it goes. */
export interface ExecutionContext {
  decisionId: string;
  target: TargetConfig;
  /** A revision (Cloud Run) or release (Cloud Deploy) named in a manual request. */
  requestedRevision: string | null;
  /**
   * The incident an automatic rollback answers, whose evidence is judged before production changes; null for a
   * manual request, which a person has judged already.
   */
  incident: IncidentEvidence | null;
  /** What an earlier attempt already chose, so a retry or a takeover finishes the same rollback. */
  previous: RollbackProgress;
  now(): Date;
  /** Aborted when the worker gives the job up (shutdown past its grace): no Google call may start after that. */
  signal: AbortSignal;
  /**
   * Records one step of the rollback and anything it learnt, before the next step runs. `at` is when the step
   * happened, for one recorded later than that (a read written together with what follows from it); now if left out.
   */
  progress(
    step: string,
    detail: Record<string, unknown>,
    learnt?: RollbackProgress,
    at?: Date,
  ): Promise<void>;
  /**
   * Records the step announcing a mutating call (and what it learnt), only while this worker still holds the
   * job's lease, renewing it. False means another worker owns the job now: nothing was written and the call must
   * not be made. The fence before every mutation.
   */
  beforeMutation(step: string, detail: Record<string, unknown>, learnt?: RollbackProgress): Promise<boolean>;
  trafficHistory(): Promise<TrafficObservation[]>;
  incidents(): Promise<IncidentWindow[]>;
  observeTraffic(observation: TrafficObservation): Promise<void>;
  /** Other targets' incidents that began within `windowMs` of `around`, and whether each had changed recently. */
  correlatedIncidents(around: Date, windowMs: number): Promise<CorrelatedIncident[]>;
}

/** Puts a target's last known good release back. One implementation per target kind, in this folder. */
export interface RollbackExecutor {
  /** Runs the rollback to a terminal outcome. Throws `LeaseLostError` when it stopped because the lease was lost. */
  execute(context: ExecutionContext): Promise<RollbackOutcome>;
  /** For a manual request: throws LASTGOOD_ERR_REVISION_UNUSABLE unless the named revision exists and is ready. */
  checkRequestedRevision(target: TargetConfig, revision: string): Promise<void>;
  /** Lifts the freeze a rollback put on the target's pipeline, where the kind has one; false if none was on. */
  unfreeze?(target: TargetConfig): Promise<boolean>;
  /**
   * Starts the reads of Google that a rollback of `target` for `incident` begins with, as soon as it is decided and
   * while its commit is still being made durable, so that they overlap it. They only read; every mutation still
   * waits for the job and its fence. Kinds without it (or null) start reading when the job runs.
   */
  startReads?(target: TargetConfig, incident: IncidentEvidence, now: () => Date): StartedRollback | null;
}

/** A decided rollback whose first reads of Google are under way, before its job runs. */
export interface StartedRollback {
  /**
   * Runs the rollback on the reads already under way when `context` is the first attempt of the automatic rollback
   * they were started for; any other context is run as `RollbackExecutor.execute` runs it.
   */
  execute(context: ExecutionContext): Promise<RollbackOutcome>;
  /** The rollback will not run here (its decision did not commit, or the controls stopped it): drop the answers. */
  discard(): void;
}

/** The executor stopped before a mutation because another worker now owns the job. */
export class LeaseLostError extends Error {
  readonly code = 'LEASE_LOST';
  constructor(decisionId: string, why = 'another worker owns it') {
    super(`Lost the lease on the rollback job of ${decisionId}; ${why}`);
    this.name = 'LeaseLostError';
  }
}
