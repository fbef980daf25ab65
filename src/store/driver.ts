import { StoreUnavailableError } from '../errors.ts';

/** A row as the driver returns it: column name to value. */
export type Row = Record<string, unknown>;
export type SqlValue = string | number | null;

/** One statement with its parameters. */
export interface Statement {
  sql: string;
  params: readonly SqlValue[];
}

/**
 * The small SQL surface both databases provide. Queries are written once with `?` placeholders; the PostgreSQL
 * driver numbers them. Everything dialect-specific is behind a method here.
 */
export interface SqlDriver {
  readonly dialect: 'sqlite' | 'postgres';
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /**
   * Runs writes as one unit, in order: PostgreSQL receives them as one statement (data-modifying CTEs), in one
   * round trip; SQLite runs them in turn. So none may depend on another's effect, except through a foreign key,
   * which PostgreSQL checks at the end of the statement. Inside a transaction PostgreSQL's driver does not wait
   * for the answer: the statements sent next run after these, and a failure here fails the next statement waited
   * for, or the commit, with this error.
   */
  runAll(statements: readonly Statement[]): Promise<void>;
  /**
   * Gets `statements` ready as `runAll` would run them, without running them or changing anything: SQLite compiles
   * and caches each, PostgreSQL names the one it would send. For a warm-up.
   */
  prepare(statements: readonly Statement[]): Promise<void>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `work` in one transaction; the connection given to `work` is the only one to use inside it. */
  transaction<T>(work: (tx: SqlDriver) => Promise<T>): Promise<T>;
  /**
   * Serialises transactions that touch one target, across processes where the database allows it. It may resolve
   * before the lock is granted (PostgreSQL pipelines it), but no statement sent after it runs before.
   */
  lockTarget(targetName: string): Promise<void>;
  /** Applies migrations once even when several processes start together. */
  withMigrationLock<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * How long /readyz stays 503 after a write failed, whatever a write of its own finds meanwhile: a probe's one-row
 * update can fit where alerts no longer do (a full disk leaves room in pages already written), and must not turn
 * the process ready while the writes it is there for still fail.
 */
const FAILED_WRITE_HOLD_MS = 2_000;

/**
 * The outcome of the store's recent writes, for /readyz: failed when the last one found the store unavailable, until
 * one succeeds again. Reads that find it unreachable count as failures too: a write would fail the same way.
 */
export class WriteHealth {
  #failure: { error: StoreUnavailableError; at: number } | null = null;
  #lastSucceeded = true;

  failed(error: StoreUnavailableError): void {
    this.#failure = { error, at: performance.now() };
    this.#lastSucceeded = false;
  }

  succeeded(): void {
    this.#lastSucceeded = true;
  }

  /** The failure to report without trying again: one within the hold above. */
  recentFailure(): StoreUnavailableError | null {
    const failure = this.#failure;
    return failure !== null && performance.now() - failure.at < FAILED_WRITE_HOLD_MS ? failure.error : null;
  }

  /** True when the last write failed: only a write that succeeds shows the store is back. */
  get unproven(): boolean {
    return !this.#lastSucceeded;
  }
}

/** A driver whose failures to reach or write the store are one typed error, and whose writes are tracked. */
export interface GuardedDriver extends SqlDriver {
  readonly writes: WriteHealth;
}

/**
 * Wraps `driver` so that every error `unavailableReason` recognises (it names the database's code for it) is thrown
 * as a StoreUnavailableError and recorded, and every write that succeeds is recorded. Only the outer calls are
 * wrapped: an error inside a transaction reaches its `transaction()` call, which classifies it once.
 */
export function guardDriver(
  driver: SqlDriver,
  unavailableReason: (error: unknown) => string | null,
): GuardedDriver {
  const writes = new WriteHealth();
  const guarded = async <T>(call: () => Promise<T>, isWrite: boolean): Promise<T> => {
    let result: T;
    try {
      result = await call();
    } catch (error) {
      const reason = error instanceof StoreUnavailableError ? null : unavailableReason(error);
      if (reason === null) throw error;
      const unavailable = new StoreUnavailableError(driver.dialect, reason, error);
      writes.failed(unavailable);
      throw unavailable;
    }
    if (isWrite) writes.succeeded();
    return result;
  };
  return {
    dialect: driver.dialect,
    writes,
    all: (sql, params) => guarded(() => driver.all(sql, params), false),
    run: (sql, params) => guarded(() => driver.run(sql, params), true),
    runAll: (statements) => guarded(() => driver.runAll(statements), true),
    prepare: (statements) => driver.prepare(statements),
    exec: (sql) => guarded(() => driver.exec(sql), true),
    transaction: (work) => guarded(() => driver.transaction(work), true),
    lockTarget: (targetName) => driver.lockTarget(targetName),
    withMigrationLock: (work) => guarded(() => driver.withMigrationLock(work), false),
    close: () => driver.close(),
  };
}
