/**
 * A store a test points lastgood at (a PostgreSQL schema of its own, a database of its own, or a SQLite data dir),
 * with a way to read it directly, past lastgood.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { numberPlaceholders } from '../../src/store/postgres.ts';
import { createTestSchema, TEST_DATABASE_URL, type TestSchema } from './postgres.ts';
import { schemaUrl } from './process.ts';

/** A job's row as the store holds it. */
export interface JobRow {
  state: string;
  leaseOwner: string | null;
}

/** A store lastgood processes are pointed at, and a way for the test to look at it directly. */
export interface StoreUnderTest {
  kind: 'postgres' | 'sqlite';
  /** What to add to a process's environment so it uses this store. */
  env: Record<string, string>;
  /** Runs a read-only query directly against the store, past lastgood. */
  query(sql: string, params?: (string | number)[]): Promise<Record<string, unknown>[]>;
  job(decisionId: string): Promise<JobRow>;
  dispose(): Promise<void>;
}

/** A fresh PostgreSQL schema, selected by the connection string's `options=-c search_path=`. */
export async function postgresUnderTest(): Promise<StoreUnderTest & { schema: TestSchema }> {
  const schema = await createTestSchema();
  const store: StoreUnderTest & { schema: TestSchema } = {
    kind: 'postgres',
    schema,
    env: { DATABASE_URL: schemaUrl(TEST_DATABASE_URL, schema.schema) },
    query: (sql, params = []) => schema.query(numberPlaceholders(sql), params),
    job: (decisionId) => jobOf(store, decisionId),
    dispose: () => schema.drop(),
  };
  return store;
}

/** A fresh SQLite data dir, read directly through `node:sqlite` (WAL lets it read while lastgood writes). */
export function sqliteUnderTest(): StoreUnderTest & { dataDir: string } {
  const dataDir = mkdtempSync(join(tmpdir(), 'lastgood-replica-'));
  const store: StoreUnderTest & { dataDir: string } = {
    kind: 'sqlite',
    dataDir,
    env: { LASTGOOD_DATA_DIR: dataDir },
    async query(sql, params = []) {
      const db = new DatabaseSync(join(dataDir, 'lastgood.db'), { readOnly: true });
      try {
        return db.prepare(sql).all(...params) as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
    job: (decisionId) => jobOf(store, decisionId),
    dispose: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
  return store;
}

/** A store in a PostgreSQL database of its own, whose connections the test can refuse without touching others. */
export interface DedicatedPostgres extends StoreUnderTest {
  /** Refuses new connections to the database and ends the open ones (lastgood's pool), as an outage would. */
  refuseConnections(): Promise<void>;
  allowConnections(): Promise<void>;
}

/**
 * A fresh database (the test role may create one), so `ALTER DATABASE ... ALLOW_CONNECTIONS false` cuts off only
 * the processes under test, not the other tests sharing the server's `test` database.
 */
export async function dedicatedPostgresUnderTest(): Promise<DedicatedPostgres> {
  const database = `lastgood_outage_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${database}`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${database}`;
  const store: DedicatedPostgres = {
    kind: 'postgres',
    env: { DATABASE_URL: url.toString() },
    async query(sql, params = []) {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        return (await client.query(numberPlaceholders(sql), params)).rows;
      } finally {
        await client.end();
      }
    },
    job: (decisionId) => jobOf(store, decisionId),
    async refuseConnections() {
      await admin(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
      await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}'`);
    },
    allowConnections: () => admin(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`),
    async dispose() {
      await store.allowConnections();
      await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
  };
  return store;
}

async function jobOf(store: StoreUnderTest, decisionId: string): Promise<JobRow> {
  const [row] = await store.query('SELECT state, lease_owner FROM jobs WHERE decision_id = ?', [decisionId]);
  if (row === undefined) throw new Error(`no job for ${decisionId}`);
  return { state: String(row.state), leaseOwner: row.lease_owner === null ? null : String(row.lease_owner) };
}
