import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { StoreUnavailableError } from '../errors.ts';
import {
  type GuardedDriver,
  guardDriver,
  type Row,
  type SqlDriver,
  type SqlValue,
  type Statement,
} from './driver.ts';

/** A transaction asked for and not yet committed: it runs in the next batch. */
interface PendingTransaction {
  work: (tx: SqlDriver) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * SQLite through Node's built-in `node:sqlite`: WAL and synchronous=FULL, so a committed alert survives a power
 * cut. One connection per process; every statement is serialised through one queue, because a transaction spans
 * several awaits and nothing else may run on the connection in between.
 *
 * Transactions are group-committed: those asked for in the same event-loop turn run one after another inside one
 * BEGIN ... COMMIT, each in its own savepoint, and none is answered before that COMMIT. Each commit costs an
 * fsync that blocks the process (node:sqlite is synchronous), so under an alert flood one fsync per alert capped
 * intake at about 1,000 alerts/s; one per batch does not. Each transaction still sees the ones before it in the
 * batch, so per-target serialisation holds, and one that fails is rolled back to its savepoint alone.
 */
class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite';
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  #queue: Promise<unknown> = Promise.resolve();
  #pending: PendingTransaction[] = [];
  readonly #inside: SqlDriver;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#inside = {
      dialect: 'sqlite',
      all: async (sql, params) => this.#all(sql, params),
      run: async (sql, params) => this.#run(sql, params),
      runAll: async (statements) => {
        for (const { sql, params } of statements) this.#run(sql, params);
      },
      exec: async (sql) => this.#db.exec(sql),
      transaction: (work) => work(this.#inside),
      lockTarget: async () => {},
      withMigrationLock: (work) => work(),
      close: async () => {},
    };
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #all(sql: string, params: readonly SqlValue[] = []): Row[] {
    return this.#statement(sql).all(...params) as Row[];
  }

  #run(sql: string, params: readonly SqlValue[] = []): number {
    return Number(this.#statement(sql).run(...params).changes);
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work);
    this.#queue = result.catch(() => {});
    return result;
  }

  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.#exclusive(async () => this.#all(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    // A write on its own is a one-statement transaction, so it shares the fsync of the batch it lands in.
    return this.transaction(async (tx) => tx.run(sql, params));
  }

  runAll(statements: readonly Statement[]): Promise<void> {
    return this.transaction((tx) => tx.runAll(statements));
  }

  exec(sql: string): Promise<void> {
    return this.#exclusive(async () => this.#db.exec(sql));
  }

  transaction<T>(work: (tx: SqlDriver) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      // setImmediate runs after the event loop has handled every request that arrived with this one, so they
      // all join the batch; a lone transaction waits one loop turn, microseconds.
      if (this.#pending.length === 1) setImmediate(() => void this.#exclusive(() => this.#commitPending()));
    });
  }

  async #commitPending(): Promise<void> {
    const batch = this.#pending.splice(0);
    if (batch.length === 0) return;
    const answers: (() => void)[] = [];
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      for (const member of batch) {
        this.#db.exec('SAVEPOINT batch_member');
        try {
          const result = await member.work(this.#inside);
          this.#db.exec('RELEASE batch_member');
          answers.push(() => member.resolve(result));
        } catch (error) {
          // An I/O error or a full disk ends the whole transaction, not just this member's part: fail the batch.
          if (!this.#db.isTransaction) throw error;
          this.#db.exec('ROLLBACK TO batch_member');
          this.#db.exec('RELEASE batch_member');
          answers.push(() => member.reject(error));
        }
      }
      this.#db.exec('COMMIT');
    } catch (error) {
      try {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      } catch {
        // SQLite rolls back itself when the journal cannot be written; the batch's own error says what happened,
        // and every member must still be answered.
      }
      for (const member of batch) member.reject(error);
      return;
    }
    for (const answer of answers) answer();
  }

  /** One process owns the file, and the queue already serialises every transaction. */
  async lockTarget(): Promise<void> {}

  withMigrationLock<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }

  async close(): Promise<void> {
    // Transactions asked for before close() still commit first, as they would without batching.
    void this.#exclusive(() => this.#commitPending());
    await this.#exclusive(async () => {
      if (this.#db.isOpen) this.#db.close();
    });
  }
}

/** SQLite's primary result codes that mean the file cannot be written now, rather than a wrong statement. */
const UNAVAILABLE_CODES: ReadonlyMap<number, string> = new Map([
  // Returned only once busy_timeout has run out.
  [5, 'SQLITE_BUSY'],
  [8, 'SQLITE_READONLY'],
  [10, 'SQLITE_IOERR'],
  [13, 'SQLITE_FULL'],
  [14, 'SQLITE_CANTOPEN'],
]);

/**
 * The SQLite code when `error` says the database cannot be written now (disk full, read-only, I/O error, cannot
 * open, busy past its timeout), with SQLite's fixed text for it; null for any other error.
 */
export function sqliteUnavailableReason(error: unknown): string | null {
  const { code, errcode, errstr } = (error ?? {}) as { code?: unknown; errcode?: unknown; errstr?: unknown };
  if (code !== 'ERR_SQLITE_ERROR' || typeof errcode !== 'number') return null;
  // errcode is the extended code (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, ...); its low byte is the primary.
  const name = UNAVAILABLE_CODES.get(errcode & 0xff);
  if (name === undefined) return null;
  return typeof errstr === 'string' ? `${name} (${errstr})` : name;
}

/** Opens (creating if needed) `lastgood.db` in `dataDir`. */
export function openSqliteDriver(dataDir: string): GuardedDriver {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    // A data dir that cannot be created (EROFS, EACCES) leaves the store as unwritable as a read-only file.
    throw new StoreUnavailableError('sqlite', String((error as { code?: unknown }).code), error);
  }
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(join(dataDir, 'lastgood.db'));
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA foreign_keys = ON');
    db.exec('PRAGMA busy_timeout = 5000');
  } catch (error) {
    if (db?.isOpen) db.close();
    const reason = sqliteUnavailableReason(error);
    throw reason === null ? error : new StoreUnavailableError('sqlite', reason, error);
  }
  return guardDriver(new SqliteDriver(db), sqliteUnavailableReason);
}
