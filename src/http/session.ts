import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { isIP } from 'node:net';
import { fastifyCookie } from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../clock.ts';
import { LastgoodError } from '../errors.ts';
import { type OperatorAuth, type Principal, sha256 } from './auth.ts';

/** The status page's session cookie. Path `/` so the page's script can call the JSON API with it. */
export const SESSION_COOKIE = 'lastgood_session';
/** The header a cookie-authenticated POST or PUT must carry, holding the session's CSRF token. */
export const CSRF_HEADER = 'x-lastgood-csrf';

/** What a session cookie holds, sealed: the SHA-256 of the token signed in with, never the token itself. */
export interface Session {
  tokenSha256: string;
  expiresAt: number;
  /** Random per sign-in; the CSRF token is derived from it. */
  nonce: string;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals and opens session cookies with AES-256-GCM, so a cookie can be neither read nor forged without the
 * secret. Without a configured secret (allowed outside production) the key is random per process.
 */
export class SessionSealer {
  readonly #encryptionKey: Buffer;
  readonly #csrfKey: Buffer;
  readonly ttlMs: number;

  constructor(secret: string | null, ttlMs: number) {
    const ikm = secret === null ? randomBytes(32) : Buffer.from(secret, 'utf8');
    this.#encryptionKey = Buffer.from(hkdfSync('sha256', ikm, '', 'lastgood session cookie', 32));
    this.#csrfKey = Buffer.from(hkdfSync('sha256', ikm, '', 'lastgood session csrf', 32));
    this.ttlMs = ttlMs;
  }

  /** A new session for the token with this digest, expiring `ttlMs` after `now`. */
  create(tokenSha256: string, now: Date): Session {
    return {
      tokenSha256,
      expiresAt: now.getTime() + this.ttlMs,
      nonce: randomBytes(16).toString('base64url'),
    };
  }

  seal(session: Session): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#encryptionKey, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(session), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** The session a cookie holds, or null when it was not sealed with this key, is malformed or has expired. */
  open(sealed: string, now: Date): Session | null {
    const raw = Buffer.from(sealed, 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#encryptionKey, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
      const session = JSON.parse(text.toString('utf8')) as Session;
      return session.expiresAt > now.getTime() ? session : null;
    } catch {
      return null;
    }
  }

  /** The session's CSRF token: only the page, which reads it from `/ui/api/session`, can send it back. */
  csrfToken(session: Session): string {
    return createHmac('sha256', this.#csrfKey).update(session.nonce).digest('base64url');
  }

  /** Throws LASTGOOD_ERR_FORBIDDEN unless the request carries the session's CSRF token. */
  checkCsrf(request: FastifyRequest, session: Session): void {
    const presented = request.headers[CSRF_HEADER];
    const expected = Buffer.from(this.csrfToken(session));
    if (
      typeof presented !== 'string' ||
      presented.length !== expected.length ||
      !timingSafeEqual(Buffer.from(presented), expected)
    ) {
      throw new LastgoodError(
        'LASTGOOD_ERR_FORBIDDEN',
        `A change made with a session cookie needs the ${CSRF_HEADER} header from the status page`,
      );
    }
  }
}

/** The session cookie's sealed value, or null when the request has none. */
export function sessionCookieOf(request: FastifyRequest): string | null {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return null;
  return fastifyCookie.parse(header)[SESSION_COOKIE] ?? null;
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  return plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'));
}

/**
 * Sets (or, with null, clears) the session cookie. `Secure` always, except over plain HTTP from loopback, where a
 * browser would refuse a Secure cookie and no network sits between it and lastgood.
 */
export function setSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  sealed: string | null,
  ttlMs: number,
): void {
  const secure = !(request.protocol === 'http' && isLoopback(request.socket.remoteAddress));
  reply.header(
    'set-cookie',
    fastifyCookie.serialize(SESSION_COOKIE, sealed ?? '', {
      httpOnly: true,
      sameSite: 'strict',
      secure,
      path: '/',
      maxAge: sealed === null ? 0 : Math.floor(ttlMs / 1000),
    }),
  );
}

/** A signed-in person: the session and the principal of the token it was opened with. */
export interface SignedIn {
  session: Session;
  principal: Principal;
}

/** Status-page sessions: opens them from requests and resolves them to the token's current name and role. */
export class Sessions {
  readonly sealer: SessionSealer;
  readonly #auth: OperatorAuth;
  readonly #clock: Clock;

  constructor(sealer: SessionSealer, auth: OperatorAuth, clock: Clock) {
    this.sealer = sealer;
    this.#auth = auth;
    this.#clock = clock;
  }

  /**
   * The request's valid session, or null. The role is the token's as configured now, so removing a token from
   * LASTGOOD_OPERATOR_TOKENS (or changing its role) takes effect on its sessions at once.
   */
  current(request: FastifyRequest): SignedIn | null {
    const sealed = sessionCookieOf(request);
    if (sealed === null) return null;
    const session = this.sealer.open(sealed, this.#clock.now());
    if (session === null || typeof session.tokenSha256 !== 'string') return null;
    const principal = this.#auth.byDigest(Buffer.from(session.tokenSha256, 'hex'));
    return principal === null ? null : { session, principal };
  }

  /** Opens a session for a token, or throws LASTGOOD_ERR_UNAUTHORIZED when the token is not configured. */
  signIn(token: string): SignedIn {
    const digest = sha256(token.trim());
    const principal = this.#auth.byDigest(digest);
    if (principal === null)
      throw new LastgoodError('LASTGOOD_ERR_UNAUTHORIZED', 'The operator token is not valid');
    return { session: this.sealer.create(digest.toString('hex'), this.#clock.now()), principal };
  }
}
