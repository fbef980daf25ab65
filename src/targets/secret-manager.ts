import type { v1 } from '@google-cloud/secret-manager';
import type { SecretVersions } from '../auth/secret-manager-tokens.ts';
import { GRPC, grpcCode } from './google-call.ts';

/** The two Secret Manager calls lastgood makes; the real v1 client is one. */
export type SecretVersionsClient = Pick<
  v1.SecretManagerServiceClient,
  'listSecretVersions' | 'accessSecretVersion'
>;

/** An error with its gRPC code in the message: the token source reports it in /readyz and the log. */
function described(error: unknown): Error {
  const code = grpcCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return new Error(code === null ? message : `gRPC ${code}: ${message}`, { cause: error });
}

/**
 * A secret's versions read through Secret Manager, each call with a deadline and no retry: the token source
 * refreshes again soon anyway, and keeps what it has meanwhile.
 */
export function secretManagerVersions(client: SecretVersionsClient, deadlineMs: number): SecretVersions {
  const call = { timeout: deadlineMs, retry: null };
  return {
    async list(secret) {
      try {
        const [versions] = await client.listSecretVersions({ parent: secret }, call);
        return versions.map((version) => ({
          name: version.name ?? '',
          enabled: version.state === 'ENABLED',
        }));
      } catch (error) {
        throw described(error);
      }
    },
    async read(name) {
      try {
        const [response] = await client.accessSecretVersion({ name }, call);
        // Secrets written with `echo` end in a newline the sender never sends.
        return Buffer.from(response.payload?.data ?? '')
          .toString('utf8')
          .trim();
      } catch (error) {
        // Disabled or destroyed between the list and the access: the next refresh will not list it.
        if (grpcCode(error) === GRPC.FAILED_PRECONDITION || grpcCode(error) === GRPC.NOT_FOUND) return null;
        throw described(error);
      }
    },
  };
}
