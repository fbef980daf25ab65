import { createRequire, findPackageJSON } from 'node:module';
import type { v1 as deploy } from '@google-cloud/deploy';
import type { v3 as monitoring } from '@google-cloud/monitoring';
import type { v2 as run } from '@google-cloud/run';
import type { v1 as secretManager } from '@google-cloud/secret-manager';
import type * as Grpc from '@grpc/grpc-js';

/** The generated client classes lastgood builds, each from the package that owns it. */
interface ClientClasses {
  ServicesClient: typeof run.ServicesClient;
  RevisionsClient: typeof run.RevisionsClient;
  CloudDeployClient: typeof deploy.CloudDeployClient;
  SecretManagerServiceClient: typeof secretManager.SecretManagerServiceClient;
  MetricServiceClient: typeof monitoring.MetricServiceClient;
}
type GoogleClientPackage =
  | '@google-cloud/run'
  | '@google-cloud/deploy'
  | '@google-cloud/secret-manager'
  | '@google-cloud/monitoring';

/**
 * Each class's own module rather than its package's index. The index also loads every other client of the API
 * (Cloud Run's eight, Monitoring's eight) and a static protobufjs module of all the API's messages, 1.2-4.2 MB of
 * source the clients never use: they build their messages from the package's `protos.json`. Skipping it changes no
 * behaviour and saves about 12 MB of resident memory with the example policy (bench/README.md, footprint). The
 * paths are the packages' layout, not a published entry point: an upgrade that moves them fails every emulator test.
 */
const CLIENT_MODULES: { [C in keyof ClientClasses]: string } = {
  ServicesClient: '@google-cloud/run/build/src/v2/services_client.js',
  RevisionsClient: '@google-cloud/run/build/src/v2/revisions_client.js',
  CloudDeployClient: '@google-cloud/deploy/build/src/v1/cloud_deploy_client.js',
  SecretManagerServiceClient: '@google-cloud/secret-manager/build/src/v1/secret_manager_service_client.js',
  MetricServiceClient: '@google-cloud/monitoring/build/src/v3/metric_service_client.js',
};

const requireHere = createRequire(import.meta.url);

/** The real `initialize` of a client `quietInitialize` changed: it rejects when the client cannot initialize. */
const REAL_INITIALIZE = Symbol('realInitialize');
type Initializable = { initialize(): Promise<unknown>; [REAL_INITIALIZE]?: () => Promise<unknown> };

/**
 * Every generated method starts with `this.initialize().catch((err) => { throw err; })` and drops that promise.
 * When the client cannot initialize (no credentials, say), each call left a rejection nobody handles, and Node
 * ends the process on one: the first rollback of a process without credentials ended it, its job taken over by
 * the next process to die the same way. The call's own promise still fails with the same error, which lastgood
 * handles and records (`GOOGLE_API_ERROR`). So the methods get an `initialize` that always settles; the warm-up,
 * which must know, asks `initialized`.
 */
function quietInitialize<T extends Initializable>(client: T): T {
  const real = client.initialize.bind(client);
  client[REAL_INITIALIZE] = real;
  client.initialize = () => real().catch(() => undefined);
  return client;
}

/** The client's stub once built; rejects when it cannot be (no credentials, say). */
function initialized(client: Initializable): Promise<unknown> {
  return client[REAL_INITIALIZE]?.() ?? client.initialize();
}

/**
 * Loads a client class the first time a client of it is built, so a process loads only those its configuration
 * uses. Each takes 100-400 ms to load and build; Secret Manager, which most deployments do not use, brings its own
 * google-gax: loading it up front cost every start about 130 ms of CPU and 12 MB of memory.
 */
function clientClass<C extends keyof ClientClasses>(name: C): ClientClasses[C] {
  return (requireHere(CLIENT_MODULES[name]) as ClientClasses)[name];
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
export function createCloudRunClients(
  emulatorHost: string | null,
  channel: ChannelSettings = DEFAULT_CHANNEL,
): CloudRunClients {
  const options = clientOptions('@google-cloud/run', emulatorHost, channel);
  const services = quietInitialize(new (clientClass('ServicesClient'))(options));
  const revisions = quietInitialize(new (clientClass('RevisionsClient'))(options));
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
export function createCloudDeployClient(
  emulatorHost: string | null,
  channel: ChannelSettings = DEFAULT_CHANNEL,
): deploy.CloudDeployClient {
  return quietInitialize(
    new (clientClass('CloudDeployClient'))(clientOptions('@google-cloud/deploy', emulatorHost, channel)),
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
  return quietInitialize(
    new (clientClass('SecretManagerServiceClient'))(
      emulatorHost ? emulatorClientOptions('@google-cloud/secret-manager', emulatorHost) : {},
    ),
  );
}

/** The client lastgood reads per-revision request counts with. */
export type MonitoringClient = Pick<monitoring.MetricServiceClient, 'listTimeSeries' | 'close'>;

/**
 * Builds the Cloud Monitoring v3 metric client that reads time series: against Google with Application Default
 * Credentials, or, given an emulator's `host:port` (`MONITORING_EMULATOR_HOST`), against `src/emulator/` in plain
 * gRPC without credentials. Close it with `close()`.
 */
export function createMonitoringClient(
  emulatorHost: string | null,
  channel: ChannelSettings = DEFAULT_CHANNEL,
): monitoring.MetricServiceClient {
  return quietInitialize(
    new (clientClass('MetricServiceClient'))(
      clientOptions('@google-cloud/monitoring', emulatorHost, channel),
    ),
  );
}

/** How a client's gRPC channels behave between calls. */
export interface ChannelSettings {
  /** grpc-js drops a channel's connection after this long without a call or a connect (its default: 30 min). */
  idleTimeoutMs: number;
}

const DEFAULT_CHANNEL: ChannelSettings = { idleTimeoutMs: 30 * 60_000 };

function clientOptions(
  clientPackage: GoogleClientPackage,
  emulatorHost: string | null,
  channel: ChannelSettings,
) {
  return {
    ...(emulatorHost ? emulatorClientOptions(clientPackage, emulatorHost) : {}),
    'grpc.client_idle_timeout_ms': channel.idleTimeoutMs,
  };
}

/** A method of a gRPC stub, as grpc-js builds it: with the codecs of its request and its answer. */
export interface StubMethod {
  requestSerialize(request: unknown): Uint8Array;
  responseSerialize(response: unknown): Uint8Array;
  responseDeserialize(bytes: Uint8Array): unknown;
}

/**
 * The method `name` of a built client's stub, whose codecs a warm-up runs without sending anything. Throws when the
 * stub is not built yet or the method has no codecs there, since the warm-up would then warm nothing.
 */
export function stubMethod(stub: Record<string, unknown> | undefined, name: string): StubMethod {
  if (stub === undefined) throw new Error('the client has no stub yet: call initialize() first');
  const found = stub[name] as Partial<StubMethod> | undefined;
  if (typeof found?.requestSerialize !== 'function' || typeof found.responseDeserialize !== 'function') {
    throw new Error(`the stub's ${name} has no codecs to warm`);
  }
  return found as StubMethod;
}

/** What warming needs of a generated gax client: its stub, its long-running operations stub, its credentials. */
interface WarmableClient {
  initialize(): Promise<unknown>;
  operationsClient?: { operationsStub: Promise<unknown> };
  auth: { getAccessToken(): Promise<unknown> };
}

/**
 * Gets a client ready for its first call, so that call takes the warm path: builds its stubs (the generated
 * client does that lazily, at the first call), opens their channels with gRPC's own connect, and, against Google,
 * fetches an access token; then makes `read`, one cheap call, because the first call of a client also pays for
 * generating its messages' encoders and decoders (60 ms of the first GetService's 65 ms on the emulator, after
 * connecting). Returns `touch`, which keeps the client warm: it counts as channel activity, so a channel touched
 * more often than its idle timeout never goes idle, and one the server dropped reconnects; against Google it
 * renews the token ahead of expiry. Fails only when the channels do not connect within `deadlineMs`.
 */
export async function warmClient(
  client: WarmableClient,
  emulated: boolean,
  deadlineMs: number,
  read: () => Promise<unknown>,
): Promise<() => Promise<void>> {
  const stubs = (await Promise.all([initialized(client), client.operationsClient?.operationsStub])).filter(
    (stub) => stub !== undefined,
  ) as Grpc.Client[];
  const token = () => (emulated ? Promise.resolve() : client.auth.getAccessToken().then(() => {}));
  const deadline = Date.now() + deadlineMs;
  await Promise.all([
    token(),
    ...stubs.map(
      (stub) =>
        new Promise<void>((resolve, reject) =>
          stub.waitForReady(deadline, (error) => (error ? reject(error) : resolve())),
        ),
    ),
  ]);
  // Whatever it answers, even NOT_FOUND or PERMISSION_DENIED, the path has been through once; a rollback that
  // meets the same error reports it itself.
  await read().catch(() => {});
  return async () => {
    for (const stub of stubs) stub.getChannel().getConnectivityState(true);
    await token();
  };
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
