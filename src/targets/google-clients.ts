import { createRequire, findPackageJSON } from 'node:module';
import type { v1 as deploy } from '@google-cloud/deploy';
import type { v3 as monitoring } from '@google-cloud/monitoring';
import type { v2 as run } from '@google-cloud/run';
import type { v1 as secretManager } from '@google-cloud/secret-manager';
import type * as Grpc from '@grpc/grpc-js';

interface ClientLibraries {
  '@google-cloud/run': typeof import('@google-cloud/run');
  '@google-cloud/deploy': typeof import('@google-cloud/deploy');
  '@google-cloud/secret-manager': typeof import('@google-cloud/secret-manager');
  '@google-cloud/monitoring': typeof import('@google-cloud/monitoring');
}
type GoogleClientPackage = keyof ClientLibraries;

const requireHere = createRequire(import.meta.url);

/**
 * Loads a client library the first time a client of it is built, so a process loads only those its configuration
 * uses. Each takes 100-400 ms to load and build; Secret Manager, which most deployments do not use, brings its own
 * google-gax: loading it up front cost every start about 130 ms of CPU and 12 MB of memory.
 */
function clientLibrary<P extends GoogleClientPackage>(name: P): ClientLibraries[P] {
  return requireHere(name) as ClientLibraries[P];
}

/** The clients lastgood uses to read and shift Cloud Run traffic. */
export interface CloudRunClients {
  services: run.ServicesClient;
  revisions: run.RevisionsClient;
  /** Closes both clients' channels. */
  close(): Promise<void>;
}

/**
 * Builds the Cloud Run Admin API v2 clients: against Google with Application Default Credentials, or, given an
 * emulator's `host:port` (`CLOUD_RUN_EMULATOR_HOST`), against `src/emulator/` in plain gRPC without credentials.
 */
export function createCloudRunClients(emulatorHost: string | null): CloudRunClients {
  const options = emulatorHost ? emulatorClientOptions('@google-cloud/run', emulatorHost) : {};
  const { v2 } = clientLibrary('@google-cloud/run');
  const services = new v2.ServicesClient(options);
  const revisions = new v2.RevisionsClient(options);
  return {
    services,
    revisions,
    close: async () => {
      await Promise.all([services.close(), revisions.close()]);
    },
  };
}

/**
 * Builds the Cloud Deploy v1 client: against Google with Application Default Credentials, or, given an emulator's
 * `host:port` (`CLOUD_DEPLOY_EMULATOR_HOST`), against `src/emulator/` in plain gRPC without credentials.
 * Close it with `close()`.
 */
export function createCloudDeployClient(emulatorHost: string | null): deploy.CloudDeployClient {
  return new (clientLibrary('@google-cloud/deploy').v1.CloudDeployClient)(
    emulatorHost ? emulatorClientOptions('@google-cloud/deploy', emulatorHost) : {},
  );
}

/**
 * Builds the Secret Manager v1 client: against Google with Application Default Credentials, or, given an
 * emulator's `host:port` (`SECRET_MANAGER_EMULATOR_HOST`), against `src/emulator/` in plain gRPC without
 * credentials. Close it with `close()`.
 */
export function createSecretManagerClient(
  emulatorHost: string | null,
): secretManager.SecretManagerServiceClient {
  return new (clientLibrary('@google-cloud/secret-manager').v1.SecretManagerServiceClient)(
    emulatorHost ? emulatorClientOptions('@google-cloud/secret-manager', emulatorHost) : {},
  );
}

/** The client lastgood reads per-revision request counts with. */
export type MonitoringClient = Pick<monitoring.MetricServiceClient, 'listTimeSeries' | 'close'>;

/**
 * Builds the Cloud Monitoring v3 metric client that reads time series: against Google with Application Default
 * Credentials, or, given an emulator's `host:port` (`MONITORING_EMULATOR_HOST`), against `src/emulator/` in plain
 * gRPC without credentials. Close it with `close()`.
 */
export function createMonitoringClient(emulatorHost: string | null): monitoring.MetricServiceClient {
  return new (clientLibrary('@google-cloud/monitoring').v3.MetricServiceClient)(
    emulatorHost ? emulatorClientOptions('@google-cloud/monitoring', emulatorHost) : {},
  );
}

/**
 * Options that point a client at an emulator without asking for Google credentials:
 * - `sslCreds` set to insecure channel credentials makes gax skip the auth library when it builds the channel.
 *   grpc-js checks them with `instanceof`, so they must come from the grpc-js that the client's own google-gax
 *   loads (the clients pin different google-gax majors, which may resolve different grpc-js copies).
 * - `universeDomain` set explicitly, because otherwise gax asks the auth library for it, which looks for
 *   credentials and, on a machine without them, probes the GCE metadata server (slow, and wrong in tests).
 */
function emulatorClientOptions(clientPackage: GoogleClientPackage, emulatorHost: string) {
  const separator = emulatorHost.lastIndexOf(':');
  const apiEndpoint = emulatorHost.slice(0, separator);
  const port = Number(emulatorHost.slice(separator + 1));
  if (separator <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new Error(`emulator host "${emulatorHost}" is not host:port`);
  }
  return {
    apiEndpoint,
    port,
    sslCreds: grpcUsedBy(clientPackage).credentials.createInsecure(),
    universeDomain: 'googleapis.com',
  };
}

function grpcUsedBy(clientPackage: GoogleClientPackage): typeof Grpc {
  const clientPackageJson = findPackageJSON(clientPackage, import.meta.url);
  const gaxPackageJson = clientPackageJson && findPackageJSON('google-gax', clientPackageJson);
  if (!gaxPackageJson) throw new Error(`cannot locate the google-gax of ${clientPackage}`);
  return createRequire(gaxPackageJson)('@grpc/grpc-js') as typeof Grpc;
}
