import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StoreUnavailableError } from '../../src/errors.ts';
import { postgresUnavailableReason } from '../../src/store/postgres.ts';
import { SqlStore } from '../../src/store/sql-store.ts';
import { openSqliteDriver, sqliteUnavailableReason } from '../../src/store/sqlite.ts';
import { TEST_DATABASE_URL } from '../helpers/postgres.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lastgood-unavailable-'));
  dirs.push(dir);
  return dir;
}

/** The error `work` throws; fails the test when it throws none. */
function thrownBy(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

async function rejectionOf(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('SQLite errors that mean the store cannot be written now', () => {
  it('classifies a full database, a read-only one, one that cannot be opened and one busy past its timeout', () => {
    const dir = dataDir();
    const db = new DatabaseSync(join(dir, 'a.db'));
    db.exec('CREATE TABLE t (x BLOB)');
    db.exec('PRAGMA max_page_count = 2');
    const full = thrownBy(() => db.exec('INSERT INTO t VALUES (randomblob(100000))'));
    const readOnly = thrownBy(() =>
      new DatabaseSync(join(dir, 'a.db'), { readOnly: true }).exec('INSERT INTO t VALUES (1)'),
    );
    const cannotOpen = thrownBy(() => new DatabaseSync(join(dir, 'no-such-dir', 'a.db')));
    db.exec('BEGIN IMMEDIATE');
    const other = new DatabaseSync(join(dir, 'a.db'), { timeout: 10 });
    const busy = thrownBy(() => other.exec('BEGIN IMMEDIATE'));
    db.exec('ROLLBACK');
    expect([full, readOnly, cannotOpen, busy].map(sqliteUnavailableReason)).toEqual([
      'SQLITE_FULL (database or disk is full)',
      'SQLITE_READONLY (attempt to write a readonly database)',
      'SQLITE_CANTOPEN (unable to open database file)',
      'SQLITE_BUSY (database is locked)',
    ]);
  });

  it('classifies every extended I/O error by its primary code', () => {
    // SQLITE_IOERR_WRITE (778) and SQLITE_IOERR_FSYNC (1034): a disk failing cannot be provoked from a test.
    for (const errcode of [778, 1034]) {
      expect(sqliteUnavailableReason({ code: 'ERR_SQLITE_ERROR', errcode, errstr: 'disk I/O error' })).toBe(
        'SQLITE_IOERR (disk I/O error)',
      );
    }
  });

  it('leaves a constraint or a wrong statement alone: those are not the store being down', () => {
    const db = new DatabaseSync(':memory:');
    db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    db.exec('INSERT INTO t VALUES (1)');
    expect(sqliteUnavailableReason(thrownBy(() => db.exec('INSERT INTO t VALUES (1)')))).toBeNull();
    expect(sqliteUnavailableReason(thrownBy(() => db.exec('SELECT * FROM nowhere')))).toBeNull();
    expect(sqliteUnavailableReason(new Error('database or disk is full'))).toBeNull();
  });
});

describe('PostgreSQL errors that mean the store cannot be reached or written now', () => {
  it('classifies a refused connection, a terminated backend and a pool with no connection to spare', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    const refused = new pg.Client({ host: '127.0.0.1', port, user: 'postgres' });
    refused.on('error', () => {});
    const refusal = await rejectionOf(refused.connect());

    const terminated = new pg.Client({ connectionString: TEST_DATABASE_URL });
    terminated.on('error', () => {});
    await terminated.connect();
    const termination = await rejectionOf(terminated.query('SELECT pg_terminate_backend(pg_backend_pid())'));
    const afterward = await rejectionOf(terminated.query('SELECT 1'));

    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1, connectionTimeoutMillis: 50 });
    const held = await pool.connect();
    const poolTimeout = await rejectionOf(pool.query('SELECT 1'));
    held.release();
    await pool.end();

    expect([refusal, termination, afterward, poolTimeout].map(postgresUnavailableReason)).toEqual([
      'ECONNREFUSED',
      'SQLSTATE 57P01',
      'connection lost',
      'pool timeout',
    ]);
  });

  it.each([
    ['08006', 'ERROR'], // connection_failure
    ['57P03', 'FATAL'], // cannot_connect_now
    ['53100', 'ERROR'], // disk_full
    ['25006', 'ERROR'], // read_only_sql_transaction: a standby after failover
    ['55000', 'FATAL'], // database not accepting connections
  ])('classifies SQLSTATE %s (%s)', (code, severity) => {
    const error = new pg.DatabaseError('from the server', 0, 'error');
    error.code = code;
    error.severity = severity;
    expect(postgresUnavailableReason(error)).toBe(`SQLSTATE ${code}`);
  });

  it('leaves a syntax error or a division by zero alone', async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      const syntax = await rejectionOf(client.query('SELEC 1'));
      const division = await rejectionOf(client.query('SELECT 1/0'));
      expect([syntax, division].map(postgresUnavailableReason)).toEqual([null, null]);
    } finally {
      await client.end();
    }
    expect(postgresUnavailableReason(new Error('something else'))).toBeNull();
  });
});

describe('a store whose writes fail', () => {
  it('answers StoreUnavailableError, and checkWritable fails at once, until a write succeeds again', async () => {
    // Only performance.now(), which times the hold; the driver's setImmediate batching runs for real.
    vi.useFakeTimers({ toFake: ['performance'] });
    const driver = openSqliteDriver(dataDir());
    const store = new SqlStore(driver);
    try {
      await store.migrate();
      await store.checkWritable();
      await driver.exec('CREATE TABLE filler (x BLOB)');
      const [{ pages }] = (await driver.all('PRAGMA page_count')).map((row) => ({ pages: row.page_count }));
      await driver.exec(`PRAGMA max_page_count = ${Number(pages)}`);

      const failure = await rejectionOf(driver.run('INSERT INTO filler VALUES (randomblob(100000))'));
      expect(failure).toBeInstanceOf(StoreUnavailableError);
      expect(failure).toMatchObject({
        code: 'LASTGOOD_ERR_UNAVAILABLE',
        statusCode: 503,
        store: 'sqlite',
        reason: 'SQLITE_FULL (database or disk is full)',
      });
      // Within the hold, even a write of its own that would fit (one row rewritten) does not make it ready.
      await expect(store.checkWritable()).rejects.toBe(failure);

      await driver.exec('PRAGMA max_page_count = 1000000');
      await driver.run('INSERT INTO filler VALUES (randomblob(100000))');
      await expect(store.checkWritable()).rejects.toBe(failure);
      vi.advanceTimersByTime(2_000);
      await store.checkWritable();
    } finally {
      vi.useRealTimers();
      await store.close();
    }
  });
});
