import { hash } from 'node:crypto';

/** The `prevHash` of the first row: there is no row before it. */
export const GENESIS_HASH = '0'.repeat(64);

/** One audit row exactly as stored; `data` is the stored JSON text, hashed byte for byte. */
export interface AuditRow {
  seq: number;
  at: number;
  type: string;
  severity: string;
  target: string | null;
  decisionId: string | null;
  actor: string;
  data: string;
  prevHash: string;
  hash: string;
}

/**
 * A row's hash: SHA-256 over the previous row's hash and the row's content in a fixed order. The sequence number
 * is part of the content, so a row cannot be moved, and the previous hash links it, so none can be removed.
 */
export function auditHash(row: Omit<AuditRow, 'hash' | 'prevHash'>, prevHash: string): string {
  // The one-shot hash: a Hash object per row cost as much again under an alert flood.
  return hash('sha256', `${prevHash}\n${JSON.stringify(auditContent(row))}`);
}

/** A row's content in the fixed order it is hashed in, which is also the order of its columns in the store. */
export function auditContent(row: Omit<AuditRow, 'hash' | 'prevHash'>) {
  return [row.seq, row.at, row.type, row.severity, row.target, row.decisionId, row.actor, row.data] as const;
}

/** JSON text with keys sorted at every level, so the same data always stores (and hashes) as the same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item) ? sortedKeys(item) : item,
  );
}

/** `item` with its keys in order: itself when they already are, as most of lastgood's own event data is. */
function sortedKeys(item: object): object {
  const keys = Object.keys(item);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      return Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
  }
  return item;
}

/** The first row whose content, link or position does not match the chain. */
export interface BrokenRow {
  seq: number;
  /** The hash the row should carry given the rows before it (for rows missing at the end: the head's hash). */
  expectedHash: string;
  /** The hash stored; null when the row is missing. */
  storedHash: string | null;
  /**
   * `content`: the row was edited; `link`: its previous-row hash was; `missing`: rows were deleted; `head`: the
   * head was edited, or rows were added after it.
   */
  problem: 'content' | 'link' | 'missing' | 'head';
}

export interface ChainVerification {
  ok: boolean;
  /** Rows checked. */
  rows: number;
  firstBrokenRow?: BrokenRow;
}

/** Where the chain ends, as the store's head row records it. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** Where verification reads the chain: rows in ascending `seq` after `afterSeq` (at most `limit`), and the head. */
export interface AuditSource {
  rows(afterSeq: number, limit: number): Promise<AuditRow[]>;
  head(): Promise<ChainHead>;
}

const PAGE = 1000;

/**
 * Recomputes the whole chain from the first row, a page at a time, and reports the first row that does not match:
 * edited content, a rewritten link, a deleted row, rows missing at the end (the head says more were written), or
 * rows after the head. Safe while lastgood keeps appending: rows and head are committed together, and the head is
 * read again before a row past it is called foreign. Anyone able to rewrite every later row and the head as well
 * is not caught here; anchor the head elsewhere (the signed webhook carries each event's hash) for that.
 */
export async function verifyAuditChain(source: AuditSource): Promise<ChainVerification> {
  let head = await source.head();
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let rows = 0;
  for (;;) {
    const page = await source.rows(expectedSeq - 1, PAGE);
    for (const row of page) {
      rows += 1;
      const expectedHash = auditHash({ ...row, seq: expectedSeq }, prevHash);
      if (row.seq !== expectedSeq) {
        return broken(rows, { seq: expectedSeq, expectedHash, storedHash: null, problem: 'missing' });
      }
      const problem = row.prevHash !== prevHash ? 'link' : row.hash !== expectedHash ? 'content' : null;
      if (problem !== null) {
        return broken(rows, { seq: row.seq, expectedHash, storedHash: row.hash, problem });
      }
      if (row.seq > head.seq) head = await source.head();
      // A well-formed row the head does not cover was not written by lastgood's append.
      if (row.seq > head.seq) {
        return broken(rows, { seq: row.seq, expectedHash, storedHash: row.hash, problem: 'head' });
      }
      prevHash = row.hash;
      expectedSeq += 1;
    }
    if (page.length < PAGE) break;
  }
  if (head.seq >= expectedSeq) {
    return broken(rows, { seq: expectedSeq, expectedHash: head.hash, storedHash: null, problem: 'missing' });
  }
  if (head.hash !== prevHash) {
    return broken(rows, { seq: head.seq, expectedHash: prevHash, storedHash: head.hash, problem: 'head' });
  }
  return { ok: true, rows };
}

function broken(rows: number, firstBrokenRow: BrokenRow): ChainVerification {
  return { ok: false, rows, firstBrokenRow };
}
