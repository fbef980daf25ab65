// Jobs' SQL: the queue of rollbacks to run, and the leases workers hold on them.
import type { SqlDriver } from '../driver.ts';

/** The next job due, or one whose worker's lease ran out, with its target. */
export function claimableJob(dialect: SqlDriver['dialect']): string {
  // SKIP LOCKED lets replicas claim different jobs at once instead of queueing on the same row.
  const lock = dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
  return `SELECT j.id, j.decision_id, j.state, j.attempts, j.lease_owner, r.target_name FROM jobs j
          JOIN rollbacks r ON r.decision_id = j.decision_id
          WHERE (j.state = 'queued' AND j.run_after <= ?) OR (j.state = 'running' AND j.lease_expires_at < ?)
          ORDER BY j.run_after, j.id LIMIT 1${lock}`;
}

/** Leases a job to a worker and counts the attempt. */
export const LEASE_JOB =
  "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, attempts = ?, updated_at = ? WHERE id = ?";

/** Marks a claimed job's rollback as running. */
export const START_ROLLBACK = "UPDATE rollbacks SET state = 'running', updated_at = ? WHERE decision_id = ?";

/** Extends a lease; it applies only while `lease_owner` still holds it. */
export const RENEW_LEASE =
  "UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'";

/** Hands a job back to the queue, if its worker still holds it. */
export const RELEASE_JOB = `UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, run_after = ?, updated_at = ?
        WHERE id = ? AND lease_owner = ? AND state = 'running'`;

/** Sets the given rollback `columns` (each a parameter, in order), then `updated_at`. */
export function rollbackProgress(columns: readonly string[]): string {
  return `UPDATE rollbacks SET ${columns.map((column) => `${column} = ?`).join(', ')}, updated_at = ? WHERE decision_id = ?`;
}

/** The target a rollback acts on. */
export const ROLLBACK_TARGET = 'SELECT target_name FROM rollbacks WHERE decision_id = ?';

/** Marks a job done, if its worker still holds it. */
export const FINISH_JOB =
  "UPDATE jobs SET state = 'done', lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'";

/** What an earlier step learnt stays when the outcome does not know better. */
export const FINISH_ROLLBACK = `UPDATE rollbacks SET state = ?, from_revision = COALESCE(?, from_revision), to_revision = COALESCE(?, to_revision),
          lkg_rule = COALESCE(?, lkg_rule), error_code = ?, error_message = ?, updated_at = ?, finished_at = ?
          WHERE decision_id = ?`;

/** How many jobs are not yet done. */
export const PENDING_JOBS = "SELECT COUNT(*) AS n FROM jobs WHERE state <> 'done'";
