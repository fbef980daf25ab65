import type { RollbackOutcome, RollbackProgress, TimelineEvent } from '../domain/rollback.ts';
import { MUTATION_STEPS, rollbackFinishedEvent, SYSTEM_ACTOR } from '../events/event.ts';
import { appendEvents } from './audit.ts';
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
  ROLLBACK_TARGET,
  rollbackProgress,
  START_ROLLBACK,
} from './sql/jobs.ts';
import { AWAIT_VERIFICATION } from './sql/verification.ts';
import type { HeldLease, JobRecord } from './store.ts';
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
      leaseExpiresAt: new Date(at + leaseMs),
      takenOverFrom,
    };
    await tx.run(LEASE_JOB, [owner, job.leaseExpiresAt.getTime(), job.attempts, at, job.id]);
    await tx.run(START_ROLLBACK, [at, job.decisionId]);
    await appendTimeline(tx, job.decisionId, {
      at: now,
      step: takenOverFrom === null ? 'job_claimed' : 'job_taken_over',
      detail: {
        worker: owner,
        attempt: job.attempts,
        ...(takenOverFrom === null ? {} : { from: takenOverFrom }),
      },
    });
    return job;
  });
}

/** Extends `owner`'s lease on a job; false when it no longer holds it. */
export async function renewLease(
  db: SqlDriver,
  jobId: string,
  owner: string,
  now: Date,
  leaseMs: number,
): Promise<boolean> {
  const changed = await db.run(RENEW_LEASE, [now.getTime() + leaseMs, now.getTime(), jobId, owner]);
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

/**
 * Records what a running rollback learnt and did, auditing its Google mutations; with a `lease`, only while the
 * lease is still held (renewing it), else answers false and records nothing.
 */
export function recordProgress(
  db: SqlDriver,
  decisionId: string,
  progress: RollbackProgress,
  events: readonly TimelineEvent[],
  lease?: HeldLease,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (lease !== undefined) {
      const held = await tx.run(RENEW_LEASE, [
        lease.now.getTime() + lease.leaseMs,
        lease.now.getTime(),
        lease.jobId,
        lease.owner,
      ]);
      if (held !== 1) return false;
    }
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
    const mutations = events.filter((event) => MUTATION_STEPS.has(event.step));
    if (mutations.length > 0) {
      const rollback = await first(tx, ROLLBACK_TARGET, [decisionId]);
      await appendEvents(
        tx,
        mutations.map((event) => ({
          type: 'google_mutation',
          severity: 'info',
          at: event.at,
          target: strOrNull(rollback?.target_name),
          decisionId,
          actor: SYSTEM_ACTOR,
          data: { step: event.step, method: MUTATION_STEPS.get(event.step), ...event.detail },
        })),
      );
    }
    return true;
  });
}

/**
 * Finishes a job and its rollback with `outcome`, if the job's lease is still its own. A rollback that succeeded
 * waits `verificationWindowMs` for its incident to close, and is healed at once if it closed while it ran.
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
    const owned = await tx.run(FINISH_JOB, [at, job.id, job.leaseOwner]);
    if (owned !== 1) return false;
    await tx.run(FINISH_ROLLBACK, [
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
