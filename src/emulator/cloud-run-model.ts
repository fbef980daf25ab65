import { randomUUID } from 'node:crypto';
import {
  CLOUD_RUN_SERVICE_NAME,
  type CloudRunRevisionFixture,
  type CloudRunServiceFixture,
  FixtureError,
} from './fixture.ts';
import { newEtag } from './wire.ts';

export const LATEST = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST';
export const REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';
export type AllocationType = typeof LATEST | typeof REVISION;

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

export type ConditionState = 'CONDITION_RECONCILING' | 'CONDITION_SUCCEEDED' | 'CONDITION_FAILED';

/** A condition as the emulation keeps it; `conditionMessage` turns it into the wire's shape. */
export interface ConditionRecord {
  state: ConditionState;
  message: string;
  lastTransitionTime: number;
}

/** One revision of a service, as the emulation keeps it. */
export interface RevisionRecord {
  name: string;
  shortName: string;
  uid: string;
  createTime: number;
  ready: boolean;
  failureMessage: string;
  image: string;
}

/** One Cloud Run service with its revisions and traffic, as the emulation keeps it. */
export interface ServiceRecord {
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
  ready: ConditionRecord;
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

/**
 * Builds a service's record from its fixture, traffic not yet resolved; throws `FixtureError` when a revision's name
 * does not belong to the service or is repeated.
 */
export function seedService(fixture: CloudRunServiceFixture, path: string): ServiceRecord {
  const [, project = '', location = '', serviceId = ''] = CLOUD_RUN_SERVICE_NAME.exec(fixture.name) ?? [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [index, revision] of fixture.revisions.entries()) {
    const problem = revisionNameProblem(serviceId, revision.name, seen);
    if (problem) problems.push(`${path}.revisions.${index}.name: ${problem}`);
    seen.add(revision.name);
  }
  if (problems.length > 0) throw new FixtureError(`Invalid fixture:\n  ${problems.join('\n  ')}`);

  const revisions = fixture.revisions
    .map((revision) => revisionRecord(fixture.name, revision))
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

/** Why a revision cannot take this name in the service, or null when it can. */
export function revisionNameProblem(
  serviceId: string,
  name: string,
  taken: ReadonlySet<string>,
): string | null {
  if (!name.startsWith(`${serviceId}-`)) return `"${name}" must start with "${serviceId}-"`;
  if (taken.has(name)) return `"${name}" is repeated`;
  return null;
}

/** A revision of the named service as a fixture describes it. */
export function revisionRecord(serviceName: string, fixture: CloudRunRevisionFixture): RevisionRecord {
  return {
    name: `${serviceName}/revisions/${fixture.name}`,
    shortName: fixture.name,
    uid: randomUUID(),
    createTime: fixture.createTime,
    ready: fixture.ready,
    failureMessage: fixture.failureMessage,
    image: fixture.image,
  };
}

/** The order ListRevisions answers in. */
export function newestFirst(a: RevisionRecord, b: RevisionRecord): number {
  return b.createTime - a.createTime || b.shortName.localeCompare(a.shortName);
}

/** A copy of the service's state for the admin endpoint and tests. */
export function snapshotOf(service: ServiceRecord): CloudRunServiceSnapshot {
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
