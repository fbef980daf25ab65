import { createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Certificates } from 'google-auth-library';
import { googlePushVerifier, type PushVerifier } from '../../src/auth/pubsub-push.ts';
import { googleIdTokens } from '../../src/targets/google-oidc.ts';
import { registerSecret } from './log-sink.ts';

export const PUSH_AUDIENCE = 'https://lastgood.example.com/webhook/pubsub';
export const PUSH_SERVICE_ACCOUNT = 'pubsub-push@demo-project.iam.gserviceaccount.com';

/** A signing key standing in for one of Google's, generated per test file. */
export interface TestSigner {
  kid: string;
  privateKey: KeyObject;
  /** PEM public key, the form Google publishes its certificates in. */
  publicPem: string;
}

export function createSigner(kid: string): TestSigner {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A Pub/Sub push OIDC token signed like Google's: RS256, issuer accounts.google.com, the subscription's audience
 * and service account. `claims` overrides any claim; `header` the JOSE header.
 */
export function signPushToken(
  signer: TestSigner,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url({ alg: 'RS256', typ: 'JWT', kid: signer.kid, ...header });
  const body = b64url({
    iss: 'https://accounts.google.com',
    aud: PUSH_AUDIENCE,
    azp: '1234567890',
    sub: '1234567890',
    email: PUSH_SERVICE_ACCOUNT,
    email_verified: true,
    iat: now,
    exp: now + 3600,
    ...claims,
  });
  const signature = createSign('RSA-SHA256').update(`${head}.${body}`).sign(signer.privateKey, 'base64url');
  const token = `${head}.${body}.${signature}`;
  registerSecret(token);
  return token;
}

/** The real verifier, trusting the given test keys instead of fetching Google's. */
export function testPushVerifier(
  signers: readonly TestSigner[],
  certificates?: () => Promise<Certificates>,
): PushVerifier {
  return googlePushVerifier({
    audience: PUSH_AUDIENCE,
    serviceAccount: PUSH_SERVICE_ACCOUNT,
    idTokens: {
      ...googleIdTokens(),
      certificates:
        certificates ??
        (async () => Object.fromEntries(signers.map((signer) => [signer.kid, signer.publicPem]))),
    },
  });
}

/** The envelope a push subscription POSTs for one message. */
export function pushEnvelope(data: string | object, messageId = String(Date.now())) {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  return {
    message: {
      data: Buffer.from(text, 'utf8').toString('base64'),
      messageId,
      message_id: messageId,
      publishTime: new Date().toISOString(),
      publish_time: new Date().toISOString(),
      attributes: { googclient_schemaencoding: 'JSON' },
    },
    subscription: 'projects/demo-project/subscriptions/lastgood-alerts',
  };
}
