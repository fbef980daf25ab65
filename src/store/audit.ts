import { type AuditRow, auditHash, type ChainHead, canonicalJson } from '../audit/chain.ts';
import { isNotifiable, type LastgoodEvent, notificationKey, type RecordedEvent } from '../events/event.ts';
import type { SqlDriver, SqlValue, Statement } from './driver.ts';
import { newId } from './ids.ts';
import { toAuditRow, toRecordedEvent } from './rows.ts';
import {
  AUDIT_HEAD,
  AUDIT_ROWS_AFTER,
  AUDIT_ROWS_BEFORE,
  AUDIT_ROWS_OF_DECISION,
  auditHeadForAppend,
  auditInsert,
  UPDATE_AUDIT_HEAD,
} from './sql/audit.ts';
import { OUTBOX_PARAMS, outboxInsert } from './sql/outbox.ts';

/**
 * Appends events to the audit chain, and the notifiable ones to the outbox, inside the caller's transaction, so
 * they commit (or vanish) with the state change they describe. Call it last in a transaction: it locks the chain
 * head until commit, and taking the head last everywhere means a transaction holding it never waits for another
 * lock (no deadlocks, short waits). Whatever the number of events, the chain head is read once and the rows are
 * written in one go (one round trip on PostgreSQL). Answers the rows as stored.
 */
export async function appendEvents(tx: SqlDriver, events: readonly LastgoodEvent[]): Promise<AuditRow[]> {
  if (events.length === 0) return [];
  const head = (await tx.all(auditHeadForAppend(tx.dialect)))[0];
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
  const writes: Statement[] = [{ sql: auditInsert(events.length), params: auditValues }];
  if (outboxValues.length > 0) {
    writes.push({ sql: outboxInsert(outboxValues.length / OUTBOX_PARAMS), params: outboxValues });
  }
  writes.push({ sql: UPDATE_AUDIT_HEAD, params: [seq, prevHash] });
  await tx.runAll(writes);
  return appended;
}

/** Appends one event in its own transaction. */
export function recordEvent(db: SqlDriver, event: LastgoodEvent): Promise<RecordedEvent> {
  return db.transaction(async (tx) => toRecordedEvent((await appendEvents(tx, [event]))[0]!));
}

/** Rows after `afterSeq`, oldest first: what chain verification reads. */
export async function auditRowsAfter(db: SqlDriver, afterSeq: number, limit: number): Promise<AuditRow[]> {
  const rows = await db.all(AUDIT_ROWS_AFTER, [afterSeq, limit]);
  return rows.map(toAuditRow);
}

/** Events before `beforeSeq` (all when null), newest first: what the audit API pages through. */
export async function listAudit(
  db: SqlDriver,
  beforeSeq: number | null,
  limit: number,
): Promise<RecordedEvent[]> {
  const rows = await db.all(AUDIT_ROWS_BEFORE, [beforeSeq ?? Number.MAX_SAFE_INTEGER, limit]);
  return rows.map((row) => toRecordedEvent(toAuditRow(row)));
}

/** One decision's events, oldest first. */
export async function decisionAudit(
  db: SqlDriver,
  decisionId: string,
  limit: number,
): Promise<RecordedEvent[]> {
  const rows = await db.all(AUDIT_ROWS_OF_DECISION, [decisionId, limit]);
  return rows.map((row) => toRecordedEvent(toAuditRow(row)));
}

/** The chain's last sequence number and hash; an empty chain when the head row is missing. */
export async function readAuditHead(db: SqlDriver): Promise<ChainHead> {
  const row = (await db.all(AUDIT_HEAD))[0];
  return row === undefined ? { seq: 0, hash: '' } : { seq: Number(row.seq), hash: String(row.hash) };
}
