import { type AuditRow, auditContent, auditHash, type ChainHead, canonicalJson } from '../audit/chain.ts';
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
 * Where the next append continues the chain. Locked, the head's row stays locked until commit, so the append
 * cannot lose to another; unlocked, it waits for no one and can be read early, in a round trip the transaction
 * makes anyway, and the append fails instead if another transaction extends the chain first (see
 * {@link appendEvents}).
 */
export async function chainHead(tx: SqlDriver, lock: boolean): Promise<ChainHead> {
  const head = (await tx.all(lock ? auditHeadForAppend(tx.dialect) : AUDIT_HEAD))[0];
  if (head === undefined)
    throw new Error('audit_head is missing its row; the audit chain cannot be extended');
  return { seq: Number(head.seq), hash: String(head.hash) };
}

/**
 * Whether `error` is an append from an unlocked chain head that lost to another transaction's append: both wrote
 * the same sequence number, and audit_log's primary key let only the first commit. SQLite runs one transaction
 * at a time, so only PostgreSQL's unique violation is one.
 */
export function lostToAnotherAppend(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === 'audit_log_pkey';
}

/**
 * Appends events to the audit chain, and the notifiable ones to the outbox, inside the caller's transaction, so
 * they commit (or vanish) with the state change they describe. Whatever the number of events, the rows are
 * written in one go (one statement on PostgreSQL). Answers the rows as stored.
 *
 * Without `from`, it reads the chain head locked, so call it last in a transaction: taking the head last
 * everywhere means a transaction holding it never waits for another lock (no deadlocks, short waits). With `from`,
 * a head the caller read unlocked ({@link chainHead}), the append takes the head's lock only with the write, just
 * before commit; if another transaction appended since, its rows hold the same sequence numbers, so this insert
 * fails (after waiting for that one to commit, if it has not) and the transaction with it, and the chain neither
 * forks nor skips a number. The caller tries again with the head locked ({@link lostToAnotherAppend}).
 */
export async function appendEvents(
  tx: SqlDriver,
  events: readonly LastgoodEvent[],
  from?: ChainHead,
): Promise<AuditRow[]> {
  if (events.length === 0) return [];
  const head = from ?? (await chainHead(tx, true));
  let seq = head.seq;
  let prevHash = head.hash;
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
    auditValues.push(...auditContent(row), prevHash, hash);
    if (isNotifiable(event)) {
      outboxValues.push(newId('obx', row.at), seq, row.at, row.at, row.at, notificationKey(event));
    }
    appended.push({ ...row, prevHash, hash });
    prevHash = hash;
  }
  // The head first, in a statement of its own (PostgreSQL runs the data-modifying parts of one statement in no
  // set order): an append from an unlocked head then waits for the head's holder before it writes a row with a
  // sequence number the holder may also be writing, so neither ever waits for the other's rows (no deadlock).
  await tx.runAll([{ sql: UPDATE_AUDIT_HEAD, params: [seq, prevHash] }]);
  const rows: Statement[] = [{ sql: auditInsert(events.length), params: auditValues }];
  if (outboxValues.length > 0) {
    rows.push({ sql: outboxInsert(outboxValues.length / OUTBOX_PARAMS), params: outboxValues });
  }
  await tx.runAll(rows);
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
