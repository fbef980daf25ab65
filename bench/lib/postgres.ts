import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TEST_DATABASE_URL } from '../../test/helpers/postgres.ts';

/** A private database for one bench run, and the DATABASE_URL that puts lastgood's tables in it. */
export interface BenchDatabase {
  databaseUrl: string;
  drop(): Promise<void>;
}

async function onServer(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Creates a database of its own on the server at `TEST_DATABASE_URL` (so the role needs CREATEDB), rather than a
 * schema in the test database as the tests use: every test file creates and drops schemas there, and their dead
 * catalog rows, never vacuumed where autovacuum is off, halved the intake measured (about 480 -> 970 alerts/s
 * once the catalogs were vacuumed). A new database starts with clean catalogs, as a production one has.
 */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `lastgood_bench_${randomBytes(6).toString('hex')}`;
  await onServer(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    drop: () => onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
