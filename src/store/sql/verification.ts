// Verification's SQL: whether a rollback healed its incident, decided by a closing alert or by the sweep.
import type { SqlDriver } from '../driver.ts';
import { ROLLBACK_COLUMNS } from './shared.ts';

/** A target's rollbacks in their window that a closing alert of `incident_id` heals, oldest first. */
export const HEALABLE_ROLLBACKS = `SELECT r.decision_id FROM rollbacks r JOIN decisions d ON d.id = r.decision_id
        LEFT JOIN alerts a ON a.id = d.alert_id
        WHERE r.target_name = ? AND r.verification = 'pending' AND r.verify_by >= ?
          AND (a.incident_id = ? OR d.alert_id IS NULL)
        ORDER BY r.created_at`;

/** Applies only while the verification is pending, so it is recorded once whoever gets there first. */
export const RECORD_VERIFICATION = `UPDATE rollbacks SET verification = ?, verified_at = ?, updated_at = ?
        WHERE decision_id = ? AND verification = 'pending'`;

/** Starts a succeeded rollback's verification window. */
export const AWAIT_VERIFICATION =
  "UPDATE rollbacks SET verification = 'pending', verify_by = ? WHERE decision_id = ?";

/** The first closing alert of the rollback's incident (any on the target for a manual one) since the decision. */
export const CLOSING_ALERT = `SELECT c.id, c.incident_id FROM decisions d
        LEFT JOIN alerts o ON o.id = d.alert_id
        JOIN alerts c ON c.target_name = d.target_name AND c.state = 'closed' AND c.received_at >= d.decided_at
          AND (o.id IS NULL OR c.incident_id = o.incident_id)
        WHERE d.id = ? ORDER BY c.received_at LIMIT 1`;

/** Verifications past their window, oldest first, a hundred at a time. */
export function expiredVerifications(dialect: SqlDriver['dialect']): string {
  // Replicas sweep at once; each takes the rows no other holds, and the update applies once per rollback.
  const lock = dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
  return `SELECT decision_id, verify_by FROM rollbacks WHERE verification = 'pending' AND verify_by < ?
          ORDER BY verify_by LIMIT 100${lock}`;
}

/** A rollback with the decision and alert behind it. */
export const ROLLBACK_FACTS = `SELECT ${ROLLBACK_COLUMNS}, d.reason, d.confidence, d.requested_by, a.incident_id
        FROM rollbacks r JOIN decisions d ON d.id = r.decision_id LEFT JOIN alerts a ON a.id = d.alert_id
        WHERE r.decision_id = ?`;
