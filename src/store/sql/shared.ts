// SQL text that several concerns share: column lists, predicates and the timeline insert. Written once for both
// databases, with `?` placeholders.

import type { TimelineEvent } from '../../domain/rollback.ts';
import type { Statement } from '../driver.ts';
import { newId } from '../ids.ts';

/** The VALUES of a multi-row INSERT: `row` (a parenthesised list, `?` for each parameter) `rows` times. */
export function repeatRow(row: string, rows: number): string {
  return Array.from({ length: rows }, () => row).join(', ');
}

/** Rollback states in which a rollback still holds its target. */
export const ACTIVE_STATES = "('queued', 'running')";

/** Rollbacks that keep their target from automatic rollbacks until a person resumes it. */
export const BLOCKING = "resumed_at IS NULL AND (state = 'failed' OR verification = 'not_healed')";

/** An alert row, as `toAlert` reads it. */
export const ALERT_COLUMNS =
  'id, dedupe_key, source, incident_id, state, target_name, received_at, signal, raw_body, acknowledged_by, acknowledged_at';

/** A decision row (alias `d`), as `toDecision` reads it. */
export const DECISION_COLUMNS =
  'd.id, d.alert_id, d.target_name, d.action, d.reason, d.confidence, d.factors, d.mode, d.would_rollback, ' +
  'd.next_eligible_at, d.requested_by, d.requested_revision, d.decided_at';

/** Rollback columns are prefixed `r_` so they can ride along a join with decisions. */
export const ROLLBACK_COLUMNS =
  'r.decision_id AS r_decision_id, r.target_name AS r_target_name, r.state AS r_state, ' +
  'r.from_revision AS r_from_revision, r.to_revision AS r_to_revision, r.lkg_rule AS r_lkg_rule, ' +
  'r.error_code AS r_error_code, r.error_message AS r_error_message, r.created_at AS r_created_at, ' +
  'r.updated_at AS r_updated_at, r.finished_at AS r_finished_at, r.verification AS r_verification, ' +
  'r.verify_by AS r_verify_by, r.verified_at AS r_verified_at';

/** An audit row, as `toAuditRow` reads it. */
export const AUDIT_COLUMNS =
  'seq, at, type, severity, target_name, decision_id, actor, data, prev_hash, hash';

/** One alert. */
export const ALERT_BY_ID = `SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = ?`;

/** A decision with its rollback, found by the decision's id or (`d.alert_id`) by its alert's. */
export function decisionWithRollback(column: 'd.id' | 'd.alert_id'): string {
  return `SELECT ${DECISION_COLUMNS}, ${ROLLBACK_COLUMNS} FROM decisions d
        LEFT JOIN rollbacks r ON r.decision_id = d.id WHERE ${column} = ?`;
}

/** One INSERT for a decision's timeline steps, given in order. */
export function timelineInsert(decisionId: string, events: readonly TimelineEvent[]): Statement {
  return {
    sql: `INSERT INTO timeline (id, decision_id, at, step, detail) VALUES ${repeatRow('(?, ?, ?, ?, ?)', events.length)}`,
    params: events.flatMap((event) => [
      event.id ?? newId('evt', event.at.getTime()),
      decisionId,
      event.at.getTime(),
      event.step,
      JSON.stringify(event.detail),
    ]),
  };
}
