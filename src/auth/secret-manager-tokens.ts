import type { Clock } from '../clock.ts';
import { LastgoodError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { TokenSource } from './token-source.ts';
import { weakTokenReason } from './token-strength.ts';

/** Two versions: the new token and the one before it, so rotating never refuses a sender still on the old one. */
const VERSIONS_ACCEPTED = 2;
/** A presented token that matches nothing may mean a rotation we have not seen yet, or a guesser: at most this often. */
const MISS_REFRESH_MS = 60_000;

/**
 * A secret's versions, as the token source reads them: a port, so that only `src/targets/` calls Google;
 * `src/targets/secret-manager.ts` implements it over Secret Manager.
 */
export interface SecretVersions {
  /** Every version of `secret`: its name (`.../versions/N`) and whether it is ENABLED. */
  list(secret: string): Promise<{ name: string; enabled: boolean }[]>;
  /** A version's payload as text; null when it was disabled or destroyed since it was listed. */
  read(name: string): Promise<string | null>;
}

export interface SecretManagerTokenSourceOptions {
  versions: SecretVersions;
  /** `projects/P/secrets/S`. */
  secret: string;
  refreshMs: number;
  /** Production: versions holding a short or published token are skipped (and reported), never accepted. */
  refuseWeakTokens: boolean;
  clock: Clock;
  logger: Logger;
}

/** Webhook tokens read from Secret Manager and kept fresh. */
export interface SecretManagerTokenSource extends TokenSource {
  /** Reads the versions now. Never rejects: a failure keeps the cached tokens and shows in `health()`. */
  refresh(): Promise<void>;
  /** Stops the periodic refresh, once a refresh under way has finished. */
  close(): Promise<void>;
}

interface LoadedToken {
  version: number;
  token: string;
}

function versionNumber(name: string): number {
  const match = /\/versions\/(\d+)$/.exec(name);
  return match ? Number(match[1]) : -1;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Serves the two newest ENABLED versions of a secret as webhook tokens, so a rotation has an overlap window:
 * add a version, move the sender to it, then disable the old one. Refreshes every `refreshMs`, and on an
 * unknown token at most once a minute. While Secret Manager is down it keeps serving the tokens it last read,
 * logs a warning and reports it in /readyz. Token values are never logged; versions are named by number.
 */
export async function createSecretManagerTokenSource(
  options: SecretManagerTokenSourceOptions,
): Promise<SecretManagerTokenSource> {
  const { versions: secretVersions, secret, logger } = options;
  const state: {
    loaded: LoadedToken[];
    tokens: readonly string[];
    refreshedAt: Date | null;
    failure: { since: Date; reason: string } | null;
  } = { loaded: [], tokens: [], refreshedAt: null, failure: null };
  let inFlight: Promise<void> | null = null;
  let lastMissRefresh = Number.NEGATIVE_INFINITY;

  async function load(): Promise<LoadedToken[]> {
    const newest = (await secretVersions.list(secret))
      .filter((version) => version.enabled)
      .map((version) => ({ name: version.name, number: versionNumber(version.name) }))
      .filter((version) => version.number > 0)
      .sort((a, b) => b.number - a.number)
      .slice(0, VERSIONS_ACCEPTED);
    const result: LoadedToken[] = [];
    for (const version of newest) {
      const token = await secretVersions.read(version.name);
      if (token === null) continue;
      const weakness =
        token.length === 0 ? 'is empty' : options.refuseWeakTokens ? weakTokenReason(token) : null;
      if (weakness !== null) {
        logger.error({ secret, version: version.number, problem: weakness }, 'webhook token version refused');
        continue;
      }
      result.push({ version: version.number, token });
    }
    return result;
  }

  async function refreshOnce(): Promise<void> {
    try {
      const next = await load();
      const before = state.loaded.map((entry) => entry.version).join(',');
      state.loaded = next;
      state.tokens = Object.freeze(next.map((entry) => entry.token));
      state.refreshedAt = options.clock.now();
      if (state.failure !== null) logger.info({ secret }, 'Secret Manager reachable again');
      state.failure = null;
      const versions = next.map((entry) => entry.version);
      if (versions.join(',') !== before) logger.info({ secret, versions }, 'webhook tokens loaded');
      if (next.length === 0)
        logger.error({ secret }, 'the secret has no usable enabled version: every webhook is refused');
    } catch (error) {
      state.failure ??= { since: options.clock.now(), reason: describeError(error) };
      logger.warn(
        { secret, error: describeError(error), cachedVersions: state.loaded.map((entry) => entry.version) },
        'Secret Manager unreachable: serving the cached webhook tokens',
      );
    }
  }

  function refresh(): Promise<void> {
    inFlight ??= refreshOnce().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  await refresh();
  if (state.refreshedAt === null) {
    throw new LastgoodError(
      'LASTGOOD_ERR_GOOGLE_API',
      `Cannot read the webhook tokens from Secret Manager ${secret} (${state.failure?.reason}); refusing to start without ` +
        'them. Check that the secret exists and the service account has roles/secretmanager.secretAccessor.',
    );
  }
  const timer = setInterval(() => void refresh(), options.refreshMs);
  // The refresh must never be what keeps the process alive during shutdown.
  timer.unref();

  return {
    tokens: () => state.tokens,
    onMiss() {
      const now = options.clock.now().getTime();
      if (now - lastMissRefresh < MISS_REFRESH_MS) return;
      lastMissRefresh = now;
      void refresh();
    },
    health() {
      const versions = state.loaded.map((entry) => entry.version).join(', ') || 'none';
      if (state.failure !== null) {
        return {
          ok: false,
          detail:
            `Secret Manager unreachable since ${state.failure.since.toISOString()} (${state.failure.reason}); serving ` +
            `${state.tokens.length} cached token(s) from ${secret} versions ${versions}`,
        };
      }
      return {
        ok: state.tokens.length > 0,
        detail: `${state.tokens.length} token(s) from Secret Manager ${secret} versions ${versions}, read ${state.refreshedAt?.toISOString()}`,
      };
    },
    refresh,
    // A refresh under way is let finish: a call started on a client being closed fails inside gax, unhandled.
    close: async () => {
      clearInterval(timer);
      await inFlight;
    },
  };
}
