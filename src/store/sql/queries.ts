// The read side's SQL: a decision's status, the recent and historical lists, statistics, and acknowledgements.
import { ALERT_COLUMNS, DECISION_COLUMNS, ROLLBACK_COLUMNS } from './shared.ts';

/** A decision's timeline, in order. */
export const TIMELINE = 'SELECT at, step, detail FROM timeline WHERE decision_id = ? ORDER BY at, id';

/**
 * Recent decisions, newest first: decided since a time, of one action if `action`, after a keyset cursor if
 * `cursor`. Parameters: since, [action], [the cursor's decided_at twice, then its id], limit.
 */
export function recentDecisions(filter: {
  action: boolean;
  target: boolean;
  reason: boolean;
  cursor: boolean;
}): string {
  let where = 'd.decided_at >= ?';
  if (filter.action) where += ' AND d.action = ?';
  if (filter.target) where += ' AND d.target_name = ?';
  if (filter.reason) where += ' AND d.reason = ?';
  // The rows after the cursor's (decided_at, id) in newest-first order.
  if (filter.cursor) where += ' AND (d.decided_at < ? OR (d.decided_at = ? AND d.id < ?))';
  return `SELECT ${DECISION_COLUMNS}, ${ROLLBACK_COLUMNS},
          a.incident_id AS a_incident_id, a.received_at AS a_received_at, a.source AS a_source
        FROM decisions d
        LEFT JOIN alerts a ON a.id = d.alert_id
        LEFT JOIN rollbacks r ON r.decision_id = d.id
        WHERE ${where}
        ORDER BY d.decided_at DESC, d.id DESC
        LIMIT ?`;
}

/** Decisions since a time, counted by action and reason. */
export const DECISION_COUNTS =
  'SELECT action, reason, COUNT(*) AS n FROM decisions WHERE decided_at >= ? GROUP BY action, reason';

/** Rollbacks since a time, counted by state. */
export const ROLLBACK_COUNTS =
  'SELECT state, COUNT(*) AS n FROM rollbacks WHERE created_at >= ? GROUP BY state';

/** From the alert (or the decision, for a manual rollback) to a succeeded rollback's end. */
export const TIME_TO_ROLLBACK = `SELECT r.finished_at - COALESCE(a.received_at, d.decided_at) AS duration_ms
        FROM rollbacks r JOIN decisions d ON d.id = r.decision_id LEFT JOIN alerts a ON a.id = d.alert_id
        WHERE r.state = 'succeeded' AND r.created_at >= ? AND r.finished_at IS NOT NULL
        ORDER BY duration_ms LIMIT 100000`;

/** Acknowledges an alert, only the first time. */
export const ACKNOWLEDGE_ALERT =
  'UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE id = ? AND acknowledged_at IS NULL';

/** The decision made on an alert. */
export const DECISION_OF_ALERT = 'SELECT id FROM decisions WHERE alert_id = ?';

/** The alert's columns prefixed `a_`, so they can ride along a join with decisions. */
const PREFIXED_ALERT_COLUMNS = ALERT_COLUMNS.split(', ')
  .map((column) => `a.${column} AS a_${column}`)
  .join(', ');

/** Decisions in a time range, oldest first, at most a number, with their alerts (`a`) and rollbacks (`r`). */
const DECISIONS_IN_RANGE = `FROM decisions d
        LEFT JOIN alerts a ON a.id = d.alert_id
        LEFT JOIN rollbacks r ON r.decision_id = d.id
        WHERE d.decided_at >= ? AND d.decided_at < ?
        ORDER BY d.decided_at, d.id
        LIMIT ?`;

/** Decisions in a time range, oldest first, with their alerts (`a_` columns) and rollbacks. */
export const DECISION_HISTORY = `SELECT ${DECISION_COLUMNS}, ${ROLLBACK_COLUMNS}, ${PREFIXED_ALERT_COLUMNS}
        ${DECISIONS_IN_RANGE}`;

/** The decisions `DECISION_HISTORY` picks, with only the columns correlating incidents reads. */
export const DECISION_SIGNALS = `SELECT d.decided_at, d.target_name, d.reason, a.signal AS a_signal,
        r.state AS r_state, r.error_code AS r_error_code
        ${DECISIONS_IN_RANGE}`;
