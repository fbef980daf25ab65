import { createServer, type Server } from 'node:http';
import type { Metrics } from '../metrics.ts';
import { prometheusMetricsRoute } from './routes/prometheus.ts';

/** The address the local metrics listener binds: the instance itself, never the network. */
export const LOCAL_METRICS_HOST = '127.0.0.1';

/**
 * `GET /metrics` without a token, for a collector in the same instance (the Managed Service for Prometheus sidecar on
 * Cloud Run, whose scrape config cannot send credentials). The caller listens on `LOCAL_METRICS_HOST`: Cloud Run
 * routes no outside request to a loopback port, so the counters stay behind the viewer token everywhere else.
 */
export function createLocalMetricsServer(metrics: Pick<Metrics, 'render' | 'contentType'>): Server {
  return createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== prometheusMetricsRoute.path) {
      response.writeHead(404).end();
      return;
    }
    metrics.render().then(
      (body) => response.writeHead(200, { 'content-type': metrics.contentType }).end(body),
      () => response.writeHead(500).end(),
    );
  });
}
