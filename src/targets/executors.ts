import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/types.ts';
import type { TargetKind } from '../domain/types.ts';
import type { GoogleCallObservation } from '../metrics.ts';
import { CloudDeployExecutor } from './cloud-deploy.ts';
import { CloudRunExecutor } from './cloud-run.ts';
import type { RollbackExecutor } from './executor.ts';
import type { GoogleCallPolicy } from './google-call.ts';
import { createCloudDeployClient, createCloudRunClients, createMonitoringClient } from './google-clients.ts';
import { WriteQuota } from './write-quota.ts';

export interface Executors {
  byKind: Partial<Record<TargetKind, RollbackExecutor>>;
  close(): Promise<void>;
}

/**
 * One executor per target kind the policy file uses, each with real Google clients (pointed at an emulator when
 * its `*_EMULATOR_HOST` is set). Kinds no target uses get no client, so no credentials are looked up for them.
 * `observe` is told of every Google call attempt (lastgood's metrics).
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
  const closers: (() => Promise<void>)[] = [];
  // Read telemetry only for targets that judge with it: a Cloud Deploy target needs its Cloud Run `service`.
  const readsTelemetry = targets.some(
    (target) =>
      target.execution.judgement.evidence !== 'off' &&
      (target.kind === 'cloud-run' || target.service !== null),
  );
  const monitoring = readsTelemetry ? createMonitoringClient(config.emulators.monitoring) : null;
  if (monitoring !== null) closers.push(() => monitoring.close());
  if (kinds.has('cloud-run')) {
    const clients = createCloudRunClients(config.emulators.cloudRun);
    byKind['cloud-run'] = new CloudRunExecutor(clients, policy, monitoring);
    closers.push(() => clients.close());
  }
  if (kinds.has('cloud-deploy')) {
    const client = createCloudDeployClient(config.emulators.cloudDeploy);
    byKind['cloud-deploy'] = new CloudDeployExecutor(client, policy, monitoring);
    closers.push(() => client.close());
  }
  return {
    byKind,
    close: async () => {
      await Promise.all(closers.map((close) => close()));
    },
  };
}
