import { z } from 'zod';
import type { HttpDeps } from '../deps.ts';
import { bindRoute, defineRoute } from '../route.ts';

export const healthzRoute = defineRoute({
  method: 'GET',
  path: '/healthz',
  aliases: [],
  operationId: 'healthz',
  summary: 'Liveness: the process answers',
  tags: ['health'],
  auth: 'public',
  responses: { 200: { description: 'Alive.', schema: z.object({ status: z.literal('ok') }) } },
});

const readySchema = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string() })),
});

export const readyzRoute = defineRoute({
  method: 'GET',
  path: '/readyz',
  aliases: [],
  operationId: 'readyz',
  summary: 'Readiness: the store answers, a webhook token is usable, and the server is not shutting down',
  tags: ['health'],
  auth: 'public',
  responses: {
    200: { description: 'Ready to take alerts.', schema: readySchema },
    503: { description: 'Not ready; `checks` says why.', schema: readySchema },
  },
});

export function healthRoutes(deps: HttpDeps) {
  return [
    bindRoute(healthzRoute, async () => ({ status: 'ok' as const })),
    bindRoute(readyzRoute, async ({ reply }) => {
      const store = await deps.store.ping().then(
        () => ({ ok: true, detail: deps.store.kind }),
        (error: unknown) => ({ ok: false, detail: `${deps.store.kind} unreachable: ${String(error)}` }),
      );
      const tokens = deps.webhookTokens.health();
      // Read after the ping, so that no answer sent once shutdown began says ready, even one asked for before it.
      const checks: Record<string, { ok: boolean; detail: string }> = {
        accepting: deps.accepting()
          ? { ok: true, detail: 'accepting work' }
          : { ok: false, detail: 'shutting down' },
        store,
        webhookTokens: { ok: tokens.ok, detail: tokens.detail },
      };
      // A stale token source still serves its cached tokens, so only having no usable token makes us unready.
      const ready = checks.accepting!.ok && checks.store!.ok && tokens.ready;
      reply.code(ready ? 200 : 503);
      return { status: ready ? ('ready' as const) : ('not_ready' as const), checks };
    }),
  ];
}
