import { randomBytes, randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { ConcurrentTrafficChange, Fault, FaultInjector, OperationFailure } from './faults.ts';
import {
  CLOUD_RUN_SERVICE_NAME,
  type CloudRunServiceFixture,
  FixtureError,
  type TrafficTargetFixture,
} from './fixture.ts';
import type { OperationMessage, OperationStore } from './operations.ts';
import type { ApiProtos, PackedAny } from './protos.ts';
import { aborted, invalidArgument, isRpcError, notFound } from './rpc-error.ts';
import type { Scheduler } from './scheduler.ts';
import { paginate, toTimestamp } from './wire.ts';

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

const LATEST = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST';
const REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';
type AllocationType = typeof LATEST | typeof REVISION;

const LOCATION_NAME = /^projects\/([^/]+)\/locations\/([^/]+)$/;
const REVISION_NAME = /^(projects\/[^/]+\/locations\/[^/]+\/services\/[^/]+)\/revisions\/([^/]+)$/;
const TAG = /^[a-z]([-a-z0-9]{0,45}[a-z0-9])?$/;
/** Fields UpdateService changes; an empty update_mask replaces all of them, as a full PUT would. */
const UPDATABLE_FIELDS = ['traffic', 'labels', 'annotations', 'description'] as const;
type UpdatableField = (typeof UPDATABLE_FIELDS)[number];

/** A traffic target in the wire's shape: short revision name, '' for none. */
export interface TrafficTarget {
  type: AllocationType;
  revision: string;
  percent: number;
  tag: string;
}

/** Where traffic actually goes: LATEST resolved to the revision it means, and the tag's URL. */
export interface TrafficTargetStatus extends TrafficTarget {
  uri: string;
}

type ConditionState = 'CONDITION_RECONCILING' | 'CONDITION_SUCCEEDED' | 'CONDITION_FAILED';

interface RevisionRecord {
  name: string;
  shortName: string;
  uid: string;
  createTime: number;
  ready: boolean;
  failureMessage: string;
  image: string;
}

interface ServiceRecord {
  name: string;
  project: string;
  location: string;
  serviceId: string;
  uid: string;
  createTime: number;
  updateTime: number;
  generation: number;
  observedGeneration: number;
  etag: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  description: string;
  traffic: TrafficTarget[];
  trafficStatuses: TrafficTargetStatus[];
  reconciling: boolean;
  ready: { state: ConditionState; message: string; lastTransitionTime: number };
  /** Newest first, the order ListRevisions answers in. */
  revisions: RevisionRecord[];
}

/** A service as the admin endpoint and tests see it. */
export interface CloudRunServiceSnapshot {
  name: string;
  generation: number;
  observedGeneration: number;
  etag: string;
  reconciling: boolean;
  labels: Record<string, string>;
  traffic: TrafficTarget[];
  trafficStatuses: TrafficTargetStatus[];
  terminalCondition: { state: ConditionState; message: string };
  latestReadyRevision: string;
  /** Newest first. */
  revisions: { name: string; createTime: string; ready: boolean }[];
}

interface NameRequest {
  name?: string;
}
interface ListRequest {
  parent?: string;
  pageSize?: number;
  pageToken?: string;
}
interface TrafficTargetRequest {
  type?: string;
  revision?: string;
  percent?: number;
  tag?: string;
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

  /** Handlers of `google.cloud.run.v2.Services`. */
  servicesHandlers() {
    return {
      GetService: (request: NameRequest) => {
        const service = this.#requireService(request.name);
        const message = this.#serviceMessage(service);
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
        return { services: page.map((service) => this.#serviceMessage(service)), nextPageToken };
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
    service.generation += 1;
    service.observedGeneration = service.generation;
    service.etag = newEtag();
    service.updateTime = Date.now();
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

  #serviceMessage(service: ServiceRecord) {
    const latestReady = service.revisions.find((revision) => revision.ready);
    const latestCreated = service.revisions[0];
    const uri = serviceUri(service, '');
    return {
      name: service.name,
      uid: service.uid,
      generation: String(service.generation),
      labels: service.labels,
      annotations: service.annotations,
      description: service.description,
      createTime: toTimestamp(service.createTime),
      updateTime: toTimestamp(service.updateTime),
      launchStage: 'GA',
      template: { containers: latestCreated ? [{ image: latestCreated.image }] : [] },
      traffic: service.traffic,
      observedGeneration: String(service.observedGeneration),
      terminalCondition: conditionMessage('Ready', service.ready),
      latestReadyRevision: latestReady?.name ?? '',
      latestCreatedRevision: latestCreated?.name ?? '',
      trafficStatuses: service.trafficStatuses,
      uri,
      urls: [uri],
      reconciling: service.reconciling,
      etag: service.etag,
    };
  }

  #pack(service: ServiceRecord): PackedAny {
    return this.#deps.protos.pack(SERVICE_TYPE, this.#serviceMessage(service));
  }
}

function seedService(fixture: CloudRunServiceFixture, path: string): ServiceRecord {
  const [, project = '', location = '', serviceId = ''] = CLOUD_RUN_SERVICE_NAME.exec(fixture.name) ?? [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [index, revision] of fixture.revisions.entries()) {
    if (!revision.name.startsWith(`${serviceId}-`)) {
      problems.push(`${path}.revisions.${index}.name: "${revision.name}" must start with "${serviceId}-"`);
    }
    if (seen.has(revision.name))
      problems.push(`${path}.revisions.${index}.name: "${revision.name}" is repeated`);
    seen.add(revision.name);
  }
  if (problems.length > 0) throw new FixtureError(`Invalid fixture:\n  ${problems.join('\n  ')}`);

  const revisions = fixture.revisions
    .map((revision) => ({
      name: `${fixture.name}/revisions/${revision.name}`,
      shortName: revision.name,
      uid: randomUUID(),
      createTime: revision.createTime,
      ready: revision.ready,
      failureMessage: revision.failureMessage,
      image: revision.image,
    }))
    .sort(newestFirst);
  const oldest = revisions.at(-1)?.createTime ?? Date.now();
  const newest = revisions[0]?.createTime ?? oldest;
  return {
    name: fixture.name,
    project,
    location,
    serviceId,
    uid: randomUUID(),
    createTime: oldest,
    updateTime: newest,
    generation: 1,
    observedGeneration: 1,
    etag: newEtag(),
    labels: fixture.labels,
    annotations: {},
    description: '',
    traffic: [],
    trafficStatuses: [],
    reconciling: false,
    ready: { state: 'CONDITION_SUCCEEDED', message: '', lastTransitionTime: newest },
    revisions,
  };
}

function newestFirst(a: RevisionRecord, b: RevisionRecord): number {
  return b.createTime - a.createTime || b.shortName.localeCompare(a.shortName);
}

function newEtag(): string {
  return randomBytes(9).toString('base64url');
}

function fixtureTrafficToRequest(target: TrafficTargetFixture): TrafficTargetRequest {
  return {
    type: target.revision ? REVISION : LATEST,
    percent: target.percent,
    ...(target.revision ? { revision: target.revision } : {}),
    ...(target.tag ? { tag: target.tag } : {}),
  };
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

/**
 * Validates a requested traffic split the way Cloud Run does synchronously: known revisions of this service, types
 * consistent with `revision`, unique valid tags, percents adding up to 100. An empty list means 100% to LATEST.
 * Revisions may be named short (`checkout-00001-abc`, as Cloud Run answers) or in full.
 */
function resolveTraffic(service: ServiceRecord, targets: readonly TrafficTargetRequest[]): TrafficTarget[] {
  if (targets.length === 0) return [{ type: LATEST, revision: '', percent: 100, tag: '' }];
  const tags = new Set<string>();
  const resolved = targets.map((target, index): TrafficTarget => {
    const where = `traffic[${index}]`;
    const revision = target.revision ? shortRevisionName(service, target.revision, where) : '';
    const type = allocationType(target.type, revision, where);
    const percent = target.percent ?? 0;
    if (percent < 0 || percent > 100)
      throw invalidArgument(`${where}.percent must be 0 to 100, got ${percent}.`);
    const tag = target.tag ?? '';
    if (tag && !TAG.test(tag)) throw invalidArgument(`${where}.tag "${tag}" is not a valid tag.`);
    if (tag && tags.has(tag)) throw invalidArgument(`${where}.tag "${tag}" is used twice.`);
    if (tag) tags.add(tag);
    return { type, revision, percent, tag };
  });
  const total = resolved.reduce((sum, target) => sum + target.percent, 0);
  if (total !== 100)
    throw invalidArgument(`Traffic percents must add up to 100, but they add up to ${total}.`);
  return resolved;
}

function shortRevisionName(service: ServiceRecord, revision: string, where: string): string {
  const prefix = `${service.name}/revisions/`;
  if (revision.includes('/') && !revision.startsWith(prefix)) {
    throw invalidArgument(`${where}.revision "${revision}" is not a revision of ${service.name}.`);
  }
  const shortName = revision.startsWith(prefix) ? revision.slice(prefix.length) : revision;
  if (!service.revisions.some((candidate) => candidate.shortName === shortName)) {
    throw invalidArgument(`${where}.revision "${shortName}" does not exist in service ${service.serviceId}.`);
  }
  return shortName;
}

function allocationType(type: string | undefined, revision: string, where: string): AllocationType {
  if (!type || type === 'TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED') return revision ? REVISION : LATEST;
  if (type === REVISION && !revision)
    throw invalidArgument(`${where}.revision is required when type is ${REVISION}.`);
  if (type === LATEST && revision)
    throw invalidArgument(`${where}.revision must be empty when type is ${LATEST}.`);
  if (type !== REVISION && type !== LATEST) throw invalidArgument(`${where}.type "${type}" is not valid.`);
  return type;
}

/** Why traffic cannot be served, found while reconciling (not at request time), as Cloud Run reports it. */
function servingProblem(service: ServiceRecord, traffic: readonly TrafficTarget[]): OperationFailure | null {
  for (const target of traffic.filter((candidate) => candidate.percent > 0)) {
    if (target.type === LATEST && !service.revisions.some((revision) => revision.ready)) {
      return {
        code: status.FAILED_PRECONDITION,
        message: `Service ${service.serviceId} has no ready revision.`,
      };
    }
    const revision = service.revisions.find((candidate) => candidate.shortName === target.revision);
    if (target.type === REVISION && !revision?.ready) {
      return {
        code: status.FAILED_PRECONDITION,
        message: `Revision '${target.revision}' is not ready and cannot serve traffic.`,
      };
    }
  }
  return null;
}

function trafficStatuses(service: ServiceRecord): TrafficTargetStatus[] {
  const latestReady = service.revisions.find((revision) => revision.ready)?.shortName ?? '';
  return service.traffic.map((target) => ({
    ...target,
    revision: target.type === LATEST ? latestReady : target.revision,
    uri: target.tag ? serviceUri(service, target.tag) : '',
  }));
}

function serviceUri(service: ServiceRecord, tag: string): string {
  return `https://${tag ? `${tag}---` : ''}${service.serviceId}-${service.project}.${service.location}.run.app`;
}

function conditionMessage(
  type: string,
  condition: { state: ConditionState; message: string; lastTransitionTime: number },
) {
  return {
    type,
    state: condition.state,
    message: condition.message,
    lastTransitionTime: toTimestamp(condition.lastTransitionTime),
    ...(condition.state === 'CONDITION_FAILED' ? { severity: 'ERROR' } : {}),
  };
}

function revisionMessage(service: ServiceRecord, revision: RevisionRecord) {
  return {
    name: revision.name,
    uid: revision.uid,
    generation: '1',
    createTime: toTimestamp(revision.createTime),
    updateTime: toTimestamp(revision.createTime),
    launchStage: 'GA',
    service: service.name,
    containers: [{ image: revision.image }],
    conditions: [
      conditionMessage('Ready', {
        state: revision.ready ? 'CONDITION_SUCCEEDED' : 'CONDITION_FAILED',
        message: revision.ready ? '' : revision.failureMessage,
        lastTransitionTime: revision.createTime,
      }),
    ],
    observedGeneration: '1',
    reconciling: false,
  };
}

function snapshotOf(service: ServiceRecord): CloudRunServiceSnapshot {
  return {
    name: service.name,
    generation: service.generation,
    observedGeneration: service.observedGeneration,
    etag: service.etag,
    reconciling: service.reconciling,
    labels: { ...service.labels },
    traffic: service.traffic.map((target) => ({ ...target })),
    trafficStatuses: service.trafficStatuses.map((target) => ({ ...target })),
    terminalCondition: { state: service.ready.state, message: service.ready.message },
    latestReadyRevision: service.revisions.find((revision) => revision.ready)?.name ?? '',
    revisions: service.revisions.map((revision) => ({
      name: revision.shortName,
      createTime: new Date(revision.createTime).toISOString(),
      ready: revision.ready,
    })),
  };
}
