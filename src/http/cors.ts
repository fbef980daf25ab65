import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import type { RouteSpec } from './route.ts';

/**
 * Lets browsers on `origins` call every route in `routes` with any method those routes use (preflights included);
 * with no origin configured, none is registered and browsers cannot call lastgood from another origin at all.
 * `*` is refused in production by src/production-safety.ts, not here, so development can still use it.
 */
export function installCors(
  server: FastifyInstance,
  origins: readonly string[],
  routes: readonly RouteSpec[],
): void {
  if (origins.length === 0) return;
  server.register(cors, {
    origin: origins.includes('*') ? '*' : [...origins],
    methods: [...new Set(routes.map((route) => route.method))].sort(),
    allowedHeaders: ['authorization', 'content-type'],
    maxAge: 600,
  });
}
