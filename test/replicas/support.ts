/**
 * What the replica tests share: the emulator they run in-process, the example targets' names, and the stores the
 * lastgood processes under test are pointed at (a PostgreSQL schema of their own, or a SQLite data dir).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type Emulator, startEmulator } from '../../src/emulator/emulator.ts';
import { loadFixtureFile } from '../../src/emulator/fixture.ts';
import { numberPlaceholders } from '../../src/store/postgres.ts';
import { createTestSchema, TEST_DATABASE_URL, type TestSchema } from '../helpers/postgres.ts';
import { type LastgoodProcess, schemaUrl, startLastgood } from '../helpers/process.ts';

export const CHECKOUT = 'projects/demo-project/locations/us-central1/services/checkout';
export const GOOD_REVISION = 'checkout-00001-abc';
/** What checkout serves in the example fixture: the revision a rollback moves off. */
export const BAD_REVISION = 'checkout-00002-xyz';
export const PIPELINE = 'projects/demo-project/locations/us-central1/deliveryPipelines/storefront-pipeline';

/** The example fixture's emulator with fast operations and rollouts; its host goes to both `*_EMULATOR_HOST`. */
export async function startReplicaEmulator(): Promise<Emulator> {
  return startEmulator({
    fixture: await loadFixtureFile(
      fileURLToPath(new URL('../../examples/emulator-fixture.yaml', import.meta.url)),
    ),
    adminPort: null,
    operationDelayMs: 20,
    rolloutPhaseDelayMs: 30,
  });
}

export function emulatorEnv(emulator: Emulator): Record<string, string> {
  return {
    CLOUD_RUN_EMULATOR_HOST: emulator.host,
    CLOUD_DEPLOY_EMULATOR_HOST: emulator.host,
    MONITORING_EMULATOR_HOST: emulator.host,
  };
}

/** Where traffic goes now, by revision, from the service's `traffic_statuses`. */
export function servingSplit(emulator: Emulator, service = CHECKOUT): Record<string, number> {
  const split: Record<string, number> = {};
  for (const entry of emulator.state.cloudRun.service(service)?.trafficStatuses ?? []) {
    if (entry.percent > 0) split[entry.revision] = entry.percent;
  }
  return split;
}

/** The calls of a method that could change something: `validate_only` ones are left out. */
export function mutatingCalls(emulator: Emulator, method: string) {
  return emulator.calls
    .list({ method })
    .filter((call) => (call.request as { validateOnly?: boolean }).validateOnly !== true);
}

/** Rollouts lastgood created: their ids are derived from the decision (`lastgood-rb-...`). */
export function lastgoodRollouts(emulator: Emulator) {
  return (emulator.state.cloudDeploy.pipeline(PIPELINE)?.releases ?? [])
    .flatMap((release) => release.rollouts)
    .filter((rollout) => rollout.name.split('/').at(-1)!.startsWith('lastgood-rb-'));
}

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

/**
 * A fresh SQLite data dir (under `parent`, a filesystem of the test's choosing, else the OS temp dir), read directly
 * through `node:sqlite` (WAL lets it read while lastgood writes).
 */
export function sqliteUnderTest(parent = tmpdir()): StoreUnderTest & { dataDir: string } {
  const dataDir = mkdtempSync(join(parent, 'lastgood-replica-'));
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

async function jobOf(store: StoreUnderTest, decisionId: string): Promise<JobRow> {
  const [row] = await store.query('SELECT state, lease_owner FROM jobs WHERE decision_id = ?', [decisionId]);
  if (row === undefined) throw new Error(`no job for ${decisionId}`);
  return { state: String(row.state), leaseOwner: row.lease_owner === null ? null : String(row.lease_owner) };
}

/** One test's own world: an emulator, a store, and the lastgood processes it starts, all gone when it ends. */
export interface ReplicaWorld {
  emulator: Emulator;
  store: StoreUnderTest;
  /** Starts `node src/main.ts` on the world's store and emulator and waits until it is ready. */
  start(name: string, env?: Record<string, string>, options?: { fdLimit?: number }): Promise<LastgoodProcess>;
}

/**
 * Sets up a test's world and registers its teardown (processes killed, store dropped, emulator stopped) with the
 * test, so tests of one file can run concurrently without sharing an emulator's call log or a store.
 */
export async function replicaWorld(
  test: { onTestFinished(fn: () => Promise<void>): void },
  openStore: () => Promise<StoreUnderTest>,
): Promise<ReplicaWorld> {
  const emulator = await startReplicaEmulator();
  const processes: LastgoodProcess[] = [];
  let store: StoreUnderTest | null = null;
  test.onTestFinished(async () => {
    await Promise.all(processes.map((process) => process.dispose()));
    await store?.dispose();
    await emulator.stop();
  });
  store = await openStore();
  const world: ReplicaWorld = {
    emulator,
    store,
    async start(name, env = {}, options = {}) {
      const process = await startLastgood({
        name,
        env: { ...world.store.env, ...emulatorEnv(emulator), ...env },
        ...options,
      });
      processes.push(process);
      await process.waitReady();
      return process;
    },
  };
  return world;
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
