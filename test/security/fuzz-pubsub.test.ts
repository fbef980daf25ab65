import fc from 'fast-check';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { startTestApp } from '../helpers/app.ts';
import { createSigner, pushEnvelope, signPushToken, testPushVerifier } from '../helpers/oidc.ts';
import { describeFuzz, type HostileBody, hostileBody, UNLIMITED } from './fuzz.ts';

const google = createSigner('fuzz-key');
const pushToken = signPushToken(google);

describeFuzz({
  route: 'POST /webhook/pubsub',
  // Mostly hostile notifications in a well-formed envelope, some hostile envelopes themselves.
  arbitrary: fc.oneof(
    {
      weight: 3,
      arbitrary: hostileBody.map(
        (body): HostileBody => ({
          kind: `${body.kind} in message.data`,
          contentType: 'application/json',
          text: JSON.stringify(pushEnvelope(body.text)),
          // Inside message.data the content type no longer matters: that alert may well be valid.
          mayBeValid: body.mayBeValid || body.kind === 'wrong content type',
        }),
      ),
    },
    {
      weight: 1,
      arbitrary: hostileBody.map((body) => ({
        ...body,
        kind: `${body.kind} as envelope`,
        mayBeValid: false,
      })),
    },
  ),
  app: () =>
    startTestApp({ env: { ...UNLIMITED, LOG_LEVEL: 'warn' }, pushVerifier: testPushVerifier([google]) }),
  send: (t, body) =>
    t.app.server.inject({
      method: 'POST',
      url: '/webhook/pubsub',
      headers: {
        authorization: `Bearer ${pushToken}`,
        ...(body.contentType === null ? {} : { 'content-type': body.contentType }),
      },
      payload: body.text,
    }),
  valid: (t) =>
    t.app.server.inject({
      method: 'POST',
      url: '/webhook/pubsub',
      headers: { authorization: `Bearer ${pushToken}` },
      payload: pushEnvelope(burnRateAlert({ incidentId: '0.after' })),
    }),
});
