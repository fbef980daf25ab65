// The SQL that keeps track of applied migrations (the migrations themselves are in `../migrations.ts`).

/** The table of applied migrations, created before the first one runs. */
export const CREATE_MIGRATIONS_TABLE =
  'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)';

/** The versions already applied. */
export const APPLIED_MIGRATIONS = 'SELECT version FROM schema_migrations';

/** Records a migration as applied. */
export const RECORD_MIGRATION = 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)';

/** The cheapest query that proves the database answers. */
export const PING = 'SELECT 1 AS ok';

/** The cheapest write that proves the database takes writes: one row rewritten, committed. */
export const WRITE_PROBE = 'UPDATE write_probe SET written_at = ? WHERE id = 1';
