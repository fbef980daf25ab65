// The audit chain's SQL: its head, its rows, and the reads that page and verify it.
import type { SqlDriver } from '../driver.ts';
import { AUDIT_COLUMNS, repeatRow } from './shared.ts';

/** The chain head; PostgreSQL locks it until commit, so appends are serialised. */
export function auditHeadForAppend(dialect: SqlDriver['dialect']): string {
  const lock = dialect === 'postgres' ? ' FOR UPDATE' : '';
  return `SELECT seq, hash FROM audit_head WHERE id = 1${lock}`;
}

/** The chain head as it stands, for readers (no lock). */
export const AUDIT_HEAD = 'SELECT seq, hash FROM audit_head WHERE id = 1';

/** One INSERT for `rows` audit rows of `AUDIT_COLUMNS`. */
export function auditInsert(rows: number): string {
  return `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES ${repeatRow('(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', rows)}`;
}

/** Moves the chain head to the last appended row. */
export const UPDATE_AUDIT_HEAD = 'UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1';

/** Audit rows after a sequence number, oldest first (chain verification). */
export const AUDIT_ROWS_AFTER = `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`;

/** One decision's audit rows, oldest first (its status page). */
export const AUDIT_ROWS_OF_DECISION = `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE decision_id = ? ORDER BY seq LIMIT ?`;

/** Audit rows before a sequence number, newest first (the audit API's pages). */
export const AUDIT_ROWS_BEFORE = `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?`;
