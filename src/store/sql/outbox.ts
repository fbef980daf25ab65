// The notification outbox's SQL: rows queued with audit events, claimed and finished by the delivery worker.
import type { SqlDriver } from '../driver.ts';
import { AUDIT_COLUMNS, repeatRow } from './shared.ts';

/** Parameters of one outbox row as `outboxInsert` takes them. */
export const OUTBOX_PARAMS = 6;

/** One INSERT for `rows` outbox rows. A repeat of a notification already queued (same key) is not queued again. */
export function outboxInsert(rows: number): string {
  return `INSERT INTO outbox (id, audit_seq, state, attempts, next_attempt_at, delivered_to, created_at, updated_at,
          coalesce_key)
        VALUES ${repeatRow("(?, ?, 'pending', 0, ?, '[]', ?, ?, ?)", rows)}
        ON CONFLICT (coalesce_key) DO NOTHING`;
}

/** Outbox columns, prefixed `o_`, joined with the audit row they point at. */
export const OUTBOX_SELECT = `SELECT o.id AS o_id, o.state AS o_state, o.attempts AS o_attempts,
    o.next_attempt_at AS o_next_attempt_at, o.delivered_to AS o_delivered_to, o.last_error AS o_last_error,
    o.created_at AS o_created_at, o.updated_at AS o_updated_at, ${AUDIT_COLUMNS.split(', ')
      .map((column) => `a.${column}`)
      .join(', ')}
  FROM outbox o JOIN audit_log a ON a.seq = o.audit_seq`;

/** Notifications due and not leased, oldest due first. */
export function claimableNotifications(dialect: SqlDriver['dialect']): string {
  // As with jobs: replicas skip the rows another one is claiming instead of waiting for them.
  const lock = dialect === 'postgres' ? ' FOR UPDATE OF o SKIP LOCKED' : '';
  return `${OUTBOX_SELECT}
          WHERE o.state = 'pending' AND o.next_attempt_at <= ? AND (o.lease_expires_at IS NULL OR o.lease_expires_at < ?)
          ORDER BY o.next_attempt_at, o.id LIMIT ?${lock}`;
}

/** Leases a notification to a delivery worker and counts the attempt. */
export const LEASE_NOTIFICATION =
  'UPDATE outbox SET attempts = ?, lease_owner = ?, lease_expires_at = ?, updated_at = ? WHERE id = ?';

/** Records a delivery attempt's outcome, if its worker still holds the lease. */
export const FINISH_NOTIFICATION = `UPDATE outbox SET state = ?, delivered_to = ?, last_error = ?, next_attempt_at = ?, lease_owner = NULL,
        lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'pending'`;

/** Dead notifications before an id, newest first. */
export const DEAD_LETTERS = `${OUTBOX_SELECT} WHERE o.state = 'dead' AND o.id < ? ORDER BY o.id DESC LIMIT ?`;

/** The notifications one decision's events queued, oldest first. */
export const NOTIFICATIONS_OF_DECISION = `${OUTBOX_SELECT} WHERE a.decision_id = ? ORDER BY o.id LIMIT ?`;

/** Queues a dead notification again, due now, with its attempts reset. */
export const RETRY_NOTIFICATION = `UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
          WHERE id = ? AND state = 'dead'`;

/** One notification with its audit row. */
export const NOTIFICATION_BY_ID = `${OUTBOX_SELECT} WHERE o.id = ?`;

/** How many notifications are not yet delivered. */
export const OUTBOX_BACKLOG = "SELECT COUNT(*) AS n FROM outbox WHERE state <> 'delivered'";
