import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type App, buildApp } from '../../src/app.ts';
import type { PushVerifier } from '../../src/auth/pubsub-push.ts';
import type { TokenSource } from '../../src/auth/token-source.ts';
import type { Clock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/env.ts';
import type { Config } from '../../src/config/types.ts';
import type { Backoff } from '../../src/domain/backoff.ts';
import { createLogger, loggerOptions } from '../../src/logger.ts';
import { createMetrics, type Metrics } from '../../src/metrics.ts';
import { openStore } from '../../src/store/index.ts';
import type { StatusView, Store } from '../../src/store/store.ts';
import { createExecutors } from '../../src/targets/executors.ts';
import { type BurnRateAlertOptions, burnRateAlert } from '../fixtures/alerts.ts';
import { logSinkStream } from './log-sink.ts';
import { eventually, type PollOptions } from './poll.ts';
import { ADMIN_TOKEN, OLD_WEBHOOK_TOKEN, OPERATOR_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN } from './tokens.ts';

export {
  ADMIN_TOKEN,
  OLD_WEBHOOK_TOKEN,
  OPERATOR_TOKEN,
  TEST_TOKENS,
  VIEWER_TOKEN,
  WEBHOOK_TOKEN,
  WRONG_TOKEN,
} from './tokens.ts';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export const EXAMPLE_POLICY = readFileSync(new URL('../../examples/lastgood.yaml', import.meta.url), 'utf8');

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start: Date = new Date()) {
    this.#now = start.getTime();
  }
  now(): Date {
    return new Date(this.#now);
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

export interface TestAppOptions {
  policy?: string;
  env?: Record<string, string>;
  clock?: Clock;
  /** Replaces the webhook tokens from the environment (e.g. a Secret Manager source). */
  webhookTokens?: TokenSource;
  /** Verifies Pub/Sub push tokens (see test/helpers/oidc.ts). */
  pushVerifier?: PushVerifier;
  dataDir?: string;
  /** Opens the store instead of SQLite in `dataDir` (e.g. a PostgreSQL test schema's `openStore`). */
  openStore?: () => Promise<Store>;
  /** `host:port` of a started emulator: the app then gets real executors and a running worker. */
  emulatorHost?: string;
  /** Waits between notification attempts (default 5 s doubling); tests shorten them. */
  notifyBackoff?: Backoff;
}

/** Google call settings that keep retries and polls in milliseconds, for tests against the emulator. */
export const FAST_GOOGLE_ENV = {
  LASTGOOD_GOOGLE_DEADLINE: '2s',
  LASTGOOD_GOOGLE_RETRY_DELAYS: '10ms,20ms,30ms',
  LASTGOOD_POLL_INTERVAL: '10ms',
  LASTGOOD_ROLLBACK_TIMEOUT: '5s',
  LASTGOOD_JOB_POLL: '50ms',
};

export interface TestApp {
  app: App;
  store: Store;
  metrics: Metrics;
  config: Config;
  dataDir: string;
  logs: string[];
  /** Stops the app; a second call waits for the first and does nothing more, so a test may close an app early. */
  close(options?: { keepData?: boolean }): Promise<void>;
}

export function testEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    LASTGOOD_CONFIG: '/virtual/lastgood.yaml',
    LASTGOOD_DATA_DIR: dataDir,
    LASTGOOD_WEBHOOK_TOKENS: `${WEBHOOK_TOKEN},${OLD_WEBHOOK_TOKEN}`,
    LASTGOOD_OPERATOR_TOKENS: [
      `alice:operator:${sha256Hex(OPERATOR_TOKEN)}`,
      `vic:viewer:${sha256Hex(VIEWER_TOKEN)}`,
      `root:admin:${sha256Hex(ADMIN_TOKEN)}`,
    ].join(','),
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** lastgood on SQLite in a temp dir, logs captured, ready for `app.server.inject`. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'lastgood-test-'));
  const emulatorEnv: Record<string, string> = options.emulatorHost
    ? {
        ...FAST_GOOGLE_ENV,
        CLOUD_RUN_EMULATOR_HOST: options.emulatorHost,
        CLOUD_DEPLOY_EMULATOR_HOST: options.emulatorHost,
        MONITORING_EMULATOR_HOST: options.emulatorHost,
      }
    : {};
  const config = loadConfig(
    testEnv(dataDir, { ...emulatorEnv, ...options.env }),
    () => options.policy ?? EXAMPLE_POLICY,
  );
  const logs: string[] = [];
  const store = await (options.openStore ?? (() => openStore({ dataDir, databaseUrl: null })))();
  const metrics = createMetrics(store, config.targets.keys());
  const executors = options.emulatorHost ? createExecutors(config, metrics.googleCall) : null;
  // As a process has them once warm: built at a rollback's first use, a client (100-250 ms of CPU, seconds on a
  // loaded runner) would block this process, the emulator's event loop included, in the middle of a test's flow.
  await executors?.buildClients();
  const app = buildApp({
    config,
    store,
    clock: options.clock ?? { now: () => new Date() },
    logger: createLogger(config.logLevel, logSinkStream(logs), loggerOptions(config.log, false)),
    ...(options.webhookTokens ? { webhookTokens: options.webhookTokens } : {}),
    ...(options.pushVerifier ? { pushVerifier: options.pushVerifier } : {}),
    ...(executors ? { executors: executors.byKind } : {}),
    ...(options.notifyBackoff ? { notifyBackoff: options.notifyBackoff } : {}),
    metrics,
  });
  await app.server.ready();
  app.worker?.start();
  app.deliveries.start();
  let closing: Promise<void> | null = null;
  return {
    app,
    store,
    metrics,
    config,
    dataDir,
    logs,
    close({ keepData = false } = {}) {
      closing ??= (async () => {
        await app.worker?.stop(5_000);
        await app.deliveries.stop();
        await app.server.close();
        await executors?.close();
        await store.close();
        if (!keepData) rmSync(dataDir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

/**
 * A `start` for one test file: each app it starts is closed after the test, so tests never leak a server or a
 * temp dir.
 */
export function useTestApps(): (options?: TestAppOptions) => Promise<TestApp> {
  const started: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((app) => app.close()));
  });
  return async (options = {}) => {
    const app = await startTestApp(options);
    started.push(app);
    return app;
  };
}

/**
 * One app for the tests of the enclosing `describe` (or file), started before the first and closed after the last:
 * for tests that leave nothing another test reads, such as refusals. Tests that need an empty store use `useTestApps`.
 */
export function useSharedTestApp(options: TestAppOptions = {}): () => TestApp {
  let shared: TestApp | null = null;
  beforeAll(async () => {
    shared = await startTestApp(options);
  });
  afterAll(async () => {
    await shared?.close();
  });
  return () => {
    if (shared === null) throw new Error('the shared test app starts in beforeAll: read it inside a test');
    return shared;
  };
}

/** Every decision the app's store holds: each stored alert has exactly one. */
export async function countDecisions(t: TestApp): Promise<number> {
  const stats = await t.store.decisionStats(new Date(0));
  return Object.values(stats.byAction).reduce((a, b) => a + b, 0);
}

/**
 * Reads a decision's status (from the store or over HTTP) until its rollback has left `queued` and `running`, and
 * returns that status.
 */
export async function untilRollbackEnds<S extends { rollback?: { state: string } | null }>(
  decisionId: string,
  read: () => Promise<S | null>,
  options: PollOptions,
): Promise<S> {
  let state: string | undefined;
  return eventually(
    async () => {
      const status = await read();
      state = status?.rollback?.state;
      return status && state && state !== 'queued' && state !== 'running' ? status : undefined;
    },
    () => `the rollback of ${decisionId} to end (still ${state ?? 'missing'})`,
    options,
  );
}

/** Waits until the decision's rollback reaches a terminal state and returns the status then. */
export function waitForRollback(store: Store, decisionId: string, timeoutMs = 10_000): Promise<StatusView> {
  return untilRollbackEnds(decisionId, () => store.getStatus(decisionId), { timeoutMs, everyMs: 20 });
}

/** What the webhook answers for a stored alert. */
export interface AlertAccepted {
  alertId: string;
  decisionId: string;
  duplicate: boolean;
  action: 'rollback' | 'none';
  reason: string;
}

/** Posts a real-shaped burn-rate alert through the webhook and returns the 202's body; anything else throws. */
export async function fireAlert(t: TestApp, options: BurnRateAlertOptions = {}): Promise<AlertAccepted> {
  const response = await t.app.server.inject({
    method: 'POST',
    url: webhookUrl(),
    payload: burnRateAlert(options),
  });
  if (response.statusCode !== 202)
    throw new Error(`the webhook answered ${response.statusCode}: ${response.body}`);
  return response.json() as AlertAccepted;
}

/** Asks, as the operator, for a manual rollback of `target` to `revision` or, without one, to its last known good. */
export function requestManualRollback(t: TestApp, target: string, revision?: string) {
  return t.app.server.inject({
    method: 'POST',
    url: `/v1/rollback/manual/${target}${revision === undefined ? '' : `?target_revision=${revision}`}`,
    headers: bearer(OPERATOR_TOKEN),
  });
}

export function webhookUrl(token: string = WEBHOOK_TOKEN): string {
  return `/webhook/error-budget-alert?auth_token=${encodeURIComponent(token)}`;
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}
