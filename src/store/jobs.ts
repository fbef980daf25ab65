import type { RollbackOutcome, RollbackProgress, TimelineEvent } from '../domain/rollback.ts';
import { MUTATION_STEPS, rollbackFinishedEvent, SYSTEM_ACTOR } from '../events/event.ts';
import { appendEvents } from './audit.ts';
import { readControls } from './controls.ts';
import type { SqlDriver, SqlValue } from './driver.ts';
import { first, str, strOrNull } from './rows.ts';
import {
  claimableJob,
  FINISH_JOB,
  FINISH_ROLLBACK,
  LEASE_JOB,
  PENDING_JOBS,
  RELEASE_JOB,
  RENEW_LEASE,
  ROLLBACK_STATE,
  rollbackProgress,
  START_ROLLBACK,
} from './sql/jobs.ts';
import { AWAIT_VERIFICATION } from './sql/verification.ts';
import type { HeldLease, JobRecord, MutationFence, ProgressWrite } from './store.ts';
import { appendTimeline } from './timeline.ts';
import { closedSince, recordVerification, rollbackFacts } from './verification.ts';

/** Leases the next job due (or one whose lease ran out, taking it over) to `owner`, and starts its rollback. */
export function claimJob(
  db: SqlDriver,
  owner: string,
  now: Date,
  leaseMs: number,
): Promise<JobRecord | null> {
  return db.transaction(async (tx) => {
    const at = now.getTime();
    const row = await first(tx, claimableJob(tx.dialect), [at, at]);
    if (!row) return null;
    const takenOverFrom = str(row.state) === 'running' ? strOrNull(row.lease_owner) : null;
    const job: JobRecord = {
      id: str(row.id),
      decisionId: str(row.decision_id),
      targetName: str(row.target_name),
      attempts: Number(row.attempts) + 1,
      leaseOwner: owner,
      // The row is locked (SKIP LOCKED on PostgreSQL, the single writer on SQLite): no other claim takes this one.
      generation: Number(row.lease_generation) + 1,
      leaseExpiresAt: new Date(at + leaseMs),
      takenOverFrom,
    };
    await tx.run(LEASE_JOB, [owner, job.generation, job.leaseExpiresAt.getTime(), job.attempts, at, job.id]);
    await tx.run(START_ROLLBACK, [at, job.decisionId]);
    await appendTimeline(tx, job.decisionId, claimedStep(job, now));
    return job;
  });
}

/** A claim's timeline step: `job_claimed`, or `job_taken_over` from the owner whose lease had expired. */
export function claimedStep(job: JobRecord, at: Date): TimelineEvent {
  const { takenOverFrom } = job;
  return {
    at,
    step: takenOverFrom === null ? 'job_claimed' : 'job_taken_over',
    detail: {
      worker: job.leaseOwner,
      attempt: job.attempts,
      ...(takenOverFrom === null ? {} : { from: takenOverFrom }),
    },
  };
}

/** Extends a claim's lease on a job to `leaseMs` from now at least; false when the claim no longer holds it. */
export async function renewLease(db: SqlDriver, lease: HeldLease): Promise<boolean> {
  const until = lease.now.getTime() + lease.leaseMs;
  const changed = await db.run(RENEW_LEASE, [
    until,
    until,
    lease.now.getTime(),
    lease.jobId,
    lease.owner,
    lease.generation,
  ]);
  return changed === 1;
}

/** Hands a job back to the queue, due now, if `owner` still holds it. */
export async function releaseJob(db: SqlDriver, jobId: string, owner: string, now: Date): Promise<void> {
  await db.run(RELEASE_JOB, [now.getTime(), now.getTime(), jobId, owner]);
}

const PROGRESS_COLUMNS = {
  fromRevision: 'from_revision',
  toRevision: 'to_revision',
  lkgRule: 'lkg_rule',
} as const;

/** Undoes a fence's transaction whose controls, read last, forbid the mutation it announces. */
class RefusedByControls extends Error {}

/**
 * Records what a running rollback learnt and did, auditing its Google mutations, unless the rollback has ended;
 * with a `fence`, only while its claim holds the lease (renewing it) and the controls permit the mutation.
 */
export async function recordProgress(
  db: SqlDriver,
  decisionId: string,
  progress: RollbackProgress,
  events: readonly TimelineEvent[],
  fence?: MutationFence,
): Promise<ProgressWrite> {
  try {
    return await db.transaction((tx) => writeProgress(tx, decisionId, progress, events, fence));
  } catch (error) {
    if (error instanceof RefusedByControls) return 'refused';
    throw error;
  }
}

async function writeProgress(
  tx: SqlDriver,
  decisionId: string,
  progress: RollbackProgress,
  events: readonly TimelineEvent[],
  fence: MutationFence | undefined,
): Promise<ProgressWrite> {
  if (fence !== undefined && !(await renewLease(tx, fence))) return 'lease_lost';
  // A stale run's late steps (an etag conflict, a verification) must not land after the outcome.
  const rollback = await first(tx, ROLLBACK_STATE, [decisionId]);
  if (rollback === null || Number(rollback.ended) === 1) return 'finished';
  const columns: string[] = [];
  const params: SqlValue[] = [];
  for (const [key, column] of Object.entries(PROGRESS_COLUMNS)) {
    const value = progress[key as keyof RollbackProgress];
    if (value === undefined) continue;
    columns.push(column);
    params.push(value);
  }
  if (columns.length > 0) {
    await tx.run(rollbackProgress(columns), [
      ...params,
      (events.at(-1)?.at ?? new Date()).getTime(),
      decisionId,
    ]);
  }
  await appendTimeline(tx, decisionId, ...events);
  const targetName = str(rollback.target_name);
  const mutations = events.filter((event) => MUTATION_STEPS.has(event.step));
  await appendEvents(
    tx,
    mutations.map((event) => ({
      type: 'google_mutation',
      severity: 'info',
      at: event.at,
      target: targetName,
      decisionId,
      actor: SYSTEM_ACTOR,
      data: { step: event.step, method: MUTATION_STEPS.get(event.step), ...event.detail },
    })),
  );
  // Read last, after the audit append has locked the chain's head: a change of the kill switch or a mode appends
  // to the same chain, so it either committed before this read, or its 200 waits for this commit (and then the
  // call was announced before anyone was told lastgood is off).
  if (fence !== undefined && !fence.permits(await readControls(tx, targetName)))
    throw new RefusedByControls();
  return 'written';
}

/**
 * Finishes a job and its rollback with `outcome`, if the job's claim still holds the lease and the rollback has not
 * ended. A rollback that succeeded waits `verificationWindowMs` for its incident to close, and is healed at once if
 * it closed while it ran.
 */
export function completeJob(
  db: SqlDriver,
  job: JobRecord,
  outcome: RollbackOutcome,
  event: TimelineEvent,
  verificationWindowMs: number,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const at = event.at.getTime();
    const owned = await tx.run(FINISH_JOB, [at, job.id, job.leaseOwner, job.generation]);
    if (owned !== 1) return false;
    // An outcome already recorded stands; the job, which has nothing left to do, is done all the same.
    const ended = await tx.run(FINISH_ROLLBACK, [
      outcome.state,
      outcome.fromRevision,
      outcome.toRevision,
      outcome.lkgRule,
      outcome.errorCode,
      outcome.errorMessage,
      at,
      at,
      job.decisionId,
    ]);
    if (ended !== 1) return false;
    await appendTimeline(tx, job.decisionId, event);
    if (outcome.state === 'succeeded') {
      await tx.run(AWAIT_VERIFICATION, [at + verificationWindowMs, job.decisionId]);
    }
    const judgement = event.detail.judgement === undefined ? {} : { judgement: event.detail.judgement };
    const events = [rollbackFinishedEvent(await rollbackFacts(tx, job.decisionId), event.at, judgement)];
    const closed = outcome.state === 'succeeded' ? await closedSince(tx, job.decisionId) : null;
    if (closed !== null) {
      events.push(...(await recordVerification(tx, job.decisionId, 'healed', event.at, closed)));
    }
    await appendEvents(tx, events);
    return true;
  });
}

/** Jobs not yet done. */
export async function pendingJobCount(db: SqlDriver): Promise<number> {
  const row = await first(db, PENDING_JOBS, []);
  return Number(row?.n ?? 0);
}
