import { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { PushVerifier } from '../auth/pubsub-push.ts';
import { ROLES, type Role } from '../auth/roles.ts';
import type { TokenSource } from '../auth/token-source.ts';
import type { RateLimitBudget } from '../config/types.ts';
import type { SignalSource } from '../domain/types.ts';
import { isLastgoodError, LastgoodError } from '../errors.ts';
import { type Logger, redactUrl, withLogLabels } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { type OperatorAuth, type Principal, requireRole, verifyWebhookToken } from './auth.ts';
import { clientKey, type RateLimits } from './rate-limit.ts';
import type { BoundRoute, RouteAuth } from './route.ts';
import { parseInput } from './route.ts';
import type { Sessions } from './session.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received, kept so a stored alert can be replayed byte for byte. */
    rawBody?: string;
    principal: Principal | null;
  }
}

/** The `charset` parameter of a Content-Type, lower-cased, or null when it has none. */
function declaredCharset(contentType: string): string | null {
  const match = /;\s*charset\s*=\s*("?)([^";\s]*)\1/i.exec(contentType);
  return match ? match[2]!.toLowerCase() : null;
}

/**
 * Accepts JSON bodies in UTF-8 only (anything else is a 415) and keeps the raw text beside the parsed body;
 * Fastify's own parser still guards against prototype poisoning.
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // The body is read as UTF-8 whatever it says, so a body declared in another charset would be misread.
    const charset = declaredCharset(request.headers['content-type'] ?? '');
    if (charset !== null && charset !== 'utf-8' && charset !== 'utf8') {
      done(
        new LastgoodError('LASTGOOD_ERR_UNSUPPORTED_MEDIA_TYPE', 'The body must be JSON in UTF-8'),
        undefined,
      );
      return;
    }
    request.rawBody = body as string;
    parseJson(request, body as string, done);
  });
}

/**
 * The URL a request is logged with. A refused request's path may hold anything a client put there, a token
 * included, so it is logged as its route's pattern (`/rollback/status/:id`), and a path no route matched not at all.
 * The query keeps its names with credentials redacted (`redactUrl`, in the logger's serializer).
 */
function loggedUrl(request: FastifyRequest, reply: FastifyReply): string {
  if (reply.statusCode < 400) return request.url;
  const queryAt = request.url.indexOf('?');
  const query = queryAt === -1 ? '' : request.url.slice(queryAt);
  const pattern = request.is404 ? undefined : request.routeOptions.url;
  return pattern === undefined ? `(no route)${query}` : `${pattern}${query}`;
}

/**
 * Fastify's request logging with one line per request instead of two: the request (method, URL with credentials
 * redacted, address), its status and its time, once it is answered. The second line cost as much as the first, and
 * on the intake path logging was among the larger costs per alert.
 */
export class OneLineRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (this.isLogDisabled(request)) return;
    const url = loggedUrl(request, reply);
    const req = { method: request.method, url, ip: request.ip };
    const line = {
      req,
      res: reply,
      responseTime: reply.elapsedTime,
      // Cloud Logging's request fields: shown as the entry's summary line, and filterable as httpRequest.status.
      httpRequest: {
        requestMethod: request.method,
        requestUrl: redactUrl(url),
        status: reply.statusCode,
        latency: `${(reply.elapsedTime / 1000).toFixed(3)}s`,
        remoteIp: request.ip,
        protocol: `HTTP/${request.raw.httpVersion}`,
      },
    };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}

/**
 * Binds a decision to the rest of its request's log, the request line included, so Cloud Logging finds the alert
 * that started a rollback by `labels.decisionId` without a line more per alert.
 */
export function bindDecisionToRequestLog(
  reply: FastifyReply,
  decision: { id: string; targetName: string | null; reason: string },
): void {
  // Fastify's logger type leaves out pino's setBindings; the logger is lastgood's pino logger.
  (reply.log as Logger).setBindings(
    withLogLabels({ decisionId: decision.id, target: decision.targetName ?? '', reason: decision.reason }),
  );
}

/** What guards the routes: the credentials each kind of route accepts, and the rate limits. */
export interface RouteGuards {
  webhookTokens: TokenSource;
  operatorAuth: OperatorAuth;
  /** The status page's sessions: a cookie stands in for the Bearer token, with a CSRF token on every change. */
  sessions: Sessions;
  pushVerifier: PushVerifier;
  rateLimits: RateLimits;
}

/** The source an intake route's alerts are counted under. */
const INTAKE_SOURCES: Partial<Record<RouteAuth, SignalSource>> = {
  webhook: 'cloud-monitoring',
  pubsub: 'pubsub',
};

/** Who is calling, as the rate limiter counts them: a verified credential, or else the client's address. */
interface Caller {
  budget: RateLimitBudget;
  key: string;
}

/**
 * Registers routes with their auth and rate limits. Credentials are checked in `onRequest`, before the body is
 * read, so an unauthenticated caller costs almost nothing and can never reach the store.
 */
export function registerRoutes(
  app: FastifyInstance,
  routes: readonly BoundRoute[],
  guards: RouteGuards,
  metrics: Pick<Metrics, 'alertReceived'>,
): void {
  app.decorateRequest('principal', null);

  /** A Bearer token wins; without one, the status page's session cookie (and, for a change, its CSRF token). */
  function operator(request: FastifyRequest): Principal {
    const signedIn = request.headers.authorization === undefined ? guards.sessions.current(request) : null;
    if (signedIn === null) return guards.operatorAuth.bearer(request);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      guards.sessions.sealer.checkCsrf(request, signedIn.session);
    }
    return signedIn.principal;
  }

  async function identify(request: FastifyRequest, reply: FastifyReply, auth: RouteAuth): Promise<Caller> {
    switch (auth) {
      case 'public':
        return { budget: 'anonymous', key: clientKey(request) };
      case 'webhook':
        return {
          budget: 'intake',
          key: `webhook:${await verifyWebhookToken(request, reply, guards.webhookTokens)}`,
        };
      case 'pubsub': {
        const { email } = await guards.pushVerifier.verify(request.headers.authorization);
        return { budget: 'intake', key: `pubsub:${email}` };
      }
      default:
        request.principal = operator(request);
        return { budget: 'operator', key: `operator:${request.principal.name}` };
    }
  }

  for (const { spec, handle } of routes) {
    const onRequest = async (request: FastifyRequest, reply: FastifyReply) => {
      let caller: Caller;
      try {
        caller = await identify(request, reply, spec.auth);
      } catch (error) {
        // Failed credentials count against the address they came from, so guessing stays cheap to refuse.
        if (isLastgoodError(error) && error.code === 'LASTGOOD_ERR_UNAUTHORIZED') {
          await guards.rateLimits.enforce(request, reply, 'anonymous', clientKey(request));
        }
        throw error;
      }
      await guards.rateLimits.enforce(request, reply, caller.budget, caller.key);
      if (request.principal !== null) requireRole(request.principal, spec.auth as Role);
    };
    // The audit trail: every call that may change something is logged with the name of the token that made it.
    const audit =
      spec.method !== 'GET' && ROLES.includes(spec.auth as Role)
        ? {
            onResponse: async (request: FastifyRequest, reply: FastifyReply) => {
              if (request.principal === null) return;
              request.log.info(
                {
                  audit: {
                    by: request.principal.name,
                    role: request.principal.role,
                    operation: spec.operationId,
                    status: reply.statusCode,
                  },
                },
                'operator call',
              );
            },
          }
        : {};
    const source = INTAKE_SOURCES[spec.auth];
    // Intake counts the alerts it accepts; every refusal (credentials, rate limit, body, shutdown) passes here.
    const countRejected =
      source === undefined ? {} : { onError: async () => metrics.alertReceived(source, 'rejected') };
    for (const url of [spec.path, ...spec.aliases]) {
      app.route({
        method: spec.method,
        url,
        onRequest,
        ...audit,
        ...countRejected,
        handler: async (request, reply) => {
          if (spec.body && request.body === undefined) {
            throw new LastgoodError('LASTGOOD_ERR_VALIDATION', 'A JSON body is required');
          }
          return handle({
            params: spec.params ? parseInput(spec.params, request.params, 'params') : undefined,
            query: spec.query ? parseInput(spec.query, request.query, 'query') : undefined,
            body: spec.body ? parseInput(spec.body, request.body, 'body') : undefined,
            principal: request.principal,
            request,
            reply,
          });
        },
      });
    }
  }
}
