import { type Certificates, OAuth2Client } from 'google-auth-library';
import type { IdTokenChecker } from '../auth/pubsub-push.ts';

/** Google's ID token checks with google-auth-library: the certificate fetch and the signature check. */
export function googleIdTokens(): IdTokenChecker {
  const client = new OAuth2Client();
  return {
    certificates: async () => (await client.getFederatedSignonCertsAsync()).certs,
    async verify(token, certificates, audience, issuers) {
      // The certificates are the ones `certificates()` (or a test standing in for Google) handed over.
      const ticket = await client.verifySignedJwtWithCertsAsync(
        token,
        certificates as Certificates,
        audience,
        [...issuers],
      );
      return ticket.getPayload();
    },
  };
}
