import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../clock.ts';
import { type Backoff, exponentialBackoff } from '../domain/backoff.ts';
import type { Logger } from '../logger.ts';
import { retry } from '../retry.ts';
import type { TokenSource } from './token-source.ts';
import { unusableTokenReason, weakTokenReason } from './token-strength.ts';

/** Two versions: the new token and the one before it, so rotating never refuses a sender still on the old one. */
const VERSIONS_ACCEPTED = 2;
/**
 * A presented token that matches nothing may mean a version added since the last read, or a guesser: the secret
 * is read again at most this often, so a new token gets in on its first use but guessing costs no Secret
 * Manager read per request.
 */
const MISS_REFRESH_MS = 10_000;
/** Until the first read succeeds: 1 s, 2 s, 4 s, ... then every 30 s, never giving up. */
const START_BACKOFF = exponentialBackoff({ baseMs: 1_000, maxMs: 30_000 });
/** What the operator checks when the secret was never read. */
const ACCESS_HINT =
  'Check that the secret exists and the service account has roles/secretmanager.secretAccessor.';

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
  /** Waits between tries while the secret has never been read; default 1 s doubling to 30 s. */
  startBackoff?: Backoff;
  clock: Clock;
  logger: Logger;
}

/** Webhook tokens read from Secret Manager and kept fresh. */
export interface SecretManagerTokenSource extends TokenSource {
  /** Reads the versions now. Never rejects: a failure keeps the cached tokens and shows in `health()`. */
  refresh(): Promise<void>;
  /** Stops the periodic refresh and the start-up retries, once a refresh under way has finished. */
  close(): Promise<void>;
}

interface LoadedToken {
  version: number;
  token: string;
}

/** An enabled version passed over, and why: shown in /readyz when no usable one is left. */
interface SkippedVersion {
  version: number;
  problem: string;
}

function versionNumber(name: string): number {
  const match = /\/versions\/(\d+)$/.exec(name);
  return match ? Number(match[1]) : -1;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Serves the two newest ENABLED versions holding a usable token as webhook tokens, so a rotation has an overlap
 * window: add a version, move the sender to it, then disable the old one. Refreshes every `refreshMs`, and on an
 * unknown token at most every 10 s. While Secret Manager is down it keeps serving the tokens it last read, logs a
 * warning and reports it in /readyz; down at start, it starts with none (/readyz 503) and retries with backoff.
 * Token values are never logged; versions are named by number.
 */
export async function createSecretManagerTokenSource(
  options: SecretManagerTokenSourceOptions,
): Promise<SecretManagerTokenSource> {
  const { versions: secretVersions, secret, logger } = options;
  const state: {
    loaded: LoadedToken[];
    skipped: SkippedVersion[];
    tokens: readonly string[];
    refreshedAt: Date | null;
    failure: { since: Date; reason: string } | null;
  } = { loaded: [], skipped: [], tokens: [], refreshedAt: null, failure: null };
  let inFlight: Promise<void> | null = null;
  let lastMissRefresh = Number.NEGATIVE_INFINITY;

  /** The newest usable versions, read newest first until enough are found, and the enabled ones passed over. */
  async function load(): Promise<{ loaded: LoadedToken[]; skipped: SkippedVersion[] }> {
    const enabled = (await secretVersions.list(secret))
      .filter((version) => version.enabled)
      .map((version) => ({ name: version.name, number: versionNumber(version.name) }))
      .filter((version) => version.number > 0)
      .sort((a, b) => b.number - a.number);
    const loaded: LoadedToken[] = [];
    const skipped: SkippedVersion[] = [];
    // An unusable version must not take the place of a usable older one: read on until two usable are found.
    for (const version of enabled) {
      if (loaded.length === VERSIONS_ACCEPTED) break;
      const token = await secretVersions.read(version.name);
      if (token === null) continue;
      const problem =
        unusableTokenReason(token) ?? (options.refuseWeakTokens ? weakTokenReason(token) : null);
      if (problem !== null) {
        logger.error({ secret, version: version.number, problem }, 'webhook token version refused');
        skipped.push({ version: version.number, problem });
        continue;
      }
      loaded.push({ version: version.number, token });
    }
    return { loaded, skipped };
  }

  async function refreshOnce(): Promise<void> {
    try {
      const { loaded: next, skipped } = await load();
      const before = state.loaded.map((entry) => entry.version).join(',');
      state.loaded = next;
      state.skipped = skipped;
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
        state.refreshedAt === null
          ? 'Secret Manager unreachable: no webhook token read yet, every webhook is refused; retrying'
          : 'Secret Manager unreachable: serving the cached webhook tokens',
      );
    }
  }

  function refresh(): Promise<void> {
    inFlight ??= refreshOnce().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  /**
   * Secret Manager down at start: rather than exit (so no replica would run through an outage at deploy time),
   * lastgood starts unready, /readyz 503 naming the cause, and tries again with backoff until a read succeeds.
   */
  const closing = new AbortController();
  // The backoff never gives up, so this only rejects once closed, when there is nothing left to report.
  const firstRead = retry(
    async () => {
      await refresh();
      if (state.refreshedAt === null) throw new Error(state.failure?.reason);
    },
    {
      backoff: options.startBackoff ?? START_BACKOFF,
      sleep: (ms) => sleep(ms, undefined, { signal: closing.signal, ref: false }),
      retryable: () => !closing.signal.aborted,
    },
  ).catch(() => {});
  // The retry's first try is the read now under way: waiting for it starts lastgood with the tokens when it can.
  await refresh();
  const timer = setInterval(() => void refresh(), options.refreshMs);
  // The refresh must never be what keeps the process alive during shutdown.
  timer.unref();

  function detail(): string {
    const versions = state.loaded.map((entry) => entry.version).join(', ') || 'none';
    if (state.refreshedAt === null) {
      return (
        `webhook tokens never read from Secret Manager ${secret}: unreachable since ` +
        `${state.failure?.since.toISOString()} (${state.failure?.reason}); retrying. ${ACCESS_HINT}`
      );
    }
    if (state.failure !== null) {
      return (
        `Secret Manager unreachable since ${state.failure.since.toISOString()} (${state.failure.reason}); serving ` +
        `${state.tokens.length} cached token(s) from ${secret} versions ${versions}`
      );
    }
    if (state.tokens.length === 0) {
      const skipped = state.skipped.map((entry) => `version ${entry.version} ${entry.problem}`).join('; ');
      return (
        `no usable webhook token in Secret Manager ${secret}, so every webhook is refused: ` +
        `${skipped || 'no version is enabled'}. Add a version holding a token.`
      );
    }
    return `${state.tokens.length} token(s) from Secret Manager ${secret} versions ${versions}, read ${state.refreshedAt.toISOString()}`;
  }

  return {
    tokens: () => state.tokens,
    async onMiss() {
      // A refresh under way answers the question without another read.
      if (inFlight === null) {
        const now = options.clock.now().getTime();
        if (now - lastMissRefresh < MISS_REFRESH_MS) return false;
        lastMissRefresh = now;
      }
      await refresh();
      return true;
    },
    health: () => ({
      ok: state.failure === null && state.tokens.length > 0,
      ready: state.tokens.length > 0,
      detail: detail(),
    }),
    refresh,
    // A refresh under way is let finish: a call started on a client being closed fails inside gax, unhandled.
    close: async () => {
      clearInterval(timer);
      closing.abort();
      await firstRead;
      await inFlight;
    },
  };
}
