import { z } from 'zod';
import type { HttpDeps } from '../deps.ts';
import { bindRoute, defineRoute } from '../route.ts';
import { errorSchema } from '../schemas.ts';

export const prometheusMetricsRoute = defineRoute({
  method: 'GET',
  path: '/metrics',
  aliases: [],
  operationId: 'getPrometheusMetrics',
  summary: 'Prometheus metrics: alerts, decisions, rollbacks, Google API calls, job queue and outbox',
  description:
    'The Prometheus text format, for a scraper. Needs a viewer token like every other read: lastgood on Cloud ' +
    'Run is reachable from the internet, and the counters name every target and how often it was rolled back. ' +
    'Give Prometheus the token with `authorization: {credentials_file: ...}` in its scrape config.',
  tags: ['status'],
  auth: 'viewer',
  responses: {
    200: {
      description: 'The metrics, Prometheus text exposition format 0.0.4.',
      schema: z.string(),
      contentType: 'text/plain',
    },
    401: { description: 'Missing or wrong operator token.', schema: errorSchema },
  },
});

export function prometheusRoutes(deps: HttpDeps) {
  return [
    bindRoute(prometheusMetricsRoute, async ({ reply }) => {
      reply.type(deps.metrics.contentType);
      return deps.metrics.render();
    }),
  ];
}
