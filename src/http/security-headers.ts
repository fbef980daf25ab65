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
 * The status page's headers: the API's, with a policy that lets the page load its own scripts, styles and data
 * and nothing else. No inline script or style, so an injected `<script>` or `style=` never runs.
 */
export const PAGE_HEADERS = {
  ...API_HEADERS,
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
} as const;

/** Whether a request is for the status page (`/ui` and below). */
function isPage(url: string): boolean {
  return url === '/ui' || url.startsWith('/ui/') || url.startsWith('/ui?');
}

/**
 * Adds the API headers to every response (errors and 404s included) and answers CORS for the configured
 * origins only; with none configured, browsers cannot call lastgood from another origin at all.
 */
export function installSecurityHeaders(server: FastifyInstance, corsOrigins: readonly string[]): void {
  server.addHook('onSend', async (request, reply, payload) => {
    reply.headers(isPage(request.url) ? PAGE_HEADERS : API_HEADERS);
    return payload;
  });
  if (corsOrigins.length === 0) return;
  const anyOrigin = corsOrigins.includes('*');
  server.addHook('onRequest', async (request, reply) => {
    reply.header('vary', 'Origin');
    const origin = request.headers.origin;
    if (origin === undefined || !(anyOrigin || corsOrigins.includes(origin))) return;
    reply.header('access-control-allow-origin', anyOrigin ? '*' : origin);
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      return reply
        .code(204)
        .headers({
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': 'authorization, content-type',
          'access-control-max-age': '600',
        })
        .send();
    }
  });
}
