import { burnRateAlert } from '../fixtures/alerts.ts';
import { startTestApp, webhookUrl } from '../helpers/app.ts';
import { describeFuzz, hostileBody, UNLIMITED } from './fuzz.ts';

describeFuzz({
  route: 'POST /webhook/error-budget-alert',
  arbitrary: hostileBody,
  app: () => startTestApp({ env: { ...UNLIMITED, LOG_LEVEL: 'warn' } }),
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
