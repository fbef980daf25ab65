import { afterAll } from 'vitest';
import { createTestSchema } from '../helpers/postgres.ts';
import { describeWebhookFuzz, RUNS } from './fuzz.ts';

// The same fuzz against the store replicas share: PostgreSQL refuses some text SQLite takes (a NUL character).
const schema = await createTestSchema();
afterAll(() => schema.drop());

describeWebhookFuzz({
  route: 'POST /webhook/error-budget-alert on PostgreSQL',
  runs: Math.ceil(RUNS / 4),
  openStore: () => schema.openStore(),
});
