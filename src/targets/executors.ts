import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/types.ts';
import { monitoringWindow } from '../domain/judgement-policy.ts';
import { protectedResource } from '../domain/target.ts';
import type { TargetKind } from '../domain/types.ts';
import type { GoogleCallObservation } from '../metrics.ts';
import { CloudDeployExecutor } from './cloud-deploy.ts';
import { CloudRunExecutor } from './cloud-run.ts';
import { warmRollbackCall } from './cloud-run-warm-up.ts';
import type { RollbackExecutor } from './executor.ts';
import { callOptions, type GoogleCallPolicy } from './google-call.ts';
import {
  createCloudDeployClient,
  createCloudRunClients,
  createMonitoringClient,
  warmClient,
} from './google-clients.ts';
import { readRequestCounts } from './monitoring.ts';
import { warmTelemetryDecoding } from './monitoring-warm-up.ts';
import { pipelineName } from './pipeline-suspension.ts';
import { WriteQuota } from './write-quota.ts';

export interface Executors {
  byKind: Partial<Record<TargetKind, RollbackExecutor>>;
  /**
   * Builds every client of the configured kinds, one per event-loop turn: each blocks the loop for 100-250 ms,
   * and an alert that arrives meanwhile is answered between them rather than after all of them. Call once the
   * process is ready; a rollback that comes first builds what it needs itself.
   */
  buildClients(): Promise<void>;
  /**
   * Connects every client in the background (building any not built yet) and keeps them connected, so the first
   * alert, and the first after a long quiet spell, take the warm path. Call once the process is ready: it must
   * not delay readiness. Resolves when every client has had its first try.
   */
  startWarming(onError: (error: unknown) => void): Promise<void>;
  close(): Promise<void>;
}

/** A value built at its first `get()`. */
interface Lazy<T> {
  get(): T;
  /** The value if something has asked for it, else null: what was never built needs no closing. */
  ifBuilt(): T | null;
}

function lazy<T>(build: () => T): Lazy<T> {
  let value: { built: T } | null = null;
  return {
    get() {
      value ??= { built: build() };
      return value.built;
    },
    ifBuilt: () => value?.built ?? null,
  };
}

/** An executor that builds itself, and the clients it holds, when a rollback or a person first needs it. */
function builtOnFirstUse(executor: Lazy<RollbackExecutor>): RollbackExecutor {
  return {
    execute: (context) => executor.get().execute(context),
    checkRequestedRevision: (target, revision) => executor.get().checkRequestedRevision(target, revision),
    startReads: (target, incident, now) => executor.get().startReads?.(target, incident, now) ?? null,
  };
}

/**
 * One executor per target kind the policy file uses, each with real Google clients (pointed at an emulator when
 * its `*_EMULATOR_HOST` is set). Kinds no target uses get no client, so no credentials are looked up for them.
 * No client is built here: loading a client library and building its client takes 100-250 ms of CPU each, which
 * held `/readyz` back past a second. `startWarming` builds them once the process is ready, and a rollback or
 * request that comes first builds what it needs itself. `observe` is told of every Google call attempt
 * (lastgood's metrics).
 */
export function createExecutors(
  config: Config,
  observe?: (observation: GoogleCallObservation) => void,
): Executors {
  const writes = new WriteQuota(
    config.google.writeRate,
    () => Date.now(),
    (ms) => sleep(ms),
  );
  const policy: GoogleCallPolicy = {
    ...config.google,
    sleep: (ms) => sleep(ms),
    writeSlot: (key) => writes.take(key),
    ...(observe === undefined ? {} : { observe }),
  };
  const targets = [...config.targets.values()];
  const kinds = new Set(targets.map((target) => target.kind));
  const byKind: Partial<Record<TargetKind, RollbackExecutor>> = {};
  const clients: Lazy<{ close(): Promise<void> }>[] = [];
  // Twice the re-warm period: a channel touched at every re-warm never reaches it.
  const channel = { idleTimeoutMs: 2 * config.google.rewarmMs };
  const warmers: (() => Promise<() => Promise<void>>)[] = [];
  const warm = (
    client: () => Parameters<typeof warmClient>[0],
    emulatorHost: string | null,
    read: () => Promise<unknown>,
  ) => warmers.push(() => warmClient(client(), emulatorHost !== null, config.google.deadlineMs, read));
  // One page of one item: the cheapest read that still decodes the messages a rollback reads.
  const onePage = { ...callOptions(policy), autoPaginate: false };
  // Read telemetry only for targets that judge with it: a Cloud Deploy target needs its Cloud Run `service`.
  const judged = targets.find(
    (target) =>
      target.execution.judgement.evidence !== 'off' &&
      (target.kind === 'cloud-run' || target.service !== null),
  );
  const monitoring = judged ? lazy(() => createMonitoringClient(config.emulators.monitoring, channel)) : null;
  if (judged !== undefined && monitoring !== null) {
    clients.push(monitoring);
    const location = { project: judged.project, region: judged.region, service: judged.service ?? '' };
    // The window an alert starting now is judged on (two hours by default): decoding that many points is most of
    // the evidence read, and the first decode of a kind runs cold; a two-minute read left the first alert's
    // ListTimeSeries 10-20 ms slower than the next ones. One read runs the client's path; the decoding needs more
    // runs than one (`warmTelemetryDecoding`).
    warm(monitoring.get, config.emulators.monitoring, () => {
      const now = new Date();
      const incident = { startedAt: now, lookbackMs: null, conditionDurationMs: 0 };
      const window = monitoringWindow(incident, judged.execution.judgement, now);
      return Promise.all([
        readRequestCounts(monitoring.get(), location, window, policy, null),
        warmTelemetryDecoding(monitoring.get(), window),
      ]);
    });
  }
  if (kinds.has('cloud-run')) {
    const run = lazy(() => createCloudRunClients(config.emulators.cloudRun, channel));
    clients.push(run);
    byKind['cloud-run'] = builtOnFirstUse(
      lazy(() => new CloudRunExecutor(run.get(), policy, monitoring?.get() ?? null)),
    );
    const first = targets.find((target) => target.kind === 'cloud-run');
    if (first?.kind === 'cloud-run') {
      // GetService, the rollback's first call, so its request and answer have been through once; and the
      // UpdateService it makes, encoded and never sent.
      warm(
        () => run.get().services,
        config.emulators.cloudRun,
        () =>
          Promise.all([
            warmRollbackCall(run.get().services),
            run.get().services.getService({ name: protectedResource(first) }, callOptions(policy)),
          ]),
      );
      warm(
        () => run.get().revisions,
        config.emulators.cloudRun,
        () => run.get().revisions.listRevisions({ parent: protectedResource(first), pageSize: 1 }, onePage),
      );
    }
  }
  if (kinds.has('cloud-deploy')) {
    const deploy = lazy(() => createCloudDeployClient(config.emulators.cloudDeploy, channel));
    clients.push(deploy);
    const executor = lazy(() => new CloudDeployExecutor(deploy.get(), policy, monitoring?.get() ?? null));
    byKind['cloud-deploy'] = {
      ...builtOnFirstUse(executor),
      unfreeze: (target) => executor.get().unfreeze(target),
    };
    const first = targets.find((target) => target.kind === 'cloud-deploy');
    if (first?.kind === 'cloud-deploy') {
      warm(deploy.get, config.emulators.cloudDeploy, () =>
        deploy.get().getDeliveryPipeline({ name: pipelineName(first) }, callOptions(policy)),
      );
    }
  }
  const timers: NodeJS.Timeout[] = [];
  // The process may stop while the warm-up is still under way: what is left of it then builds, connects and
  // schedules nothing that close() would not see.
  let closed = false;
  return {
    byKind,
    async buildClients() {
      for (const client of clients) {
        await nextTurn();
        if (closed) return;
        client.get();
      }
    },
    async startWarming(onError) {
      if (closed) return;
      const first: Promise<void>[] = [];
      for (const start of warmers) {
        let touch: (() => Promise<void>) | null = null;
        // A client that failed to connect (a network blip) is warmed again at the next tick; the others go on.
        const tick = async () => {
          try {
            if (touch === null) touch = await start();
            else await touch();
          } catch (error) {
            onError(error);
          }
        };
        first.push(tick());
        const timer = setInterval(() => void tick(), config.google.rewarmMs);
        timer.unref();
        timers.push(timer);
      }
      await Promise.all(first);
    },
    close: async () => {
      closed = true;
      for (const timer of timers) clearInterval(timer);
      await Promise.all(clients.map((client) => client.ifBuilt()?.close()));
    },
  };
}
