import { Server, ServerCredentials } from '@grpc/grpc-js';
import { type AdminServer, startAdminServer } from './admin-http.ts';
import { CallLog, type CallRecord } from './call-log.ts';
import { CLOUD_DEPLOY_PROTO_FILES, CLOUD_DEPLOY_SERVICE, CloudDeployEmulation } from './cloud-deploy.ts';
import type { CloudDeployPipelineSnapshot } from './cloud-deploy-model.ts';
import {
  CLOUD_RUN_PROTO_FILES,
  CLOUD_RUN_REVISIONS,
  CLOUD_RUN_SERVICES,
  CloudRunEmulation,
} from './cloud-run.ts';
import type { CloudRunServiceSnapshot } from './cloud-run-model.ts';
import { createControl, type EmulatorControl } from './control.ts';
import { type Fault, FaultInjector, type FaultSpec } from './faults.ts';
import { type EmulatorFixture, parseFixture } from './fixture.ts';
import { implementService, stampArrival, type UnaryHandler } from './grpc-service.ts';
import {
  MONITORING_METRIC_SERVICE,
  MONITORING_PROTO_FILES,
  MonitoringEmulation,
  type RequestRowSnapshot,
} from './monitoring.ts';
import { type OperationSnapshot, OperationStore, operationsHandlers } from './operations.ts';
import { type ApiProtos, loadApiProtos } from './protos.ts';
import { Scheduler } from './scheduler.ts';
import {
  SECRET_MANAGER_PROTO_FILES,
  SECRET_MANAGER_SERVICE,
  SecretManagerEmulation,
  type SecretSnapshot,
} from './secret-manager.ts';

const OPERATIONS_SERVICE = 'google.longrunning.Operations';

/** How to start the emulator. Every field is optional. */
export interface EmulatorOptions {
  /** gRPC port; 0 (the default) picks a free one. */
  port?: number;
  /** Admin HTTP port; 0 (the default) picks a free one, null serves no admin endpoint. */
  adminPort?: number | null;
  /** The address both servers listen on; default 127.0.0.1. */
  bindHost?: string;
  /** The seed state; default empty. Load a file with `loadFixtureFile`. */
  fixture?: EmulatorFixture;
  /** How long UpdateService and UpdateDeliveryPipeline operations run before they are done; default 30 ms. */
  operationDelayMs?: number;
  /** How long a rollout created by RollbackTarget stays PENDING, and then IN_PROGRESS; default 50 ms. */
  rolloutPhaseDelayMs?: number;
}

/** The emulated resources, read-only, in the shape the admin endpoint serves them. */
export interface EmulatorState {
  cloudRun: {
    /** A Cloud Run service by full name, or null. */
    service(name: string): CloudRunServiceSnapshot | null;
    services(): CloudRunServiceSnapshot[];
  };
  cloudDeploy: {
    /** A delivery pipeline by full name, with its releases, rollouts and what runs on each target; or null. */
    pipeline(name: string): CloudDeployPipelineSnapshot | null;
    pipelines(): CloudDeployPipelineSnapshot[];
  };
  secretManager: {
    /** A secret by full name with its versions newest first (sizes, never payloads); or null. */
    secret(name: string): SecretSnapshot | null;
    secrets(): SecretSnapshot[];
  };
  monitoring: {
    /** The request rows Cloud Monitoring's request_count series are computed from. */
    requests(): RequestRowSnapshot[];
  };
  operations(): OperationSnapshot[];
  /** Everything at once, as `GET /state` answers. */
  snapshot(): EmulatorSnapshot;
}

export interface EmulatorSnapshot {
  cloudRun: { services: CloudRunServiceSnapshot[] };
  cloudDeploy: { pipelines: CloudDeployPipelineSnapshot[] };
  secretManager: { secrets: SecretSnapshot[] };
  monitoring: { requests: RequestRowSnapshot[] };
  operations: OperationSnapshot[];
}

/** Fault injection; see `FaultSpec` for the kinds of faults. */
export interface EmulatorFaults {
  /** Arms a fault; throws an `RpcError` (INVALID_ARGUMENT or NOT_FOUND) when it does not fit the state. */
  inject(spec: FaultSpec): Fault;
  /** The faults not yet consumed. */
  active(): Fault[];
  clear(): void;
}

/** The log of every RPC received. */
export interface EmulatorCalls {
  list(filter?: { method?: string }): CallRecord[];
  count(method: string): number;
  clear(): void;
}

/** A running emulator. */
export interface Emulator {
  /**
   * `127.0.0.1:PORT` of the gRPC server, serving every emulated API: the value for `CLOUD_RUN_EMULATOR_HOST`,
   * `CLOUD_DEPLOY_EMULATOR_HOST`, `SECRET_MANAGER_EMULATOR_HOST`, `MONITORING_EMULATOR_HOST` and the client
   * factories.
   */
  host: string;
  port: number;
  /** `http://127.0.0.1:PORT` of the admin endpoint, or null when it was not started. */
  adminUrl: string | null;
  state: EmulatorState;
  faults: EmulatorFaults;
  calls: EmulatorCalls;
  /** Changes from outside lastgood: releases and rollouts, revisions and traffic, request series. */
  control: EmulatorControl;
  /**
   * Answers again, `rounds` times each, every read (a Get or List method) it has logged, building and encoding the
   * answers and sending nothing. Google's servers answer warm; a fresh emulator builds its second answer of a kind
   * with cold code (in the demo, ListTimeSeries over two hours took 3.3-4.7 ms against under 1 ms warm), and the
   * first alert's timing would show that rather than lastgood's. Leaves the call log, faults and state as they were.
   */
  warm(rounds: number): Promise<void>;
  /** Puts the state back to the fixture and clears faults, the call log and operations. */
  reset(): void;
  /** Stops both servers; in-flight calls are cancelled. */
  stop(): Promise<void>;
}

/**
 * Starts the gRPC emulator of the Google APIs lastgood calls (Cloud Run Admin v2, Cloud Deploy v1, Secret Manager
 * v1, Cloud Monitoring v3's ListTimeSeries, and the long-running operations), all on one port, and its admin endpoint. The real `@google-cloud/*`
 * clients talk to it; see `src/targets/google-clients.ts`.
 *
 * @example
 * const emu = await startEmulator({ fixture: await loadFixtureFile('examples/emulator-fixture.yaml') });
 * const { services } = createCloudRunClients(emu.host);
 * emu.faults.inject({ kind: 'unavailable', method: 'UpdateService', times: 2 });
 * await emu.stop();
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const fixtureInput = options.fixture ?? {};
  const bindHost = options.bindHost ?? '127.0.0.1';
  const calls = new CallLog();
  const faults = new FaultInjector();
  const scheduler = new Scheduler();
  const operations = new OperationStore();
  const runtime = { calls, faults };

  const runProtos = loadApiProtos('@google-cloud/run', CLOUD_RUN_PROTO_FILES);
  const cloudRun = new CloudRunEmulation({
    protos: runProtos,
    operations,
    faults,
    scheduler,
    operationDelayMs: options.operationDelayMs ?? 30,
  });
  const deployProtos = loadApiProtos('@google-cloud/deploy', CLOUD_DEPLOY_PROTO_FILES);
  const cloudDeploy = new CloudDeployEmulation({
    protos: deployProtos,
    operations,
    faults,
    scheduler,
    operationDelayMs: options.operationDelayMs ?? 30,
    rolloutPhaseDelayMs: options.rolloutPhaseDelayMs ?? 50,
  });
  const secretManager = new SecretManagerEmulation();
  const monitoring = new MonitoringEmulation({
    revisionsOf: (name) => cloudRun.service(name)?.revisions.map((revision) => revision.name) ?? null,
  });
  const control = createControl({ cloudRun, cloudDeploy, monitoring });

  const server = new Server({ interceptors: [stampArrival] });
  /** Each read method's handler and answer encoder, for `warm`. */
  const reads = new Map<string, { handler: UnaryHandler; encode(answer: unknown): Buffer }>();
  const serve = (protos: ApiProtos, serviceName: string, handlers: Record<string, UnaryHandler>) => {
    faults.registerMethods(Object.keys(handlers));
    const definition = protos.service(serviceName);
    server.addService(definition, implementService(runtime, serviceName, handlers));
    for (const [method, handler] of Object.entries(handlers)) {
      const encode = definition[method]?.responseSerialize;
      if (/^(Get|List)/.test(method) && encode !== undefined) reads.set(method, { handler, encode });
    }
  };
  serve(runProtos, CLOUD_RUN_SERVICES, cloudRun.servicesHandlers());
  serve(runProtos, CLOUD_RUN_REVISIONS, cloudRun.revisionsHandlers());
  serve(deployProtos, CLOUD_DEPLOY_SERVICE, cloudDeploy.handlers());
  serve(
    loadApiProtos('@google-cloud/secret-manager', SECRET_MANAGER_PROTO_FILES),
    SECRET_MANAGER_SERVICE,
    secretManager.handlers(),
  );
  serve(
    loadApiProtos('@google-cloud/monitoring', MONITORING_PROTO_FILES),
    MONITORING_METRIC_SERVICE,
    monitoring.handlers(),
  );
  // One Operations service answers for every API: their operation names never collide.
  serve(runProtos, OPERATIONS_SERVICE, operationsHandlers(operations));

  // Parsed at every seed: the fixture's relative times count from the moment it is seeded (start, reset).
  const seed = () => {
    const fixture = parseFixture(fixtureInput, 'fixture', Date.now());
    cloudRun.seed(fixture.cloudRun.services);
    cloudDeploy.seed(fixture.cloudDeploy);
    secretManager.seed(fixture.secretManager.secrets);
    monitoring.seed(fixture.cloudRun.services);
  };
  const reset = () => {
    scheduler.cancelAll();
    operations.clear();
    seed();
    faults.clear();
    calls.clear();
  };
  seed();

  const state: EmulatorState = {
    cloudRun: { service: (name) => cloudRun.service(name), services: () => cloudRun.services() },
    cloudDeploy: { pipeline: (name) => cloudDeploy.pipeline(name), pipelines: () => cloudDeploy.pipelines() },
    secretManager: { secret: (name) => secretManager.secret(name), secrets: () => secretManager.secrets() },
    monitoring: { requests: () => monitoring.requests() },
    operations: () => operations.snapshot(),
    snapshot: () => ({
      cloudRun: { services: cloudRun.services() },
      cloudDeploy: { pipelines: cloudDeploy.pipelines() },
      secretManager: { secrets: secretManager.secrets() },
      monitoring: { requests: monitoring.requests() },
      operations: operations.snapshot(),
    }),
  };

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${bindHost}:${options.port ?? 0}`,
      ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    );
  });
  let admin: AdminServer | null = null;
  try {
    if (options.adminPort !== null) {
      admin = await startAdminServer(
        { state, calls, faults, control, reset },
        bindHost,
        options.adminPort ?? 0,
      );
    }
  } catch (error) {
    server.forceShutdown();
    throw error;
  }

  return {
    host: `${bindHost}:${port}`,
    port,
    adminUrl: admin?.url ?? null,
    state,
    faults,
    calls,
    control,
    async warm(rounds) {
      const logged = calls.list().flatMap((call) => {
        const read = reads.get(call.method);
        return read === undefined ? [] : [{ read, request: call.request }];
      });
      for (let round = 0; round < rounds; round++) {
        for (const { read, request } of logged) {
          // A read that was refused (NOT_FOUND, a bad filter) is refused again: there is no answer to encode.
          const answer = await Promise.resolve()
            .then(() => read.handler(request as never))
            .catch(() => undefined);
          if (answer !== undefined) read.encode(answer);
        }
      }
    },
    reset,
    async stop() {
      scheduler.cancelAll();
      operations.clear();
      // Held answers would keep their timers, and with them the process, alive after the server is gone.
      faults.clear();
      await admin?.close();
      // Clients keep their channels open; a graceful shutdown would wait for them, so in-flight calls are cut.
      server.forceShutdown();
    },
  };
}
