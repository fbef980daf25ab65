import type { FastifyInstance } from 'fastify';

/**
 * Headers for a JSON API no browser should render, frame, cache or sniff. Nothing names the server or its
 * version: Node and Fastify send no `Server` or `X-Powered-By`, and a test keeps it so. Answers Fastify gives before
 * routing skip the hooks, so `answerFrameworkError` adds these itself.
 */
export const API_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
} as const;

/**
 * Adds the API headers to every response, errors and 404s included (CORS is `installCors`, src/http/cors.ts). A
 * route that serves a page (/docs) sets its own, narrowly wider Content-Security-Policy, which is kept.
 */
export function installSecurityHeaders(server: FastifyInstance): void {
  server.addHook('onSend', async (_request, reply, payload) => {
    const pagePolicy = reply.getHeader('content-security-policy');
    reply.headers(API_HEADERS);
    if (pagePolicy !== undefined) reply.header('content-security-policy', pagePolicy);
    return payload;
  });
}
