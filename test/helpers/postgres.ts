import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/store.ts';

/** Where PostgreSQL tests connect: `TEST_DATABASE_URL`, or the local trust-auth server CI starts. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** One test's private schema in the test database. */
export interface TestSchema {
  readonly url: string;
  readonly schema: string;
  /** Opens and migrates a store on this schema; each call has its own pool, as another replica would. */
  openStore(): Promise<Store>;
  /** Runs one statement in this schema over a connection of its own, to look past the store. */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Drops the schema and everything in it; safe to call twice. */
  drop(): Promise<void>;
}

function redacted(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

async function withAdminClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    // The PostgreSQL suites must fail, never skip, when there is no database: say how to get one.
    throw new Error(
      `PostgreSQL tests need a database at ${redacted(TEST_DATABASE_URL)}, which did not answer ` +
        `(${error instanceof Error ? error.message : String(error)}). Start the local server with ` +
        '`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (as `bash .ci/run` does), ' +
        'or set TEST_DATABASE_URL to a PostgreSQL you can use.',
      { cause: error },
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates a randomly named empty schema, so concurrently running test files never see each other's rows. */
export async function createTestSchema(): Promise<TestSchema> {
  const schema = `lastgood_test_${randomBytes(6).toString('hex')}`;
  await withAdminClient((client) => client.query(`CREATE SCHEMA ${schema}`));
  return {
    url: TEST_DATABASE_URL,
    schema,
    openStore: () => openStore({ dataDir: tmpdir(), databaseUrl: TEST_DATABASE_URL, schema }),
    query: (sql, params = []) =>
      withAdminClient(async (client) => {
        await client.query(`SET search_path = ${schema}`);
        return (await client.query(sql, params)).rows;
      }),
    drop: async () => {
      await withAdminClient((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
    },
  };
}
