import { hostname } from 'node:os';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { googlePushVerifier, type PushVerifier, pushIntakeDisabled } from './auth/pubsub-push.ts';
import { createSecretManagerTokenSource } from './auth/secret-manager-tokens.ts';
import { staticTokenSource, type TokenSource } from './auth/token-source.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config/types.ts';
import type { Backoff } from './domain/backoff.ts';
import type { Controls } from './domain/controls.ts';
import type { TargetKind } from './domain/types.ts';
import { LastgoodError } from './errors.ts';
import { createOperatorAuth } from './http/auth.ts';
import { connectionTimeouts, installConnectionLimits } from './http/connections.ts';
import { installCors } from './http/cors.ts';
import { answerClientError, answerFrameworkError, installErrorHandling } from './http/error-handler.ts';
import { installRateLimits, trustProxyHops } from './http/rate-limit.ts';
import { installJsonBodyParser, OneLineRequestLog, registerRoutes } from './http/register.ts';
import { allRoutes, ROUTE_SPECS } from './http/routes/index.ts';
import { installSecurityHeaders } from './http/security-headers.ts';
import { SessionSealer, Sessions } from './http/session.ts';
import { traceLogFields } from './http/trace-context.ts';
import { installStatusPage } from './http/ui.ts';
import { RollbackWorker } from './jobs/rollback-worker.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createChannels } from './notify/channels.ts';
import { DeliveryWorker } from './notify/delivery-worker.ts';
import type { Store } from './store/store.ts';
import type { RollbackExecutor } from './targets/executor.ts';
import { callHorizonMs } from './targets/google-call.ts';
import { createSecretManagerClient } from './targets/google-clients.ts';
import { googleIdTokens } from './targets/google-oidc.ts';
import { secretManagerVersions } from './targets/secret-manager.ts';

/** Cloud Monitoring payloads are a few KB; anything near this is not an alert. */
export const BODY_LIMIT_BYTES = 256 * 1024;

export interface AppDeps {
  config: Config;
  store: Store;
  clock: Clock;
  logger: Logger;
  webhookTokens?: TokenSource;
  /** Verifies Pub/Sub push tokens; default: Google's certificates, when `config.pubsub` is set. */
  pushVerifier?: PushVerifier;
  controls?: Controls;
  /** One executor per target kind; without them lastgood decides and queues but never acts. */
  executors?: Partial<Record<TargetKind, RollbackExecutor>>;
  /** Default: a fresh registry over `store`. Pass the one the executors report Google calls to. */
  metrics?: Metrics;
  /** Waits between notification attempts; default 5 s doubling to 10 min. */
  notifyBackoff?: Backoff;
}

export interface App {
  server: FastifyInstance;
  /** Runs queued rollback jobs; null when the app was built without executors. */
  worker: RollbackWorker | null;
  /** Delivers the notification outbox to the configured channels; started and stopped by the caller. */
  deliveries: DeliveryWorker;
  /** Stops taking new work: /readyz turns 503 and intake answers 503. */
  drain(): void;
}

/** Wires lastgood together. Only `src/main.ts` loads config and listens; tests call this and use `inject`. */
export function buildApp(deps: AppDeps): App {
  let accepting = true;
  const { config } = deps;
  const server: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new OneLineRequestLog(),
    // Every line a request logs carries its trace, so Cloud Logging shows them under the request in Cloud Trace.
    childLoggerFactory: (logger, bindings, options, rawRequest) =>
      logger.child({ ...bindings, ...traceLogFields(rawRequest.headers, config.log.traceProject) }, options),
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
    ...connectionTimeouts(config.http.requestTimeoutMs),
    // A hop count, not `true`: trusting every X-Forwarded-For entry would let a client pick its own address,
    // and with it a fresh rate-limit budget per request.
    trustProxy: trustProxyHops(config.http.trustProxyHops),
  });
  const webhookTokens = deps.webhookTokens ?? staticTokenSource(config.webhookTokens);
  const controls = deps.controls ?? { enabled: () => config.enabled };
  const executors = deps.executors ?? {};
  const metrics = deps.metrics ?? createMetrics(deps.store, config.targets.keys());
  const owner = config.jobs.workerId ?? `${hostname()}-${process.pid}`;
  const deliveries = new DeliveryWorker({
    store: deps.store,
    channels: createChannels(config.notify, deps.clock),
    targets: config.targets,
    clock: deps.clock,
    logger: deps.logger,
    owner,
    pollMs: config.jobs.pollMs,
    timeoutMs: config.notify.timeoutMs,
    maxAttempts: config.notify.maxAttempts,
    publicUrl: config.notify.publicUrl,
    ...(deps.notifyBackoff === undefined ? {} : { backoff: deps.notifyBackoff }),
  });
  const worker =
    deps.executors === undefined
      ? null
      : new RollbackWorker({
          store: deps.store,
          targets: config.targets,
          executors,
          controls,
          clock: deps.clock,
          logger: deps.logger,
          owner,
          leaseMs: config.jobs.leaseMs,
          callHorizonMs: callHorizonMs(config.google),
          pollMs: config.jobs.pollMs,
          concurrency: config.jobs.concurrency,
          metrics,
        });
  installErrorHandling(server);
  installSecurityHeaders(server);
  installCors(server, config.http.corsOrigins, ROUTE_SPECS);
  installConnectionLimits(server, config.http.maxConnectionsPerAddress);
  installJsonBodyParser(server);
  const rateLimits = installRateLimits(server, config.http.rateLimits);
  const operatorAuth = createOperatorAuth(config.operatorTokens);
  const sessions = new Sessions(
    new SessionSealer(config.ui.sessionSecret, config.ui.sessionTtlMs),
    operatorAuth,
    deps.clock,
  );
  installStatusPage(server, sessions, rateLimits);
  const pushVerifier =
    deps.pushVerifier ??
    (config.pubsub === null
      ? pushIntakeDisabled
      : googlePushVerifier({ ...config.pubsub, idTokens: googleIdTokens() }));
  registerRoutes(
    server,
    allRoutes({
      store: deps.store,
      targets: config.targets,
      controls,
      clock: deps.clock,
      webhookTokens,
      metrics,
      accepting: () => accepting,
      rollbacks: worker,
      notificationQueued: () => deliveries.wake(),
      checkRequestedRevision: async (target, revision) =>
        executors[target.kind]?.checkRequestedRevision(target, revision),
      unfreezeTarget: async (target) => {
        const executor = executors[target.kind];
        if (executor?.unfreeze === undefined) {
          // Only an app built without Google clients (tests, replay) lacks one; say so rather than answer 500.
          throw new LastgoodError(
            'LASTGOOD_ERR_UNAVAILABLE',
            `This process has no ${target.kind} client to unfreeze with`,
          );
        }
        return executor.unfreeze(target);
      },
    }),
    { webhookTokens, operatorAuth, sessions, pushVerifier, rateLimits },
    metrics,
  );
  return {
    server,
    worker,
    deliveries,
    drain() {
      accepting = false;
    },
  };
}

/** The webhook token source and how to release it. */
export interface WebhookTokens {
  source: TokenSource;
  close(): Promise<void>;
}

/**
 * The webhook token source the configuration asks for: Secret Manager when `LASTGOOD_WEBHOOK_TOKEN_SECRET` is
 * set (through the emulator when `SECRET_MANAGER_EMULATOR_HOST` is), else the environment's fixed tokens.
 */
export async function createWebhookTokens(
  config: Config,
  clock: Clock,
  logger: Logger,
): Promise<WebhookTokens> {
  if (config.webhookTokenSecret === null) {
    return { source: staticTokenSource(config.webhookTokens), close: async () => {} };
  }
  const client = createSecretManagerClient(config.emulators.secretManager);
  const source = await createSecretManagerTokenSource({
    versions: secretManagerVersions(client, config.google.deadlineMs),
    secret: config.webhookTokenSecret,
    refreshMs: config.tokenRefreshMs,
    refuseWeakTokens: config.production,
    clock,
    logger,
  });
  return {
    source,
    async close() {
      await source.close();
      await client.close();
    },
  };
}
