// Jobs' SQL: the queue of rollbacks to run, and the leases workers hold on them.
import type { SqlDriver } from '../driver.ts';
import { ACTIVE_STATES } from './shared.ts';

/** The next job due, or one whose worker's lease ran out, with its target. */
export function claimableJob(dialect: SqlDriver['dialect']): string {
  // SKIP LOCKED lets replicas claim different jobs at once instead of queueing on the same row.
  const lock = dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
  return `SELECT j.id, j.decision_id, j.state, j.attempts, j.lease_owner, j.lease_generation, r.target_name FROM jobs j
          JOIN rollbacks r ON r.decision_id = j.decision_id
          WHERE (j.state = 'queued' AND j.run_after <= ?) OR (j.state = 'running' AND j.lease_expires_at < ?)
          ORDER BY j.run_after, j.id LIMIT 1${lock}`;
}

/** Leases a job to a worker under a new fencing token (`lease_generation`) and counts the attempt. */
export const LEASE_JOB = `UPDATE jobs SET state = 'running', lease_owner = ?, lease_generation = ?, lease_expires_at = ?, attempts = ?,
        updated_at = ? WHERE id = ?`;

/** Marks a claimed job's rollback as running. */
export const START_ROLLBACK = "UPDATE rollbacks SET state = 'running', updated_at = ? WHERE decision_id = ?";

/** The claim that still holds a running job: its owner and fencing token. */
const HELD = "id = ? AND lease_owner = ? AND lease_generation = ? AND state = 'running'";

/**
 * Extends a lease to the given time (the parameter twice), only for the claim that holds it. Never shortens it: a
 * mutation's announcement holds it for the whole call, and the periodic renewal must not cut that short.
 */
export const RENEW_LEASE = `UPDATE jobs SET lease_expires_at = CASE WHEN lease_expires_at > ? THEN lease_expires_at ELSE ? END,
        updated_at = ? WHERE ${HELD}`;

/** Hands a job back to the queue, if its worker still holds it. */
export const RELEASE_JOB = `UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, run_after = ?, updated_at = ?
        WHERE id = ? AND lease_owner = ? AND state = 'running'`;

/** Sets the given rollback `columns` (each a parameter, in order), then `updated_at`. */
export function rollbackProgress(columns: readonly string[]): string {
  return `UPDATE rollbacks SET ${columns.map((column) => `${column} = ?`).join(', ')}, updated_at = ? WHERE decision_id = ?`;
}

/** The target a rollback acts on, and whether it has ended. */
export const ROLLBACK_STATE = `SELECT target_name, CASE WHEN state IN ${ACTIVE_STATES} THEN 0 ELSE 1 END AS ended
        FROM rollbacks WHERE decision_id = ?`;

/** Marks a job done, if the claim (owner and fencing token) still holds it. */
export const FINISH_JOB = `UPDATE jobs SET state = 'done', lease_expires_at = NULL, updated_at = ? WHERE ${HELD}`;

/** Ends a rollback that has not ended; what an earlier step learnt stays when the outcome does not know better. */
export const FINISH_ROLLBACK = `UPDATE rollbacks SET state = ?, from_revision = COALESCE(?, from_revision), to_revision = COALESCE(?, to_revision),
          lkg_rule = COALESCE(?, lkg_rule), error_code = ?, error_message = ?, updated_at = ?, finished_at = ?
          WHERE decision_id = ? AND state IN ${ACTIVE_STATES}`;

/** How many jobs are not yet done. */
export const PENDING_JOBS = "SELECT COUNT(*) AS n FROM jobs WHERE state <> 'done'";
