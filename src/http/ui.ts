import { fileURLToPath } from 'node:url';
import { fastifyCookie } from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LastgoodError } from '../errors.ts';
import { clientKey, type RateLimits } from './rate-limit.ts';
import { type Sessions, type SignedIn, setSessionCookie } from './session.ts';

/** The page's files: plain HTML, CSS and ES modules shipped in the package, no build step. */
export const UI_ROOT = fileURLToPath(new URL('../ui/', import.meta.url));

/** The paths of the page's views; each answers the same shell, whose script renders the view. */
const VIEWS = ['/ui/targets', '/ui/decisions', '/ui/decisions/:id', '/ui/audit'] as const;
const ASSET = /^[a-z][a-z-]{0,40}\.(js|css)$/;
const MAX_TOKEN_LENGTH = 1024;
/**
 * The status page's policy: it loads its own scripts, styles and data and nothing else. No inline script or style,
 * so an injected `<script>` or `style=` never runs. Set on every /ui answer; the API headers keep it.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** Whether a request is for the status page (`/ui` and below). */
function isPage(url: string): boolean {
  return url === '/ui' || url.startsWith('/ui/') || url.startsWith('/ui?');
}

const STATUS_ROUTE = /^\/(?:v1\/)?rollback\/status\/((?:alt|dec)_[0-9a-z]{26})$/;

/** Where to go after sign-in: a page of the status page, never another site (`//evil.example`). */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/ui\/[A-Za-z0-9_/?&=.%-]*$/.test(next) && !next.startsWith('//')
    ? next
    : '/ui/targets';
}

function sessionView(sessions: Sessions, signedIn: SignedIn) {
  return {
    name: signedIn.principal.name,
    role: signedIn.principal.role,
    csrfToken: sessions.sealer.csrfToken(signedIn.session),
    expiresAt: new Date(signedIn.session.expiresAt).toISOString(),
  };
}

/**
 * Serves the status page at /ui: the sign-in page, the views (a redirect to sign-in without a session, never a
 * 401 body), the static files, and sign-in and sign-out. Every request is rate-limited: a signed-in person's
 * against their token's budget, anyone else's against their address.
 */
export function installStatusPage(server: FastifyInstance, sessions: Sessions, rateLimits: RateLimits): void {
  server.register(fastifyStatic, { root: UI_ROOT, serve: false });
  // Only for its parser and serializer (session.ts), which it loads as it registers; no hook of its own.
  server.register(fastifyCookie, { hook: false });

  async function limit(request: FastifyRequest, reply: FastifyReply): Promise<SignedIn | null> {
    const signedIn = sessions.current(request);
    if (signedIn === null) await rateLimits.enforce(request, reply, 'anonymous', clientKey(request));
    else await rateLimits.enforce(request, reply, 'operator', `operator:${signedIn.principal.name}`);
    return signedIn;
  }

  // Links sent before notifications pointed at /ui still name the JSON route. A browser opening one (a top-level
  // navigation without credentials, which no API client makes) is sent to the page instead of a 401 body.
  server.addHook('onRequest', async (request, reply) => {
    if (isPage(request.url)) {
      reply.header('content-security-policy', PAGE_CSP);
      return;
    }
    const id = STATUS_ROUTE.exec(request.url)?.[1];
    if (
      id === undefined ||
      request.method !== 'GET' ||
      request.headers['sec-fetch-mode'] !== 'navigate' ||
      request.headers.authorization !== undefined
    ) {
      return;
    }
    return reply.redirect(`/ui/decisions/${id}`);
  });
  server.get('/ui', async (request, reply) => {
    await limit(request, reply);
    return reply.redirect('/ui/targets');
  });
  server.get('/ui/sign-in', async (request, reply) => {
    await limit(request, reply);
    return reply.sendFile('sign-in.html');
  });
  for (const url of VIEWS) {
    server.get(url, async (request, reply) => {
      if ((await limit(request, reply)) === null) {
        return reply.redirect(`/ui/sign-in?next=${encodeURIComponent(safeNext(request.url))}`);
      }
      return reply.sendFile('app.html');
    });
  }
  server.get<{ Params: { file: string } }>('/ui/assets/:file', async (request, reply) => {
    await limit(request, reply);
    if (!ASSET.test(request.params.file)) {
      throw new LastgoodError('LASTGOOD_ERR_NOT_FOUND', 'No such file');
    }
    return reply.sendFile(request.params.file);
  });

  server.get('/ui/api/session', async (request, reply) => {
    const signedIn = await limit(request, reply);
    if (signedIn === null) throw new LastgoodError('LASTGOOD_ERR_UNAUTHORIZED', 'Not signed in');
    return sessionView(sessions, signedIn);
  });
  server.post('/ui/api/session', async (request, reply) => {
    // Counted by address: sign-in is where a token would be guessed.
    await rateLimits.enforce(request, reply, 'anonymous', clientKey(request));
    const token = (request.body as { token?: unknown } | undefined)?.token;
    // Checked by hand, not with zod, so no refusal can ever echo the pasted token back or into a log.
    if (typeof token !== 'string' || token.trim().length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw new LastgoodError('LASTGOOD_ERR_VALIDATION', 'Paste a viewer, operator or admin token');
    }
    const signedIn = sessions.signIn(token);
    setSessionCookie(request, reply, sessions.sealer.seal(signedIn.session), sessions.sealer.ttlMs);
    request.log.info({ audit: { by: signedIn.principal.name, role: signedIn.principal.role } }, 'signed in');
    return sessionView(sessions, signedIn);
  });
  server.post('/ui/api/sign-out', async (request, reply) => {
    const signedIn = await limit(request, reply);
    if (signedIn !== null) sessions.sealer.checkCsrf(request, signedIn.session);
    setSessionCookie(request, reply, null, 0);
    return reply.code(204).send();
  });
}
