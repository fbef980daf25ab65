import { LastgoodError } from '../errors.ts';

/** What a verified push request proves: the service account Pub/Sub signed its OIDC token as. */
export interface PushIdentity {
  email: string;
}

/** Checks the `Authorization: Bearer <OIDC token>` a Pub/Sub push subscription attaches to every request. */
export interface PushVerifier {
  verify(authorization: string | undefined): Promise<PushIdentity>;
}

/** Google's token signing certificates by key id, as the checker fetched them; opaque here. */
export type SigningCertificates = Readonly<Record<string, unknown>>;

/**
 * Google's ID token checks, behind a port so that only `src/targets/` calls Google's library:
 * `src/targets/google-oidc.ts` implements it with google-auth-library.
 */
export interface IdTokenChecker {
  /** Google's current signing certificates, fetched from Google and cached as its headers allow. */
  certificates(): Promise<SigningCertificates>;
  /** Checks signature, issuer, expiry and audience; answers the token's claims, or throws when any fails. */
  verify(
    token: string,
    certificates: SigningCertificates,
    audience: string,
    issuers: readonly string[],
  ): Promise<{ email?: string | undefined; email_verified?: boolean | undefined } | undefined>;
}

/** Who may sign push tokens; Google issues them with either spelling. */
const GOOGLE_ISSUERS = ['https://accounts.google.com', 'accounts.google.com'];

/** Google's ID tokens are about 1 KB; anything far larger is refused before any parsing. */
const MAX_TOKEN_LENGTH = 8192;
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

export interface GooglePushVerifierOptions {
  /** The audience the push subscription puts in its tokens (by default the push endpoint URL). */
  audience: string;
  /** The service account the push subscription signs as. */
  serviceAccount: string;
  idTokens: IdTokenChecker;
}

function unauthorized(message: string): LastgoodError {
  return new LastgoodError('LASTGOOD_ERR_UNAUTHORIZED', message);
}

/**
 * Verifies Pub/Sub push tokens: Google's signature, issuer, expiry, audience, and that the token was issued to
 * the configured service account with a verified email.
 */
export function googlePushVerifier(options: GooglePushVerifierOptions): PushVerifier {
  const { idTokens } = options;
  return {
    async verify(authorization) {
      const token = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
      if (token.length === 0)
        throw unauthorized('A Pub/Sub push OIDC token is required (Authorization: Bearer)');
      if (token.length > MAX_TOKEN_LENGTH || !JWT_SHAPE.test(token)) {
        throw unauthorized('The Pub/Sub push token is not a JWT');
      }
      let certs: SigningCertificates;
      try {
        certs = await idTokens.certificates();
      } catch (error) {
        // Our problem, not the sender's: a 503 makes Pub/Sub redeliver instead of dropping the alert.
        throw new LastgoodError(
          'LASTGOOD_ERR_UNAVAILABLE',
          "Google's token signing certificates could not be fetched",
          { cause: error },
        );
      }
      let payload: Awaited<ReturnType<IdTokenChecker['verify']>>;
      try {
        payload = await idTokens.verify(token, certs, options.audience, GOOGLE_ISSUERS);
      } catch {
        // The library's messages quote the whole token, so they are dropped here: never logged, never answered.
        throw unauthorized('The Pub/Sub push token is not valid (signature, issuer, audience or expiry)');
      }
      if (payload?.email !== options.serviceAccount || payload.email_verified !== true) {
        throw unauthorized('The Pub/Sub push token was not issued to the configured service account');
      }
      return { email: payload.email };
    },
  };
}

/** Used when Pub/Sub intake is not configured: every push is refused, saying what to set. */
export const pushIntakeDisabled: PushVerifier = {
  async verify() {
    throw unauthorized(
      'Pub/Sub push intake is off: set LASTGOOD_PUBSUB_AUDIENCE and LASTGOOD_PUBSUB_SERVICE_ACCOUNT',
    );
  },
};
