import { openPostgresDriver } from './postgres.ts';
import { SqlStore } from './sql-store.ts';
import { openSqliteDriver } from './sqlite.ts';
import type { Store } from './store.ts';

export type * from './store.ts';

/**
 * Opens the configured store and brings its schema up to date: PostgreSQL when `databaseUrl` is set (replicas
 * share it), otherwise SQLite in `dataDir`. `schema` keeps PostgreSQL tables in their own schema (tests use it).
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
  } catch (error) {
    // Nobody else holds the store yet: an open pool would keep the process alive after the failure.
    await store.close();
    throw error;
  }
  return store;
}
