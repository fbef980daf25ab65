import pg from 'pg';
import {
  type GuardedDriver,
  guardDriver,
  type Row,
  type SqlDriver,
  type SqlValue,
  type Statement,
} from './driver.ts';

/** How {@link openPostgresDriver} connects. */
export interface PostgresDriverOptions {
  /**
   * Schema to keep every table in, created if missing and set as the connections' `search_path`; tests give each
   * file its own. Without it the server's default `search_path` applies.
   */
  schema?: string;
  /**
   * Told when a pooled connection breaks outside a query (the pool drops it and opens another when needed).
   * Without it the error becomes a process warning: unhandled, it would crash the process on a failover.
   */
  onError?: (error: Error) => void;
}

/** An unquoted identifier, so it can go into `-c search_path=` and DDL as is, and PostgreSQL will not fold it. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const PG_INT8_OID = 20;

/**
 * Rewrites `?` placeholders to PostgreSQL's `$1..$n`, leaving alone any `?` inside string literals, quoted
 * identifiers, dollar-quoted strings and comments.
 */
export function numberPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    let end: number;
    if (ch === '?') {
      n += 1;
      out += `$${n}`;
      i += 1;
      continue;
    } else if (ch === "'") {
      end = quotedEnd(sql, i, "'", isEscapeString(sql, i));
    } else if (ch === '"') {
      end = quotedEnd(sql, i, '"', false);
    } else if (ch === '-' && next === '-') {
      const newline = sql.indexOf('\n', i);
      end = newline === -1 ? sql.length : newline;
    } else if (ch === '/' && next === '*') {
      end = blockCommentEnd(sql, i);
    } else if (ch === '$' && !isIdentifierChar(sql[i - 1])) {
      end = dollarQuoteEnd(sql, i);
    } else {
      end = i + 1;
    }
    out += sql.slice(i, end);
    i = end;
  }
  return out;
}

function isIdentifierChar(ch: string | undefined): boolean {
  return ch !== undefined && /[A-Za-z0-9_$]/.test(ch);
}

/** `E'...'` strings take backslash escapes, so `E'\''` is one quote, not the end. */
function isEscapeString(sql: string, quote: number): boolean {
  const prefix = sql[quote - 1];
  return (prefix === 'E' || prefix === 'e') && !isIdentifierChar(sql[quote - 2]);
}

/** Index just past the literal opening at `start`; a doubled quote is an escaped quote. */
function quotedEnd(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    if (backslashEscapes && sql[i] === '\\') {
      i += 2;
    } else if (sql[i] === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i += 2;
    } else {
      i += 1;
    }
  }
  return sql.length;
}

/** PostgreSQL block comments nest. */
function blockCommentEnd(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql.startsWith('/*', i)) {
      depth += 1;
      i += 2;
    } else if (sql.startsWith('*/', i)) {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else {
      i += 1;
    }
  }
  return sql.length;
}

/** `$tag$...$tag$` (tag optional); a `$` that opens no such quote, as in `$1`, is an ordinary character. */
function dollarQuoteEnd(sql: string, start: number): number {
  const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(start))?.[0];
  if (tag === undefined) return start + 1;
  const close = sql.indexOf(tag, start + tag.length);
  return close === -1 ? sql.length : close + tag.length;
}

/** Times are epoch milliseconds in BIGINT and counts are BIGINT: both fit a JS number, and code does arithmetic. */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value))
    throw new RangeError(`BIGINT ${text} does not fit in a JavaScript number`);
  return value;
}

/** How many distinct statements a driver names; later ones are parsed and planned on every call. */
const NAMED_STATEMENTS_MAX = 200;

/**
 * Names statements, so each connection parses and plans a statement once rather than on every call: once a
 * decision took two round trips, planning its two statements was most of what PostgreSQL did for it. The first
 * `NAMED_STATEMENTS_MAX` distinct texts are named (every decision runs the hot ones, so they come first); later
 * ones, such as multi-row INSERTs of rarer sizes, go unnamed, so that neither side's memory grows without bound.
 * Named statements live in the session: a pooler in front of PostgreSQL must keep sessions (or support
 * protocol-level prepared statements).
 */
class StatementNames {
  readonly #named = new Map<string, { name: string; text: string }>();

  query(sql: string, params: readonly SqlValue[] = []): pg.QueryConfig {
    const named = this.#named.get(sql);
    if (named !== undefined) return { ...named, values: [...params] };
    const text = numberPlaceholders(sql);
    if (this.#named.size >= NAMED_STATEMENTS_MAX) return { text, values: [...params] };
    const entry = { name: `lastgood_${this.#named.size}`, text };
    this.#named.set(sql, entry);
    return { ...entry, values: [...params] };
  }
}

/** The statements as one: every one but the last becomes a data-modifying CTE, so all go in one round trip. */
function asOneStatement(statements: readonly Statement[]): Statement {
  const last = statements.at(-1);
  if (last === undefined) throw new Error('runAll needs at least one statement');
  const ctes = statements.slice(0, -1).map(({ sql }, i) => `w${i} AS (${sql})`);
  return {
    sql: ctes.length === 0 ? last.sql : `WITH ${ctes.join(', ')} ${last.sql}`,
    params: statements.flatMap(({ params }) => params),
  };
}

/** Sends a statement and answers its result. */
type Send = (query: pg.QueryConfig) => Promise<pg.QueryResult>;

/**
 * The statements a driver sends, to the pool or to one transaction's pipeline. `write` sends `runAll`'s batch of
 * writes, whose result nobody reads: a transaction sends it without waiting for the answer.
 */
function queries(names: StatementNames, send: Send, write: (query: pg.QueryConfig) => Promise<unknown>) {
  const all = async (sql: string, params?: readonly SqlValue[]) =>
    (await send(names.query(sql, params))).rows as Row[];
  const run = async (sql: string, params?: readonly SqlValue[]) =>
    (await send(names.query(sql, params))).rowCount ?? 0;
  const runAll = async (statements: readonly Statement[]) => {
    const { sql, params } = asOneStatement(statements);
    await write(names.query(sql, params));
  };
  // Named only: each connection parses it at its first use, as ahead of time would cost a round trip.
  const prepare = async (statements: readonly Statement[]) =>
    void names.query(asOneStatement(statements).sql);
  return { all, run, runAll, prepare };
}

/**
 * One transaction's statements on a connection in pg's pipeline mode. Those whose answer the work does not need
 * (BEGIN, a target lock, a batch of writes, COMMIT) are sent without waiting for it, so they share a round trip
 * with the statement sent next: a decision batch takes three (BEGIN, its locks and the read of its inputs; its
 * writes and the audit head; the audit append and COMMIT) instead of seven. This is safe because PostgreSQL runs
 * a session's statements in order, so nothing sent after a lock runs before the lock is granted, and once a
 * statement fails it refuses every later one in the transaction, COMMIT included (which then answers ROLLBACK).
 * The failure itself is thrown by the next statement the work waits for, or by the commit at the latest.
 */
class Pipeline {
  readonly #client: pg.PoolClient;
  /** Sent without waiting, not yet checked; in the order sent. */
  readonly #unchecked: Promise<unknown>[] = [];
  #failure: { error: unknown } | null = null;

  constructor(client: pg.PoolClient) {
    this.#client = client;
  }

  /** Sends `query` without waiting for its answer; a failure surfaces through {@link Pipeline.checked}. */
  send(query: pg.QueryConfig | string): Promise<pg.QueryResult> {
    const sent = this.#client.query(query);
    // Handled here so that a failure nobody waits for yet is never an unhandled rejection.
    sent.catch(() => {});
    this.#unchecked.push(sent);
    return sent;
  }

  /**
   * Sends `query` and answers its result. When it fails because a statement sent earlier without waiting failed
   * (PostgreSQL then refuses it as part of an aborted transaction), that statement's error is thrown instead.
   */
  async result(query: pg.QueryConfig | string): Promise<pg.QueryResult> {
    try {
      return await this.#client.query(query);
    } catch (error) {
      await this.checked();
      throw error;
    }
  }

  /** Waits for every statement sent without waiting, and throws the first failure among them. */
  async checked(): Promise<void> {
    const settled = await Promise.allSettled(this.#unchecked.splice(0));
    const failed = settled.find((outcome) => outcome.status === 'rejected');
    if (failed !== undefined) this.#failure ??= { error: failed.reason };
    if (this.#failure !== null) throw this.#failure.error;
  }

  /** Commits, and resolves only once PostgreSQL says the transaction committed, every statement in it included. */
  async commit(): Promise<void> {
    const committed = this.send('COMMIT');
    await this.checked();
    const { command } = await committed;
    // What PostgreSQL answers to COMMIT in a transaction that a failed statement aborted; checked() throws that
    // statement's error first, so this is a second line of defence.
    if (command !== 'COMMIT') throw new Error(`COMMIT answered ${command}: the transaction was rolled back`);
  }
}

const ADVISORY_XACT_LOCK = 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))';

/**
 * PostgreSQL through a `pg` pool, for several replicas sharing one database. Per-target serialisation is a
 * transaction-scoped advisory lock, so it holds across processes and ends with the transaction whatever happens.
 */
class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres';
  readonly #pool: pg.Pool;
  readonly #lockPrefix: string;
  readonly #onError: (error: Error) => void;
  readonly #names = new StatementNames();
  readonly #pooled: ReturnType<typeof queries>;

  constructor(pool: pg.Pool, schema: string | undefined, onError: (error: Error) => void) {
    this.#pool = pool;
    this.#onError = onError;
    // Advisory locks are database-wide: keying them by schema keeps deployments (and test files) that share a
    // database from waiting on each other.
    this.#lockPrefix = schema === undefined ? 'lastgood:' : `lastgood:${schema}:`;
    const send: Send = (query) => pool.query(query);
    this.#pooled = queries(this.#names, send, send);
  }

  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.#pooled.all(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.#pooled.run(sql, params);
  }

  runAll(statements: readonly Statement[]): Promise<void> {
    return this.#pooled.runAll(statements);
  }

  prepare(statements: readonly Statement[]): Promise<void> {
    return this.#pooled.prepare(statements);
  }

  async exec(sql: string): Promise<void> {
    // Without parameters pg uses the simple query protocol, which accepts several statements.
    await this.#pool.query(sql);
  }

  async transaction<T>(work: (tx: SqlDriver) => Promise<T>): Promise<T> {
    const { client, release } = await this.#checkOut();
    const pipeline = new Pipeline(client);
    try {
      pipeline.send('BEGIN');
      const result = await work(this.#inTransaction(pipeline));
      await pipeline.commit();
      release();
      return result;
    } catch (error) {
      try {
        // Sent after every pipelined statement, so answered only once they all are.
        await client.query('ROLLBACK');
        release();
      } catch (rollbackError) {
        // A connection that cannot roll back is broken: destroy it rather than pool it. The work's error is the
        // one that explains what happened, so it is the one thrown.
        release(rollbackError instanceof Error ? rollbackError : true);
      }
      throw error;
    }
  }

  /** Outside a transaction the lock would be released as soon as it was taken, locking nothing. */
  async lockTarget(targetName: string): Promise<void> {
    throw new Error(
      `lockTarget(${targetName}) must be called on the tx that transaction() passes to its work`,
    );
  }

  async withMigrationLock<T>(work: () => Promise<T>): Promise<T> {
    const key = `${this.#lockPrefix}migrations`;
    const { client, release } = await this.#checkOut();
    try {
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
      const result = await work();
      await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
      release();
      return result;
    } catch (error) {
      // Ending the session releases its lock whatever state the connection is in.
      release(true);
      throw error;
    }
  }

  close(): Promise<void> {
    return this.#pool.end();
  }

  /**
   * The pool listens for errors only on idle clients: a connection lost while checked out but between queries
   * would be an unhandled 'error' event, and crash the process. Its next query fails anyway and says so. The
   * listener goes on in the pool's callback, not after an await: a backend terminated just as it connected sends
   * its FATAL in the same read as its first ReadyForQuery, and pg emits it before any await resumes, which crashed
   * the process while backends were being killed (test/replicas/store-outage.test.ts).
   */
  #checkOut(): Promise<{ client: pg.PoolClient; release: (destroy?: Error | boolean) => void }> {
    return new Promise((resolve, reject) => {
      this.#pool.connect((error, client) => {
        if (error || client === undefined) {
          reject(error);
          return;
        }
        client.on('error', this.#onError);
        resolve({
          client,
          release: (destroy) => {
            client.off('error', this.#onError);
            client.release(destroy);
          },
        });
      });
    });
  }

  #inTransaction(pipeline: Pipeline): SqlDriver {
    const tx: SqlDriver = {
      dialect: 'postgres',
      ...queries(
        this.#names,
        (query) => pipeline.result(query),
        async (query) => {
          pipeline.send(query);
        },
      ),
      exec: async (sql) => {
        await pipeline.result(sql);
      },
      transaction: (work) => work(tx),
      // Granted before any statement sent after it runs: PostgreSQL runs them in order (see Pipeline).
      lockTarget: async (targetName) => {
        pipeline.send({ text: ADVISORY_XACT_LOCK, values: [`${this.#lockPrefix}target:${targetName}`] });
      },
      withMigrationLock: (work) => this.withMigrationLock(work),
      // The pool belongs to the driver that started the transaction; closing it from inside would wait forever.
      close: async () => {},
    };
    return tx;
  }
}

/** SQLSTATEs that mean the server cannot serve this session or any write just now, whatever the statement. */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the backend was terminated (pg_terminate_backend, a fast shutdown)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or shutting down
  '25006', // read_only_sql_transaction: a standby, as after a failover to one
]);

/** SQLSTATE classes that are all unavailability: 08 connection exceptions, 53 insufficient resources (disk full). */
const UNAVAILABLE_SQLSTATE_CLASSES = new Set(['08', '53']);

/** Socket errors of a server that is down, restarting or unreachable. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * The errors `pg` and `pg-pool` raise themselves when a connection is lost, times out or cannot be had. They carry
 * no code, so these texts (fixed in the pinned `pg` 8) are the only way to know them; each maps to a reason of ours.
 */
const PG_TRANSPORT_ERRORS: ReadonlyMap<string, string> = new Map([
  ['Connection terminated unexpectedly', 'connection lost'],
  ['Connection terminated', 'connection closed'],
  ['Client has encountered a connection error and is not queryable', 'connection lost'],
  ['Client was closed and is not queryable', 'connection closed'],
  ['Connection terminated due to connection timeout', 'connect timeout'],
  ['timeout exceeded when trying to connect', 'pool timeout'],
  ['Cannot use a pool after calling end on the pool', 'pool closed'],
]);

/**
 * Why `error` means PostgreSQL cannot be reached or written now (a SQLSTATE, a socket error code or a pool
 * failure), or null for any other error. A FATAL error ends the session whatever its code: a database that is not
 * accepting connections (`ALLOW_CONNECTIONS false`, SQLSTATE 55000) is one.
 */
export function postgresUnavailableReason(error: unknown): string | null {
  if (error instanceof pg.DatabaseError) {
    const code = error.code ?? '';
    const unavailable =
      UNAVAILABLE_SQLSTATES.has(code) ||
      UNAVAILABLE_SQLSTATE_CLASSES.has(code.slice(0, 2)) ||
      error.severity === 'FATAL' ||
      error.severity === 'PANIC';
    return unavailable ? `SQLSTATE ${code}` : null;
  }
  if (!(error instanceof Error)) return null;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
  // Node tries every address of a host and reports all failures at once.
  if (error instanceof AggregateError && error.errors.length > 0) {
    const reasons = error.errors.map(postgresUnavailableReason);
    if (reasons.every((reason) => reason !== null)) return reasons[0]!;
  }
  return PG_TRANSPORT_ERRORS.get(error.message) ?? null;
}

/**
 * Opens a pool on `url` (nothing connects until the first query, except to create `options.schema` if given).
 * BIGINT results come back as numbers through this pool's own type parsers, leaving the global `pg.types` alone.
 */
export async function openPostgresDriver(
  url: string,
  options: PostgresDriverOptions = {},
): Promise<GuardedDriver> {
  const { schema } = options;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`schema ${JSON.stringify(schema)} must be a lowercase identifier (a-z, 0-9, _)`);
  }
  const types = new pg.TypeOverrides();
  types.setTypeParser(PG_INT8_OID, parseInt8);
  const pool = new pg.Pool({
    connectionString: url,
    // A database that never answers should fail start-up and readiness, not hang them.
    connectionTimeoutMillis: 10_000,
    // A transaction sends a statement before the one ahead of it is answered (see Pipeline).
    pipeline: true,
    types,
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  const onError =
    options.onError ??
    ((error: Error) =>
      process.emitWarning(`PostgreSQL connection failed: ${error.message}`, 'LastgoodStore'));
  pool.on('error', onError);
  const driver = guardDriver(new PostgresDriver(pool, schema, onError), postgresUnavailableReason);
  if (schema !== undefined) {
    try {
      await driver.transaction(async (tx) => {
        // Concurrent CREATE SCHEMA IF NOT EXISTS can still collide on the catalog's unique index; replicas
        // starting together take turns.
        await tx.all('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`lastgood:${schema}:schema`]);
        await tx.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      });
    } catch (error) {
      await pool.end();
      throw error;
    }
  }
  return driver;
}
