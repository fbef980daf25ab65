import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type OperatorToken, ROLES, type Role } from '../auth/roles.ts';
import type { TokenSource } from '../auth/token-source.ts';
import { LastgoodError } from '../errors.ts';

export function sha256(text: string): Buffer {
  return hash('sha256', text, 'buffer');
}

/** Each token list's digests, made once: a source hands out the same list until its tokens change. */
const digestsOfTokens = new WeakMap<readonly string[], readonly Buffer[]>();

function tokenDigests(tokens: readonly string[]): readonly Buffer[] {
  let digests = digestsOfTokens.get(tokens);
  if (digests === undefined) {
    digests = tokens.map(sha256);
    digestsOfTokens.set(tokens, digests);
  }
  return digests;
}

/**
 * Compares against every candidate without stopping at the first match, on fixed-length digests, so neither the
 * position nor the length of a valid token leaks through timing.
 */
function matchesAnyDigest(presented: Buffer, candidates: readonly Buffer[]): number {
  let found = -1;
  for (let i = 0; i < candidates.length; i++) {
    const candidate = candidates[i]!;
    if (timingSafeEqual(presented, candidate) && found === -1) found = i;
  }
  return found;
}

/** The credential a webhook request presents: `?auth_token=` (token-auth channel) or Basic auth's password. */
function presentedWebhookToken(request: FastifyRequest): string | null {
  const query = request.query as Record<string, unknown> | undefined;
  const fromQuery = query?.auth_token;
  if (typeof fromQuery === 'string' && fromQuery.length > 0) return fromQuery;
  const header = request.headers.authorization;
  if (typeof header === 'string' && header.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? null : decoded.slice(colon + 1);
  }
  return null;
}

/**
 * Checks a webhook request's token. Cloud Monitoring's basic-auth channel first calls without credentials and
 * expects a 401 challenge, so every refusal carries `WWW-Authenticate: Basic`.
 */
export async function verifyWebhookToken(
  request: FastifyRequest,
  reply: FastifyReply,
  source: TokenSource,
): Promise<string> {
  const presented = presentedWebhookToken(request);
  if (presented !== null) {
    const digest = sha256(presented);
    const known = () => matchesAnyDigest(digest, tokenDigests(source.tokens())) !== -1;
    // A token added since the source last read is let in on its first use: the source reads again (as often as
    // it allows) and the token is checked once more.
    // The rate-limit key: a short digest names the token without the store ever holding the token itself.
    if (known() || ((await source.onMiss()) && known())) return digest.toString('hex', 0, 8);
  }
  reply.header('WWW-Authenticate', 'Basic realm="lastgood"');
  throw new LastgoodError(
    'LASTGOOD_ERR_UNAUTHORIZED',
    presented === null ? 'A webhook token is required' : 'The webhook token is not valid',
  );
}

/** Who made an operator call: the token's configured name and role. */
export interface Principal {
  name: string;
  role: Role;
}

export function roleAllows(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

/** Throws LASTGOOD_ERR_FORBIDDEN unless the principal's role is at least `needed`. */
export function requireRole(principal: Principal, needed: Role): void {
  if (!roleAllows(principal.role, needed)) {
    throw new LastgoodError(
      'LASTGOOD_ERR_FORBIDDEN',
      `Token "${principal.name}" has role ${principal.role}; this call needs ${needed}`,
    );
  }
}

/** Resolves operator credentials: a Bearer token, or the digest of one a status-page session was signed in with. */
export interface OperatorAuth {
  /** The principal of the request's `Authorization: Bearer` token; throws LASTGOOD_ERR_UNAUTHORIZED otherwise. */
  bearer(request: FastifyRequest): Principal;
  /** The principal of a token by its SHA-256, or null once it is no longer configured. */
  byDigest(digest: Buffer): Principal | null;
}

/**
 * Resolves operator tokens against the configured SHA-256 hashes. The role is checked apart (`requireRole`), so a
 * refused call is still counted against, and logged with, the token that made it.
 */
export function createOperatorAuth(tokens: readonly OperatorToken[]): OperatorAuth {
  const digests = tokens.map((token) => Buffer.from(token.sha256, 'hex'));
  const byDigest = (digest: Buffer): Principal | null => {
    if (digest.length !== 32) return null;
    const index = matchesAnyDigest(digest, digests);
    if (index === -1) return null;
    const token = tokens[index]!;
    return { name: token.name, role: token.role };
  };
  return {
    byDigest,
    bearer(request) {
      const header = request.headers.authorization;
      if (typeof header !== 'string' || !header.startsWith('Bearer ') || header.length <= 7) {
        throw new LastgoodError(
          'LASTGOOD_ERR_UNAUTHORIZED',
          'An operator token is required (Authorization: Bearer)',
        );
      }
      const principal = byDigest(sha256(header.slice(7).trim()));
      if (principal === null)
        throw new LastgoodError('LASTGOOD_ERR_UNAUTHORIZED', 'The operator token is not valid');
      return principal;
    },
  };
}
