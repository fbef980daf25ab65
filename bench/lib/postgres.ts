import { createTestSchema, type TestSchema } from '../../test/helpers/postgres.ts';

/** A private schema for one bench run, and the DATABASE_URL that puts lastgood's tables in it. */
export interface BenchSchema {
  databaseUrl: string;
  drop(): Promise<void>;
}

/**
 * Creates the schema the way the store tests do (and fails the same loud way when PostgreSQL does not answer).
 * lastgood reads only DATABASE_URL, so the schema travels as the connection's `search_path` option.
 */
export async function createBenchSchema(): Promise<BenchSchema> {
  const schema: TestSchema = await createTestSchema();
  const url = new URL(schema.url);
  url.searchParams.set('options', `-c search_path=${schema.schema}`);
  return { databaseUrl: url.toString(), drop: () => schema.drop() };
}
