import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { promisify } from 'node:util';
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

/** Flushes a file's data to disk, as SQLite's own WAL sync does (fdatasync on Linux). */
export type SyncFile = (fd: number) => Promise<void>;

const fdatasyncFile: SyncFile = promisify(fdatasync);

/**
 * The error SQLite's COMMIT would have thrown under synchronous=FULL had its own sync of the WAL failed
 * (SQLITE_IOERR_FSYNC), so that it is classified as the store being unwritable like any other I/O error.
 */
function walSyncError(cause: unknown): Error {
  const code = (cause as { code?: unknown } | null)?.code;
  return Object.assign(new Error(`disk I/O error: the WAL's fdatasync failed (${String(code ?? cause)})`), {
    code: 'ERR_SQLITE_ERROR',
    errcode: 1034,
    errstr: `disk I/O error (the WAL's fdatasync failed: ${String(code ?? cause)})`,
    cause,
  });
}

/**
 * Makes commits durable by syncing the WAL off the main thread (libuv's thread pool), at most one sync at a time:
 * commits made while one runs share the next. A failed sync fails every later call too: after one, Linux may have
 * dropped the unwritten pages and marked them clean, so a later sync that succeeds proves nothing about the commits
 * before it (PostgreSQL stops on one for that reason); only a restart, which reads the file again, can tell what
 * is on disk.
 */
class WalSync {
  /** Null when the file is not in WAL mode: then SQLite syncs each commit itself (synchronous=FULL). */
  readonly #fd: number | null;
  readonly #sync: SyncFile;
  /** A commit was made since the last sync started. */
  #dirty = false;
  /** The sync running now. */
  #running: Promise<void> | null = null;
  /** The sync that starts once the running one ends, for the commits made since that one started. */
  #next: Promise<void> | null = null;
  #failure: Error | null = null;

  constructor(fd: number | null, sync: SyncFile) {
    this.#fd = fd;
    this.#sync = sync;
  }

  /** Call after every COMMIT (and every statement run outside a transaction, which commits on its own). */
  committed(): void {
    if (this.#fd !== null) this.#dirty = true;
  }

  /** Resolves once every commit made before the call is on disk; at once when none waits for a sync. */
  durable(): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (!this.#dirty) return this.#running ?? Promise.resolve();
    if (this.#running === null) return this.#start();
    this.#next ??= this.#running.then(
      () => this.#startNext(),
      () => this.#startNext(),
    );
    return this.#next;
  }

  #startNext(): Promise<void> {
    this.#next = null;
    return this.#failure === null ? this.#start() : Promise.reject(this.#failure);
  }

  #start(): Promise<void> {
    this.#dirty = false;
    // Only committed() makes a sync needed, and it does so only when there is a WAL.
    const running = this.#sync(this.#fd as number).then(
      () => {
        if (this.#running === running) this.#running = null;
      },
      (error: unknown) => {
        this.#failure ??= walSyncError(error);
        if (this.#running === running) this.#running = null;
        throw this.#failure;
      },
    );
    this.#running = running;
    return running;
  }

  /** Resolves when no sync runs or waits to run (however it ends: its callers are told). */
  async idle(): Promise<void> {
    for (let sync = this.#next ?? this.#running; sync !== null; sync = this.#next ?? this.#running) {
      await sync.catch(() => {});
    }
  }

  /** Once idle, and after the connection has closed. */
  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
  }
}

/**
 * SQLite through Node's built-in `node:sqlite`, in WAL mode: a transaction is answered only once its commit is on
 * disk, so a committed alert survives a power cut. One connection per process; every statement is serialised
 * through one queue, because a transaction spans several awaits and nothing else may run on the connection in
 * between.
 *
 * Transactions are group-committed: those asked for in the same event-loop turn run one after another inside one
 * BEGIN ... COMMIT, each in its own savepoint, and none is answered before that COMMIT is durable. Each transaction
 * still sees the ones before it in the batch, so per-target serialisation holds, and one that fails is rolled back
 * to its savepoint alone. A transaction alone in its batch (every alert that does not come in a flood) gets no
 * savepoint, since rolling back the whole transaction undoes it alone: under a savepoint SQLite copies every page
 * the transaction changes into a statement journal, which for one alert outgrew its 64 KiB in memory and went to a
 * temporary file, created, written and deleted each time (see bench/README.md, the first alert after start).
 *
 * The COMMIT's fsync does not block the process: node:sqlite is synchronous, and under synchronous=FULL each
 * COMMIT stopped the event loop for its fsync (about 1 ms here, a sixth of the main thread under an alert flood).
 * The connection runs synchronous=NORMAL, under which a WAL commit is the same writes without that one sync (the
 * WAL's header and checkpoints are synced as before), and the WAL is synced on the thread pool instead, while the
 * event loop goes on handling requests and later batches commit; a transaction is answered, and a read returns,
 * only after a sync that started after the COMMIT it saw. Syncs coalesce: one runs at a time, and every commit
 * made meanwhile shares the next.
 *
 * Reads inside a transaction do not wait for a sync: what a transaction reads was committed before its own
 * COMMIT, to the same WAL, so the sync that its answer waits for makes that durable too, and nothing it read is
 * shown or acted on before.
 */
class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite';
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  #queue: Promise<unknown> = Promise.resolve();
  #pending: PendingTransaction[] = [];
  readonly #inside: SqlDriver;
  readonly #wal: WalSync;

  constructor(db: DatabaseSync, wal: WalSync) {
    this.#db = db;
    this.#wal = wal;
    this.#inside = {
      dialect: 'sqlite',
      all: async (sql, params) => this.#all(sql, params),
      run: async (sql, params) => this.#run(sql, params),
      runAll: async (statements) => {
        for (const { sql, params } of statements) this.#run(sql, params);
      },
      prepare: async (statements) => this.#prepare(statements),
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

  #prepare(statements: readonly Statement[]): void {
    for (const { sql } of statements) this.#statement(sql);
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work);
    this.#queue = result.catch(() => {});
    return result;
  }

  async all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    const rows = await this.#exclusive(async () => this.#all(sql, params));
    // The rows may include a commit whose sync is still running: nothing is shown before it is on disk.
    await this.#wal.durable();
    return rows;
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    // A write on its own is a one-statement transaction, so it shares the fsync of the batch it lands in.
    return this.transaction(async (tx) => tx.run(sql, params));
  }

  runAll(statements: readonly Statement[]): Promise<void> {
    return this.transaction((tx) => tx.runAll(statements));
  }

  prepare(statements: readonly Statement[]): Promise<void> {
    return this.#exclusive(async () => this.#prepare(statements));
  }

  async exec(sql: string): Promise<void> {
    await this.#exclusive(async () => {
      this.#db.exec(sql);
      this.#wal.committed();
    });
    await this.#wal.durable();
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
    const savepoints = batch.length > 1;
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      for (const member of batch) {
        if (savepoints) this.#db.exec('SAVEPOINT batch_member');
        try {
          const result = await member.work(this.#inside);
          if (savepoints) this.#db.exec('RELEASE batch_member');
          answers.push(() => member.resolve(result));
        } catch (error) {
          // An I/O error or a full disk ends the whole transaction, not just this member's part: fail the batch.
          if (!this.#db.isTransaction) throw error;
          if (savepoints) {
            this.#db.exec('ROLLBACK TO batch_member');
            this.#db.exec('RELEASE batch_member');
          } else this.#db.exec('ROLLBACK');
          // Still answered after the sync below: what it read may be a commit whose sync is running.
          answers.push(() => member.reject(error));
        }
      }
      // Only a lone member that failed has rolled the transaction back: there is nothing to commit.
      if (this.#db.isTransaction) {
        this.#db.exec('COMMIT');
        this.#wal.committed();
      }
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
    // Not awaited: the next batch runs while the WAL is synced, and this one is answered after.
    this.#wal.durable().then(
      () => {
        for (const answer of answers) answer();
      },
      (error: unknown) => {
        for (const member of batch) member.reject(error);
      },
    );
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
      await this.#wal.idle();
      if (this.#db.isOpen) {
        this.#db.close();
        this.#wal.close();
      }
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

/**
 * Opens (creating if needed) `lastgood.db` in `dataDir`. `syncFile` makes the WAL durable (fdatasync; tests
 * replace it to hold or fail a sync).
 */
export function openSqliteDriver(dataDir: string, syncFile: SyncFile = fdatasyncFile): GuardedDriver {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    // A data dir that cannot be created (EROFS, EACCES) leaves the store as unwritable as a read-only file.
    throw new StoreUnavailableError('sqlite', String((error as { code?: unknown }).code), error);
  }
  const path = join(dataDir, 'lastgood.db');
  let db: DatabaseSync | undefined;
  let walFd: number | null = null;
  try {
    db = new DatabaseSync(path);
    const wal = db.prepare('PRAGMA journal_mode = WAL').get()?.journal_mode === 'wal';
    // Only in WAL mode is a commit under NORMAL the same writes as under FULL without the one sync (see
    // SqliteDriver); a file that stays in rollback-journal mode keeps FULL, and SQLite syncs each commit itself.
    db.exec(`PRAGMA synchronous = ${wal ? 'NORMAL' : 'FULL'}`);
    db.exec('PRAGMA foreign_keys = ON');
    db.exec('PRAGMA busy_timeout = 5000');
    if (wal) {
      // A WAL-mode connection creates the WAL when it first reads the file, and SQLite removes it only when the
      // last connection closes, so this descriptor names the WAL every commit of this connection writes.
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      walFd = openSync(`${path}-wal`, 'r');
    }
  } catch (error) {
    if (db?.isOpen) db.close();
    const reason = sqliteUnavailableReason(error);
    throw reason === null ? error : new StoreUnavailableError('sqlite', reason, error);
  }
  return guardDriver(new SqliteDriver(db, new WalSync(walFd, syncFile)), sqliteUnavailableReason);
}
