import { afterAll } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { startTestApp, webhookUrl } from '../helpers/app.ts';
import { createTestSchema } from '../helpers/postgres.ts';
import { describeFuzz, hostileBody, RUNS, UNLIMITED } from './fuzz.ts';

// The same fuzz against the store replicas share: PostgreSQL refuses some text SQLite takes (a NUL character).
const schema = await createTestSchema();
afterAll(() => schema.drop());

describeFuzz({
  route: 'POST /webhook/error-budget-alert on PostgreSQL',
  runs: Math.ceil(RUNS / 4),
  arbitrary: hostileBody,
  app: () => startTestApp({ env: { ...UNLIMITED, LOG_LEVEL: 'warn' }, openStore: () => schema.openStore() }),
  send: (t, body) =>
    t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      headers: body.contentType === null ? {} : { 'content-type': body.contentType },
      payload: body.text,
    }),
  valid: (t) =>
    t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert({ incidentId: '0.after' }),
    }),
});
