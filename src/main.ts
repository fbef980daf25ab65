import { enableCompileCache } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from './config/types.ts';
import type { Store } from './store/index.ts';

// Compiled code is kept on disk across starts (in NODE_COMPILE_CACHE, else the OS temp dir), so a restart skips
// most parsing and compiling: about 1.15 s -> 0.75 s from spawn to /readyz on 2 cores. It must be on before the
// rest of lastgood loads, which is why everything below is imported inside main() rather than up here.
enableCompileCache();

/**
 * Time kept back from the shutdown grace for closing the server, clients and store after jobs are dealt with: a
 * quarter of the grace, between 0.5 s and 2 s, so a loaded machine still exits within the grace.
 */
function shutdownReserveMs(graceMs: number): number {
  return Math.min(2_000, Math.max(500, graceMs / 4));
}

/** Starts lastgood: the only place that reads the environment, opens the store for real and listens. */
async function main(): Promise<void> {
  const [
    { buildApp, createWebhookTokens },
    { systemClock },
    { loadConfig },
    { isLastgoodError, StoreUnavailableError },
    { createLogger, loggerOptions },
    { createMetrics },
    { openStore },
    { createExecutors },
    { createLocalMetricsServer, LOCAL_METRICS_HOST },
    { warmIntakeParsers },
    { warmJudgement, warmFirstAlert },
    { releaseStartupMemory },
  ] = await Promise.all([
    import('./app.ts'),
    import('./clock.ts'),
    import('./config/env.ts'),
    import('./errors.ts'),
    import('./logger.ts'),
    import('./metrics.ts'),
    import('./store/index.ts'),
    import('./targets/executors.ts'),
    import('./http/local-metrics.ts'),
    import('./ingest/warm-up.ts'),
    import('./http/warm-up.ts'),
    import('./memory.ts'),
  ]);
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    process.stderr.write(`lastgood: ${isLastgoodError(error) ? error.message : String(error)}\n`);
    process.exit(78);
  }
  const logger = createLogger(
    config.logLevel,
    undefined,
    loggerOptions(config.log, process.stdout.isTTY === true),
  );
  for (const warning of config.warnings) logger.warn(warning);
  let store: Store;
  try {
    store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    // Refused like a bad configuration: started, it would say ready and then answer every alert 503.
    const where =
      config.databaseUrl === null
        ? `the SQLite store in ${config.dataDir} (LASTGOOD_DATA_DIR)`
        : 'the PostgreSQL store at DATABASE_URL';
    process.stderr.write(`lastgood: refusing to start: ${where} cannot be written: ${error.reason}\n`);
    process.exit(78);
  }
  const metrics = createMetrics(store, config.targets.keys());
  const executors = createExecutors(config, metrics.googleCall);
  // Environment tokens, or Secret Manager's (read once before listening; while unreadable, /readyz says 503).
  const webhookTokens = await createWebhookTokens(config, systemClock, logger);
  const app = buildApp({
    config,
    store,
    clock: systemClock,
    logger,
    executors: executors.byKind,
    webhookTokens: webhookTokens.source,
    metrics,
  });
  const localMetrics = config.metricsLocalPort === null ? null : createLocalMetricsServer(metrics);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const startedAt = Date.now();
    logger.info(
      { signal, graceMs: config.shutdownGraceMs },
      'shutting down: no new work, finishing what is in flight',
    );
    // The grace is what the platform allows before it kills the process, so closing gets a hard deadline: half
    // the reserve is left over for a busy event loop, so the platform still sees the exit inside its grace.
    // Nothing is lost by exiting then: every answered alert is committed, and a lease not yet handed back expires.
    const reserveMs = shutdownReserveMs(config.shutdownGraceMs);
    setTimeout(
      () => {
        logger.warn(
          { tookMs: Date.now() - startedAt },
          'shutdown ran out of time; exiting before closing all',
        );
        process.exit(0);
      },
      config.shutdownGraceMs - reserveMs / 2,
    ).unref();
    // /readyz turns 503 at once, so the load balancer stops sending; requests already in flight still complete.
    app.drain();
    // The listener stays open while jobs drain, answering 503 (/readyz, new alerts) until the server closes after
    // them. Closing it alongside the worker, as before, refused connections from the signal on: the draining
    // 503 was never seen by a new connection, for as long as a job took to finish (test/replicas/shutdown.test.ts).
    const drainMs = Math.max(0, config.shutdownGraceMs - reserveMs);
    await Promise.all([
      app.worker?.stop(drainMs),
      // Sends under way may finish until the same deadline; one still going is left to its lease, and another
      // replica sends it again (notifications are at least once; PagerDuty dedups on the rollback's key).
      Promise.race([app.deliveries.stop(), sleep(drainMs)]),
    ]);
    await app.server.close();
    localMetrics?.close();
    await executors.close();
    await webhookTokens.close();
    await store.close();
    logger.info({ tookMs: Date.now() - startedAt }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  // The Google clients, the intake's validators and the judgement are warmed once /readyz has first answered 200, or
  // a second after listening for a platform that never asks: building the clients alone takes 300-500 ms of CPU,
  // which held readiness back past a second. The first alert then finds its clients connected and its code compiled.
  let warming = false;
  const warm = async () => {
    if (warming) return;
    warming = true;
    const from = performance.now();
    try {
      await executors.buildClients();
      logger.info({ tookMs: Math.round(performance.now() - from) }, 'Google clients built');
    } catch (error) {
      logger.warn({ err: error }, 'could not build a Google client; the first rollback tries again');
    }
    // Start-up's memory is given back once the clients are built, as they allocate the most, and before the rest of
    // the warming: the collection that shrinks the young generation also drops compiled code that has not run
    // lately, and after the warm-up it dropped what the warm-up had compiled (the demo's first alert: service_read
    // 28 -> 21 ms and api_call_issued 50 -> 41 ms after job_claimed, medians of 5).
    const releaseMs = Math.round(releaseStartupMemory());
    try {
      warmIntakeParsers();
    } catch (error) {
      logger.warn({ err: error }, 'could not warm the intake validators; the first alert compiles them');
    }
    try {
      warmJudgement();
    } catch (error) {
      logger.warn({ err: error }, 'could not warm the judgement; the first rollback compiles it');
    }
    warmFirstAlert(app.server, store).catch((error) =>
      logger.warn({ err: error }, 'could not warm the decision; the first alert compiles it'),
    );
    await executors.startWarming((error) =>
      logger.warn({ err: error }, 'could not warm a Google client; retrying'),
    );
    const tookMs = Math.round(performance.now() - from);
    logger.info({ tookMs, releaseMs }, 'Google clients warmed');
  };
  app.server.addHook('onResponse', async (request, reply) => {
    if (!warming && reply.statusCode === 200 && request.routeOptions.url === '/readyz') void warm();
  });
  await app.server.listen({ port: config.port, host: config.host });
  if (localMetrics !== null) {
    await new Promise<void>((resolve, reject) => {
      localMetrics.once('error', reject).listen(config.metricsLocalPort!, LOCAL_METRICS_HOST, resolve);
    });
  }
  app.worker?.start();
  app.deliveries.start();
  setTimeout(() => void warm(), 1_000).unref();
  logger.info(
    { store: store.kind, targets: [...config.targets.keys()], enabled: config.enabled },
    'lastgood ready',
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `lastgood: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exit(1);
});
