import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RateBudget, RateLimitBudget } from '../config/types.ts';
import { LastgoodError } from '../errors.ts';

/** Counts requests per caller against separate budgets (see `RateLimitBudget`). */
export interface RateLimits {
  /** Counts one request by `key` against `budget`; over it, throws LASTGOOD_ERR_RATE_LIMITED with Retry-After. */
  enforce(request: FastifyRequest, reply: FastifyReply, budget: RateLimitBudget, key: string): Promise<void>;
}

/** The key for a caller without a verified credential: its address (IPv6 grouped by /64, as one host gets). */
export function clientKey(request: FastifyRequest): string {
  return `ip:${normalizeIP(request.ip)}`;
}

/**
 * Fastify's `trustProxy` for a known number of proxies in front (Cloud Run: 1, its front end). The client is the
 * X-Forwarded-For entry just before the proxies' own; entries further left are whatever the client sent.
 * Trusting the immediate peer is safe only where nothing else can connect, as on Cloud Run; 0 trusts none.
 */
export function trustProxyHops(hops: number): false | ((address: string, hop: number) => boolean) {
  return hops === 0 ? false : (_address, hop) => hop < hops;
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

/**
 * Registers @fastify/rate-limit without its global hook and builds one limiter per budget. The caller picks the
 * budget and key after authenticating, so a valid token is counted as itself and everything else by address.
 * Each budget's store is the plugin's LRU (5,000 keys): callers inventing addresses can evict each other's
 * counters but never grow memory, and they never touch the budget valid tokens are counted in.
 */
export function installRateLimits(
  server: FastifyInstance,
  budgets: Readonly<Record<RateLimitBudget, RateBudget>>,
): RateLimits {
  const keys = new WeakMap<FastifyRequest, string>();
  const limiters = new Map<RateLimitBudget, Limiter>();
  server.register(fastifyRateLimit, { global: false });
  server.after(() => {
    for (const [budget, { max, windowMs }] of Object.entries(budgets) as [RateLimitBudget, RateBudget][]) {
      limiters.set(
        budget,
        server.createRateLimit({
          max,
          timeWindow: windowMs,
          keyGenerator: (request) => `${budget}:${keys.get(request)}`,
        }),
      );
    }
  });
  return {
    async enforce(request, reply, budget, key) {
      const limiter = limiters.get(budget);
      if (limiter === undefined) throw new Error(`rate limits are used before the server is ready`);
      keys.set(request, key);
      const result = await limiter(request);
      if (result.isAllowed || !result.isExceeded) return;
      request.log.warn({ budget, key, max: result.max }, 'rate limit exceeded');
      reply.header('retry-after', String(result.ttlInSeconds));
      throw new LastgoodError(
        'LASTGOOD_ERR_RATE_LIMITED',
        `Too many requests; retry after ${result.ttlInSeconds} s`,
        { details: { budget, limit: result.max, retryAfterSeconds: result.ttlInSeconds } },
      );
    },
  };
}
