import type { Clock } from '../clock.ts';
import { type Controls, effectiveControls } from '../domain/controls.ts';
import { decide, decideManual, historyWindowMs } from '../domain/decide.ts';
import { type IncidentEvidence, incidentOf } from '../domain/evidence.ts';
import { routeSignal } from '../domain/routing.ts';
import type { TargetConfig } from '../domain/target.ts';
import type { Signal } from '../domain/types.ts';
import type { DecisionOutcome, DecisionRequest, JobLease, JobRecord, Store } from '../store/store.ts';
import type { ParsedAlert } from './cloud-monitoring.ts';

/** A place held in this process's rollback worker for a rollback being decided. */
export interface RollbackSlot {
  /** The lease the rollback's job is created under: this worker's. */
  lease: JobLease;
  /** Runs the job, created claimed under `lease`, here and now. */
  run(job: JobRecord): void;
  /** Gives the place back: no job was created under its lease. */
  cancel(): void;
}

/** This process's rollback worker, as intake hands it the rollbacks it decides. */
export interface LocalRollbacks {
  /**
   * A place for a rollback of `target` being decided, for `incident` (null for a manual request); null when the
   * worker is full or stopped. Asked while the decision's transaction runs, before its commit.
   */
  reserve(target: TargetConfig, incident: IncidentEvidence | null): RollbackSlot | null;
  /** Looks for work now: a rollback was queued for any worker. */
  wake(): void;
}

export interface IntakeDeps {
  store: Store;
  targets: ReadonlyMap<string, TargetConfig>;
  controls: Controls;
  clock: Clock;
  /** Null in a process that runs no rollbacks: its decisions queue them for other replicas. */
  rollbacks: LocalRollbacks | null;
}

function routableTargets(targets: ReadonlyMap<string, TargetConfig>) {
  return [...targets.values()].map((target) => ({
    name: target.name,
    serviceName: target.kind === 'cloud-run' ? target.service : null,
  }));
}

/** Finds the configured target for an alert (label first, then Cloud Run service name). */
export function targetFor(signal: Signal, targets: ReadonlyMap<string, TargetConfig>): TargetConfig | null {
  const name = routeSignal(signal, routableTargets(targets));
  return name === null ? null : (targets.get(name) ?? null);
}

/**
 * A redelivery of an incident's alert that lastgood held is judged again, with fresh evidence, once the hold is this
 * old: webhook retries and Pub/Sub redeliveries come within seconds, a renotification of the open incident
 * (`renotify_interval`) minutes later.
 */
export const REJUDGE_HELD_AFTER_MS = 60_000;
/** Bounds the walk along an incident's chain of re-judged holds (one link per re-judgement). */
const MAX_REJUDGEMENTS = 100;

function heldLongEnough(outcome: DecisionOutcome, now: Date): boolean {
  const finishedAt = outcome.rollback?.state === 'held' ? outcome.rollback.finishedAt : null;
  return finishedAt !== null && now.getTime() - finishedAt.getTime() >= REJUDGE_HELD_AFTER_MS;
}

/**
 * Records a decision and hands the rollback it makes to this process's worker. The job is created claimed by that
 * worker when it has a place, in the decision's own commit, and starts at once; else it is queued, and the worker
 * is woken to claim it when a place frees up (another replica's poll may take it first).
 */
async function recordAndHandOver(deps: IntakeDeps, request: DecisionRequest): Promise<DecisionOutcome> {
  // Asked only when the decision is to roll back, perhaps more than once (a failed batch is decided again).
  let slot: RollbackSlot | null | undefined;
  const leaseJob = () => {
    if (slot === undefined) {
      const target = request.targetName === null ? undefined : deps.targets.get(request.targetName);
      const incident = request.alert === null ? null : incidentOf(request.alert.signal);
      slot = target === undefined ? null : (deps.rollbacks?.reserve(target, incident) ?? null);
    }
    return slot?.lease ?? null;
  };
  let outcome: DecisionOutcome;
  try {
    outcome = await deps.store.recordDecision({ ...request, leaseJob });
  } catch (error) {
    slot?.cancel();
    throw error;
  }
  if (outcome.job !== null) slot?.run(outcome.job);
  else {
    slot?.cancel();
    if (outcome.rollback !== null && !outcome.duplicate) deps.rollbacks?.wake();
  }
  return outcome;
}

/**
 * Stores an alert and decides on it in one transaction: ingest -> decide -> store. Returns before anything
 * touches Google; a rollback decision leaves a job, run by this process's worker when it has room (see
 * `recordAndHandOver`). A redelivery is a duplicate, unless the decision it repeats was held a while ago: then it
 * is stored under a key naming that hold, and decided afresh.
 */
export async function intakeAlert(
  deps: IntakeDeps,
  parsed: ParsedAlert,
  rawBody: string,
): Promise<DecisionOutcome> {
  let outcome = await recordAlert(deps, parsed, parsed.dedupeKey, rawBody);
  for (let links = 0; outcome.duplicate && links < MAX_REJUDGEMENTS; links++) {
    if (!heldLongEnough(outcome, deps.clock.now())) break;
    outcome = await recordAlert(deps, parsed, `${parsed.dedupeKey}:after:${outcome.decision.id}`, rawBody);
  }
  return outcome;
}

function recordAlert(
  deps: IntakeDeps,
  parsed: ParsedAlert,
  dedupeKey: string,
  rawBody: string,
): Promise<DecisionOutcome> {
  const now = deps.clock.now();
  const target = parsed.signal.isTest ? null : targetFor(parsed.signal, deps.targets);
  const policy = target?.policy ?? null;
  return recordAndHandOver(deps, {
    alert: {
      source: parsed.signal.source,
      dedupeKey,
      receivedAt: now,
      targetName: target?.name ?? null,
      signal: parsed.signal,
      rawBody,
    },
    targetName: target?.name ?? null,
    historySince: new Date(now.getTime() - (policy ? historyWindowMs(policy) : 0)),
    now,
    decide: (history, stored) => {
      const { enabled, policy: effective } = effectiveControls(stored, deps.controls, policy);
      return {
        ...decide(parsed.signal, effective, history, { target: target?.name ?? null, enabled }, now),
        mode: effective?.mode ?? null,
        requestedBy: null,
        requestedRevision: null,
      };
    },
  });
}

/** Records an operator's manual rollback request, decided under the same per-target lock as alerts. */
export function intakeManualRollback(
  deps: IntakeDeps,
  request: { target: TargetConfig; requestedBy: string; requestedRevision: string | null },
): Promise<DecisionOutcome> {
  const now = deps.clock.now();
  const { target } = request;
  return recordAndHandOver(deps, {
    alert: null,
    targetName: target.name,
    historySince: new Date(now.getTime() - historyWindowMs(target.policy)),
    now,
    decide: (history, stored) => {
      const { enabled, policy } = effectiveControls(stored, deps.controls, target.policy);
      return {
        ...decideManual(request.requestedBy, policy, history, { target: target.name, enabled }),
        mode: policy.mode,
        requestedBy: request.requestedBy,
        requestedRevision: request.requestedRevision,
      };
    },
  });
}
