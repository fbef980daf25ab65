// Row mappers: the columns the SQL in `sql/` selects, as the records the `Store` port answers.
import type { AuditRow } from '../audit/chain.ts';
import type { RollbackErrorCode, RollbackRecord, Verification } from '../domain/rollback.ts';
import type { Action, Mode, Reason, RollbackState, Signal, TargetBlock } from '../domain/types.ts';
import type { EventType, RecordedEvent, Severity } from '../events/event.ts';
import type { Row, SqlDriver, SqlValue } from './driver.ts';
import type { AlertRecord, DecisionRecord, NotificationState, OutboxItem } from './store.ts';

/** A stored epoch-milliseconds column as a Date. */
export function ms(value: unknown): Date {
  return new Date(Number(value));
}

/** A nullable epoch-milliseconds column as a Date or null. */
export function msOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : new Date(Number(value));
}

/** A text column. */
export function str(value: unknown): string {
  return String(value);
}

/** A nullable text column. */
export function strOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

/** The first row a query answers, or null. */
export async function first(db: SqlDriver, sql: string, params: readonly SqlValue[]): Promise<Row | null> {
  const rows = await db.all(sql, params);
  return rows[0] ?? null;
}

/** A signal as stored (JSON, dates as ISO strings). */
export function reviveSignal(text: string): Signal {
  const raw = JSON.parse(text) as Signal & { startedAt: string; endedAt: string | null };
  return {
    ...raw,
    startedAt: new Date(raw.startedAt),
    endedAt: raw.endedAt === null ? null : new Date(raw.endedAt),
  };
}

/** A row of `ALERT_COLUMNS`. */
export function toAlert(row: Row): AlertRecord {
  return {
    id: str(row.id),
    dedupeKey: str(row.dedupe_key),
    source: str(row.source) as AlertRecord['source'],
    receivedAt: ms(row.received_at),
    targetName: strOrNull(row.target_name),
    signal: reviveSignal(str(row.signal)),
    rawBody: str(row.raw_body),
    acknowledgedBy: strOrNull(row.acknowledged_by),
    acknowledgedAt: msOrNull(row.acknowledged_at),
  };
}

/** A row of `DECISION_COLUMNS`. */
export function toDecision(row: Row): DecisionRecord {
  return {
    id: str(row.id),
    alertId: strOrNull(row.alert_id),
    targetName: strOrNull(row.target_name),
    action: str(row.action) as Action,
    reason: str(row.reason) as Reason,
    confidence: Number(row.confidence),
    factors: JSON.parse(str(row.factors)),
    mode: strOrNull(row.mode) as Mode | null,
    wouldRollback: Number(row.would_rollback) === 1,
    nextEligibleAt: msOrNull(row.next_eligible_at),
    requestedBy: strOrNull(row.requested_by),
    requestedRevision: strOrNull(row.requested_revision),
    decidedAt: ms(row.decided_at),
  };
}

/** The `ROLLBACK_COLUMNS` of a row, null when a left join found no rollback. */
export function toRollback(row: Row): RollbackRecord | null {
  if (row.r_decision_id === null || row.r_decision_id === undefined) return null;
  return {
    decisionId: str(row.r_decision_id),
    targetName: str(row.r_target_name),
    state: str(row.r_state) as RollbackState,
    fromRevision: strOrNull(row.r_from_revision),
    toRevision: strOrNull(row.r_to_revision),
    lkgRule: strOrNull(row.r_lkg_rule),
    errorCode: strOrNull(row.r_error_code) as RollbackErrorCode | null,
    errorMessage: strOrNull(row.r_error_message),
    createdAt: ms(row.r_created_at),
    updatedAt: ms(row.r_updated_at),
    finishedAt: msOrNull(row.r_finished_at),
    verification: strOrNull(row.r_verification) as Verification | null,
    verifyBy: msOrNull(row.r_verify_by),
    verifiedAt: msOrNull(row.r_verified_at),
  };
}

/** What a blocking rollback, given its state, blocks its target for. */
export function toBlock(decisionId: unknown, state: unknown): TargetBlock {
  return { decisionId: str(decisionId), why: str(state) === 'failed' ? 'rollback_failed' : 'not_healed' };
}

/** A row of `AUDIT_COLUMNS`. */
export function toAuditRow(row: Row): AuditRow {
  return {
    seq: Number(row.seq),
    at: Number(row.at),
    type: String(row.type),
    severity: String(row.severity),
    target: row.target_name === null ? null : String(row.target_name),
    decisionId: row.decision_id === null ? null : String(row.decision_id),
    actor: String(row.actor),
    data: String(row.data),
    prevHash: String(row.prev_hash),
    hash: String(row.hash),
  };
}

/** An audit row as the event it records. */
export function toRecordedEvent(row: AuditRow): RecordedEvent {
  return {
    seq: row.seq,
    type: row.type as EventType,
    severity: row.severity as Severity,
    at: new Date(row.at),
    target: row.target,
    decisionId: row.decisionId,
    actor: row.actor,
    data: JSON.parse(row.data),
    prevHash: row.prevHash,
    hash: row.hash,
  };
}

/** A row of `OUTBOX_SELECT`. */
export function toOutboxItem(row: Row): OutboxItem {
  return {
    id: String(row.o_id),
    event: toRecordedEvent(toAuditRow(row)),
    state: String(row.o_state) as NotificationState,
    attempts: Number(row.o_attempts),
    nextAttemptAt: new Date(Number(row.o_next_attempt_at)),
    deliveredTo: JSON.parse(String(row.o_delivered_to)),
    lastError: row.o_last_error === null ? null : String(row.o_last_error),
    createdAt: new Date(Number(row.o_created_at)),
    updatedAt: new Date(Number(row.o_updated_at)),
  };
}
