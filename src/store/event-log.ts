import { type AuditRow, auditHash, type ChainHead, canonicalJson } from '../audit/chain.ts';
import {
  type EventType,
  isNotifiable,
  type LastgoodEvent,
  notificationKey,
  type RecordedEvent,
  type Severity,
} from '../events/event.ts';
import type { Row, SqlDriver, SqlValue, Statement } from './driver.ts';
import { newId } from './ids.ts';
import type { NotificationState, OutboxItem } from './store.ts';

const AUDIT_COLUMNS = 'seq, at, type, severity, target_name, decision_id, actor, data, prev_hash, hash';
/** Parameters of one outbox row as `appendEvents` writes it. */
const OUTBOX_PARAMS = 6;

function toAuditRow(row: Row): AuditRow {
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

/** The VALUES of a multi-row INSERT: `row` (a parenthesised list, `?` for each parameter) `rows` times. */
export function repeatRow(row: string, rows: number): string {
  return Array.from({ length: rows }, () => row).join(', ');
}

/**
 * Appends events to the audit chain, and the notifiable ones to the outbox, inside the caller's transaction, so
 * they commit (or vanish) with the state change they describe. Call it last in a transaction: it locks the chain
 * head until commit, and taking the head last everywhere means a transaction holding it never waits for another
 * lock (no deadlocks, short waits). Whatever the number of events, the chain head is read once and the rows are
 * written in one go (one round trip on PostgreSQL). Answers the rows as stored.
 */
export async function appendEvents(tx: SqlDriver, events: readonly LastgoodEvent[]): Promise<AuditRow[]> {
  if (events.length === 0) return [];
  const lock = tx.dialect === 'postgres' ? ' FOR UPDATE' : '';
  const head = (await tx.all(`SELECT seq, hash FROM audit_head WHERE id = 1${lock}`))[0];
  if (head === undefined)
    throw new Error('audit_head is missing its row; the audit chain cannot be extended');
  let seq = Number(head.seq);
  let prevHash = String(head.hash);
  const appended: AuditRow[] = [];
  const auditValues: SqlValue[] = [];
  const outboxValues: SqlValue[] = [];
  for (const event of events) {
    seq += 1;
    const row = {
      seq,
      at: event.at.getTime(),
      type: event.type,
      severity: event.severity,
      target: event.target,
      decisionId: event.decisionId,
      actor: event.actor,
      data: canonicalJson(event.data),
    };
    const hash = auditHash(row, prevHash);
    auditValues.push(
      row.seq,
      row.at,
      row.type,
      row.severity,
      row.target,
      row.decisionId,
      row.actor,
      row.data,
      prevHash,
      hash,
    );
    if (isNotifiable(event)) {
      outboxValues.push(newId('obx', row.at), seq, row.at, row.at, row.at, notificationKey(event));
    }
    appended.push({ ...row, prevHash, hash });
    prevHash = hash;
  }
  const writes: Statement[] = [
    {
      sql: `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES ${repeatRow('(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', events.length)}`,
      params: auditValues,
    },
  ];
  if (outboxValues.length > 0) {
    writes.push({
      // A repeat of a notification already queued (same key) is not queued again.
      sql: `INSERT INTO outbox (id, audit_seq, state, attempts, next_attempt_at, delivered_to, created_at, updated_at,
          coalesce_key)
        VALUES ${repeatRow("(?, ?, 'pending', 0, ?, '[]', ?, ?, ?)", outboxValues.length / OUTBOX_PARAMS)}
        ON CONFLICT (coalesce_key) DO NOTHING`,
      params: outboxValues,
    });
  }
  writes.push({ sql: 'UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', params: [seq, prevHash] });
  await tx.runAll(writes);
  return appended;
}

/** Rows after `afterSeq`, oldest first: what chain verification reads. */
export async function auditRowsAfter(db: SqlDriver, afterSeq: number, limit: number): Promise<AuditRow[]> {
  const rows = await db.all(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`, [
    afterSeq,
    limit,
  ]);
  return rows.map(toAuditRow);
}

/** Rows before `beforeSeq` (all when null), newest first: what the audit API pages through. */
export async function auditRowsBefore(
  db: SqlDriver,
  beforeSeq: number | null,
  limit: number,
): Promise<AuditRow[]> {
  const rows = await db.all(
    `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?`,
    [beforeSeq ?? Number.MAX_SAFE_INTEGER, limit],
  );
  return rows.map(toAuditRow);
}

/** Outbox columns, prefixed `o_`, joined with the audit row they point at. */
export const OUTBOX_SELECT = `SELECT o.id AS o_id, o.state AS o_state, o.attempts AS o_attempts,
    o.next_attempt_at AS o_next_attempt_at, o.delivered_to AS o_delivered_to, o.last_error AS o_last_error,
    o.created_at AS o_created_at, o.updated_at AS o_updated_at, ${AUDIT_COLUMNS.split(', ')
      .map((column) => `a.${column}`)
      .join(', ')}
  FROM outbox o JOIN audit_log a ON a.seq = o.audit_seq`;

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

export async function readAuditHead(db: SqlDriver): Promise<ChainHead> {
  const row = (await db.all('SELECT seq, hash FROM audit_head WHERE id = 1'))[0];
  return row === undefined ? { seq: 0, hash: '' } : { seq: Number(row.seq), hash: String(row.hash) };
}
