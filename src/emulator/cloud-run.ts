import { revisionMessage, serviceMessage } from './cloud-run-messages.ts';
import {
  type CloudRunServiceSnapshot,
  newestFirst,
  revisionNameProblem,
  revisionRecord,
  type ServiceRecord,
  seedService,
  snapshotOf,
  type TrafficTarget,
} from './cloud-run-model.ts';
import {
  fixtureTrafficToRequest,
  resolveTraffic,
  servingProblem,
  type TrafficTargetRequest,
  trafficStatuses,
} from './cloud-run-traffic.ts';
import type { ConcurrentTrafficChange, Fault, FaultInjector, OperationFailure } from './faults.ts';
import {
  CLOUD_RUN_SERVICE_NAME,
  type CloudRunRevisionFixture,
  type CloudRunServiceFixture,
  FixtureError,
  type TrafficTargetFixture,
} from './fixture.ts';
import type { OperationMessage, OperationStore } from './operations.ts';
import type { ApiProtos, PackedAny } from './protos.ts';
import {
  aborted,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  isRpcError,
  notFound,
} from './rpc-error.ts';
import type { Scheduler } from './scheduler.ts';
import { newEtag, paginate } from './wire.ts';

/** The protos the Cloud Run emulation is built from, inside `@google-cloud/run` and its google-gax. */
export const CLOUD_RUN_PROTO_FILES = [
  'google/cloud/run/v2/service.proto',
  'google/cloud/run/v2/revision.proto',
  'google/longrunning/operations.proto',
] as const;
export const CLOUD_RUN_SERVICES = 'google.cloud.run.v2.Services';
export const CLOUD_RUN_REVISIONS = 'google.cloud.run.v2.Revisions';
/** UpdateService's operation carries a Service both as `response` and as `metadata` (see service.proto). */
const SERVICE_TYPE = 'google.cloud.run.v2.Service';

const LOCATION_NAME = /^projects\/([^/]+)\/locations\/([^/]+)$/;
const REVISION_NAME = /^(projects\/[^/]+\/locations\/[^/]+\/services\/[^/]+)\/revisions\/([^/]+)$/;
/** Fields UpdateService changes; an empty update_mask replaces all of them, as a full PUT would. */
const UPDATABLE_FIELDS = ['traffic', 'labels', 'annotations', 'description'] as const;
type UpdatableField = (typeof UPDATABLE_FIELDS)[number];

interface NameRequest {
  name?: string;
}
interface ListRequest {
  parent?: string;
  pageSize?: number;
  pageToken?: string;
}
interface UpdateServiceRequest {
  service?: {
    name?: string;
    etag?: string;
    traffic?: TrafficTargetRequest[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    description?: string;
  };
  updateMask?: { paths?: string[] };
  validateOnly?: boolean;
}

/** What the Cloud Run emulation needs from the rest of the emulator. */
export interface CloudRunDeps {
  protos: ApiProtos;
  operations: OperationStore;
  faults: FaultInjector;
  scheduler: Scheduler;
  /** How long an UpdateService operation reconciles before it is done. */
  operationDelayMs: number;
}

/**
 * Cloud Run Admin API v2, stateful: services with revisions and traffic. UpdateService reconciles like the real
 * thing: the operation and the service's `reconciling` flag stay on for `operationDelayMs`, then `traffic_statuses`
 * follow the new traffic, or the operation fails and the previous traffic stays.
 */
export class CloudRunEmulation {
  readonly #deps: CloudRunDeps;
  #services = new Map<string, ServiceRecord>();

  constructor(deps: CloudRunDeps) {
    this.#deps = deps;
    deps.faults.addValidator((fault) => this.#checkFault(fault));
  }

  /** Replaces the state with the fixture's services; throws `FixtureError` when a reference does not resolve. */
  seed(fixtures: readonly CloudRunServiceFixture[]): void {
    const services = new Map<string, ServiceRecord>();
    fixtures.forEach((fixture, index) => {
      const service = seedService(fixture, `cloudRun.services.${index}`);
      try {
        service.traffic = resolveTraffic(service, fixture.traffic.map(fixtureTrafficToRequest));
        const problem = servingProblem(service, service.traffic);
        if (problem) throw invalidArgument(problem.message);
      } catch (error) {
        if (!isRpcError(error)) throw error;
        throw new FixtureError(`Invalid fixture:\n  cloudRun.services.${index}.traffic: ${error.message}`);
      }
      service.trafficStatuses = trafficStatuses(service);
      services.set(service.name, service);
    });
    this.#services = services;
  }

  /** The service's current state, or null when it does not exist. */
  service(name: string): CloudRunServiceSnapshot | null {
    const service = this.#services.get(name);
    return service ? snapshotOf(service) : null;
  }

  services(): CloudRunServiceSnapshot[] {
    return [...this.#services.values()].map(snapshotOf);
  }

  /** Sets the service's traffic at once, as a change from outside lastgood would (admin endpoint). */
  setTraffic(name: string, traffic: readonly TrafficTargetFixture[]): CloudRunServiceSnapshot {
    const service = this.#requireService(name);
    const resolved = resolveTraffic(service, traffic.map(fixtureTrafficToRequest));
    const problem = servingProblem(service, resolved);
    if (problem) throw failedPrecondition(problem.message);
    service.traffic = resolved;
    service.trafficStatuses = trafficStatuses(service);
    landChange(service);
    return snapshotOf(service);
  }

  /** Adds a revision, e.g. a canary created minutes ago; traffic to LATEST follows it once it is ready (admin). */
  createRevision(name: string, fixture: CloudRunRevisionFixture): CloudRunServiceSnapshot {
    const service = this.#requireService(name);
    const taken = new Set(service.revisions.map((revision) => revision.shortName));
    if (taken.has(fixture.name))
      throw alreadyExists(`Revision ${fixture.name} already exists in ${service.name}.`);
    const problem = revisionNameProblem(service.serviceId, fixture.name, taken);
    if (problem) throw invalidArgument(`Revision name ${problem}.`);
    service.revisions.push(revisionRecord(service.name, fixture));
    service.revisions.sort(newestFirst);
    service.trafficStatuses = trafficStatuses(service);
    landChange(service);
    return snapshotOf(service);
  }

  /** Handlers of `google.cloud.run.v2.Services`. */
  servicesHandlers() {
    return {
      GetService: (request: NameRequest) => {
        const service = this.#requireService(request.name);
        const message = serviceMessage(service);
        const change = this.#deps.faults.takeConcurrentTrafficChange(service.name);
        if (change) this.#applyConcurrentChange(service, change);
        return message;
      },
      ListServices: (request: ListRequest) => {
        const [, project, location] = LOCATION_NAME.exec(request.parent ?? '') ?? [];
        if (!project || !location) {
          throw invalidArgument(
            `parent "${request.parent ?? ''}" is not like projects/PROJECT/locations/REGION.`,
          );
        }
        const services = [...this.#services.values()]
          .filter(
            (service) => service.project === project && (location === '-' || service.location === location),
          )
          .sort((a, b) => a.name.localeCompare(b.name));
        const { page, nextPageToken } = paginate(services, request.pageSize, request.pageToken);
        return { services: page.map((service) => serviceMessage(service)), nextPageToken };
      },
      UpdateService: (request: UpdateServiceRequest) => this.#updateService(request),
    };
  }

  /** Handlers of `google.cloud.run.v2.Revisions`. */
  revisionsHandlers() {
    return {
      GetRevision: (request: NameRequest) => {
        const [, serviceName] = REVISION_NAME.exec(request.name ?? '') ?? [];
        if (!serviceName) {
          throw invalidArgument(
            `name "${request.name ?? ''}" is not like projects/P/locations/L/services/S/revisions/R.`,
          );
        }
        const service = this.#requireService(serviceName);
        const revision = service.revisions.find((candidate) => candidate.name === request.name);
        if (!revision) throw notFound(`Revision ${request.name}`);
        return revisionMessage(service, revision);
      },
      ListRevisions: (request: ListRequest) => {
        const service = this.#requireService(request.parent);
        const { page, nextPageToken } = paginate(service.revisions, request.pageSize, request.pageToken);
        return { revisions: page.map((revision) => revisionMessage(service, revision)), nextPageToken };
      },
    };
  }

  #updateService(request: UpdateServiceRequest): OperationMessage {
    const incoming = request.service;
    if (!incoming?.name) throw invalidArgument('service.name is required.');
    const service = this.#requireService(incoming.name);
    if (incoming.etag && incoming.etag !== service.etag) {
      throw aborted(
        `The service ${service.name} changed since it was read: etag "${incoming.etag}" is stale ` +
          `(current "${service.etag}"). Read it again and retry.`,
      );
    }
    const fields = updatedFields(request.updateMask?.paths ?? []);
    const traffic = fields.has('traffic') ? resolveTraffic(service, incoming.traffic ?? []) : service.traffic;
    const change = {
      traffic,
      labels: fields.has('labels') ? { ...incoming.labels } : service.labels,
      annotations: fields.has('annotations') ? { ...incoming.annotations } : service.annotations,
      description: fields.has('description') ? (incoming.description ?? '') : service.description,
    };
    const parent = `projects/${service.project}/locations/${service.location}`;
    if (request.validateOnly) {
      const preview = this.#pack({ ...service, ...change });
      return this.#deps.operations.completed(parent, preview, { response: preview });
    }

    const previousTraffic = service.traffic;
    const now = Date.now();
    Object.assign(service, change, {
      generation: service.generation + 1,
      etag: newEtag(),
      updateTime: now,
      reconciling: true,
      ready: { state: 'CONDITION_RECONCILING', message: 'Routing traffic.', lastTransitionTime: now },
    });
    const failure = this.#deps.faults.takeOperationFailure('UpdateService');
    const operation = this.#deps.operations.start(parent, this.#pack(service));
    const generation = service.generation;
    this.#deps.scheduler.after(this.#deps.operationDelayMs, () =>
      this.#finishReconciling(service, operation.name, generation, previousTraffic, failure),
    );
    return operation;
  }

  #finishReconciling(
    service: ServiceRecord,
    operationName: string,
    generation: number,
    previousTraffic: TrafficTarget[],
    injectedFailure: OperationFailure | null,
  ): void {
    // A later update owns the service's reconciliation now; this operation just reports where things stand.
    if (service.generation !== generation) {
      const current = this.#pack(service);
      this.#deps.operations.finish(operationName, { response: current }, current);
      return;
    }
    const failure = injectedFailure ?? servingProblem(service, service.traffic);
    const now = Date.now();
    service.reconciling = false;
    service.observedGeneration = generation;
    if (failure) {
      service.traffic = previousTraffic;
      service.ready = { state: 'CONDITION_FAILED', message: failure.message, lastTransitionTime: now };
      this.#deps.operations.finish(operationName, { error: failure }, this.#pack(service));
      return;
    }
    service.trafficStatuses = trafficStatuses(service);
    service.ready = { state: 'CONDITION_SUCCEEDED', message: '', lastTransitionTime: now };
    const done = this.#pack(service);
    this.#deps.operations.finish(operationName, { response: done }, done);
  }

  /** Someone else's change lands at once (no operation to wait for) and moves the etag on. */
  #applyConcurrentChange(service: ServiceRecord, change: ConcurrentTrafficChange): void {
    if (change.traffic) {
      service.traffic = resolveTraffic(service, change.traffic.map(fixtureTrafficToRequest));
      service.trafficStatuses = trafficStatuses(service);
    } else {
      service.labels = { ...service.labels, 'changed-by': 'someone-else' };
    }
    landChange(service);
  }

  #checkFault(fault: Fault): void {
    if (fault.kind !== 'concurrent-traffic-change') return;
    const service = this.#requireService(fault.service);
    if (!fault.traffic) return;
    const problem = servingProblem(
      service,
      resolveTraffic(service, fault.traffic.map(fixtureTrafficToRequest)),
    );
    if (problem) throw invalidArgument(problem.message);
  }

  #requireService(name: string | undefined): ServiceRecord {
    if (!name || !CLOUD_RUN_SERVICE_NAME.test(name)) {
      throw invalidArgument(`"${name ?? ''}" is not a service name like projects/P/locations/L/services/S.`);
    }
    const service = this.#services.get(name);
    if (!service) throw notFound(`Service ${name}`);
    return service;
  }

  #pack(service: ServiceRecord): PackedAny {
    return this.#deps.protos.pack(SERVICE_TYPE, serviceMessage(service));
  }
}

/** A change made outside UpdateService lands at once (no operation to wait for) and moves the etag on. */
function landChange(service: ServiceRecord): void {
  service.generation += 1;
  service.observedGeneration = service.generation;
  service.etag = newEtag();
  service.updateTime = Date.now();
}

function updatedFields(paths: readonly string[]): Set<UpdatableField> {
  if (paths.length === 0 || paths.includes('*')) return new Set(UPDATABLE_FIELDS);
  return new Set(
    paths.map((path) => {
      const field = UPDATABLE_FIELDS.find((candidate) => candidate === path);
      if (!field) {
        throw invalidArgument(
          `update_mask path "${path}" is not supported by the emulator; it updates ${UPDATABLE_FIELDS.join(', ')}.`,
        );
      }
      return field;
    }),
  );
}
