import { parsePubsubAlert, pubsubPushSchema } from '../../ingest/pubsub.ts';
import type { HttpDeps } from '../deps.ts';
import { bindRoute, defineRoute } from '../route.ts';
import { errorSchema } from '../schemas.ts';
import { acceptAlert, INTAKE_RESPONSES } from './webhook.ts';

export const pubsubRoute = defineRoute({
  method: 'POST',
  path: '/webhook/pubsub',
  aliases: [],
  operationId: 'receivePubsubPush',
  summary: 'Receive a Cloud Monitoring alert from a Pub/Sub push subscription',
  description:
    'The Cloud Monitoring notification, base64-encoded in `message.data`. Authenticated by the OIDC token the push ' +
    'subscription signs as its service account (audience and account configured). Deduplicated with the webhook: ' +
    'an incident state arriving both ways is stored once. Any non-2xx makes Pub/Sub redeliver (and, with a ' +
    'dead-letter topic, eventually park) the message.',
  tags: ['intake'],
  auth: 'pubsub',
  body: pubsubPushSchema,
  responses: {
    ...INTAKE_RESPONSES,
    400: {
      description: 'Not a push envelope, or `message.data` is not a Cloud Monitoring notification.',
      schema: errorSchema,
    },
    401: { description: 'Missing or invalid push OIDC token.', schema: errorSchema },
    503: {
      description:
        "Shutting down, the store cannot be written just now, or Google's signing certificates are unreachable; " +
        'Pub/Sub redelivers.',
      schema: errorSchema,
    },
  },
});

export function pubsubRoutes(deps: HttpDeps) {
  return [
    bindRoute(pubsubRoute, async ({ body, reply }) => {
      const { parsed, rawBody } = parsePubsubAlert(body);
      return acceptAlert(deps, parsed, rawBody, reply);
    }),
  ];
}
