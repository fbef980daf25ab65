// The SQL that keeps track of applied migrations (the migrations themselves are in `../migrations.ts`).

export const CREATE_MIGRATIONS_TABLE =
  'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)';

export const APPLIED_MIGRATIONS = 'SELECT version FROM schema_migrations';

export const RECORD_MIGRATION = 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)';

export const PING = 'SELECT 1 AS ok';
