import { openPostgresDriver } from './postgres.ts';
import { SqlStore } from './sql-store.ts';
import { openSqliteDriver } from './sqlite.ts';
import type { Store } from './store.ts';

export type * from './store.ts';

/**
 * Opens the configured store, brings its schema up to date and proves it takes writes: PostgreSQL when
 * `databaseUrl` is set (replicas share it), otherwise SQLite in `dataDir`. `schema` keeps PostgreSQL tables in
 * their own schema (tests use it). A store that cannot be reached or written rejects with StoreUnavailableError.
 */
export async function openStore(options: {
  dataDir: string;
  databaseUrl: string | null;
  schema?: string;
}): Promise<Store> {
  const driver =
    options.databaseUrl === null
      ? openSqliteDriver(options.dataDir)
      : await openPostgresDriver(
          options.databaseUrl,
          options.schema === undefined ? {} : { schema: options.schema },
        );
  const store = new SqlStore(driver);
  try {
    await store.migrate();
    // Migrations already applied write nothing, and reads pass on a read-only file or a full disk: without a
    // write of its own a store that cannot take alerts would start, and say it is ready.
    await store.probeWrite();
  } catch (error) {
    // Nobody else holds the store yet: an open pool would keep the process alive after the failure.
    await store.close();
    throw error;
  }
  return store;
}
