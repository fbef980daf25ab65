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

/** Both a pool and a checked-out client answer queries; a transaction's statements must all go to its client. */
interface Queryable {
  query(config: pg.QueryConfig): Promise<pg.QueryResult>;
}

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

/** The statements a driver sends, to the pool or to one transaction's client. */
function queries(db: Queryable, names: StatementNames) {
  const all = async (sql: string, params?: readonly SqlValue[]) =>
    (await db.query(names.query(sql, params))).rows as Row[];
  const run = async (sql: string, params?: readonly SqlValue[]) =>
    (await db.query(names.query(sql, params))).rowCount ?? 0;
  const runAll = async (statements: readonly Statement[]) => {
    const { sql, params } = asOneStatement(statements);
    await run(sql, params);
  };
  return { all, run, runAll };
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
    this.#pooled = queries(pool, this.#names);
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

  async exec(sql: string): Promise<void> {
    // Without parameters pg uses the simple query protocol, which accepts several statements.
    await this.#pool.query(sql);
  }

  async transaction<T>(work: (tx: SqlDriver) => Promise<T>): Promise<T> {
    const { client, release } = await this.#checkOut();
    try {
      await client.query('BEGIN');
      const result = await work(this.#inTransaction(client));
      await client.query('COMMIT');
      release();
      return result;
    } catch (error) {
      try {
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

  #inTransaction(client: pg.PoolClient): SqlDriver {
    const tx: SqlDriver = {
      dialect: 'postgres',
      ...queries(client, this.#names),
      exec: async (sql) => {
        await client.query(sql);
      },
      transaction: (work) => work(tx),
      lockTarget: async (targetName) => {
        await client.query(ADVISORY_XACT_LOCK, [`${this.#lockPrefix}target:${targetName}`]);
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
