/** A row as the driver returns it: column name to value. */
export type Row = Record<string, unknown>;
export type SqlValue = string | number | null;

/** One statement with its parameters. */
export interface Statement {
  sql: string;
  params: readonly SqlValue[];
}

/**
 * The small SQL surface both databases provide. Queries are written once with `?` placeholders; the PostgreSQL
 * driver numbers them. Everything dialect-specific is behind a method here.
 */
export interface SqlDriver {
  readonly dialect: 'sqlite' | 'postgres';
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /**
   * Runs writes as one unit, in order: PostgreSQL receives them as one statement (data-modifying CTEs), in one
   * round trip; SQLite runs them in turn. So none may depend on another's effect, except through a foreign key,
   * which PostgreSQL checks at the end of the statement.
   */
  runAll(statements: readonly Statement[]): Promise<void>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `work` in one transaction; the connection given to `work` is the only one to use inside it. */
  transaction<T>(work: (tx: SqlDriver) => Promise<T>): Promise<T>;
  /** Serialises transactions that touch one target, across processes where the database allows it. */
  lockTarget(targetName: string): Promise<void>;
  /** Applies migrations once even when several processes start together. */
  withMigrationLock<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
