import { status } from '@grpc/grpc-js';
import {
  type AllocationType,
  LATEST,
  REVISION,
  type ServiceRecord,
  type TrafficTarget,
  type TrafficTargetStatus,
} from './cloud-run-model.ts';
import type { OperationFailure } from './faults.ts';
import type { TrafficTargetFixture } from './fixture.ts';
import { invalidArgument } from './rpc-error.ts';

const TAG = /^[a-z]([-a-z0-9]{0,45}[a-z0-9])?$/;

/** A traffic target as a request carries it: every field optional, the revision short or in full. */
export interface TrafficTargetRequest {
  type?: string;
  revision?: string;
  percent?: number;
  tag?: string;
}

/** A fixture's (or a fault's) traffic target as the request that would set it. */
export function fixtureTrafficToRequest(target: TrafficTargetFixture): TrafficTargetRequest {
  return {
    type: target.revision ? REVISION : LATEST,
    percent: target.percent,
    ...(target.revision ? { revision: target.revision } : {}),
    ...(target.tag ? { tag: target.tag } : {}),
  };
}

/**
 * Validates a requested traffic split the way Cloud Run does synchronously: known revisions of this service, types
 * consistent with `revision`, unique valid tags, percents adding up to 100. An empty list means 100% to LATEST.
 * Revisions may be named short (`checkout-00001-abc`, as Cloud Run answers) or in full.
 */
export function resolveTraffic(
  service: ServiceRecord,
  targets: readonly TrafficTargetRequest[],
): TrafficTarget[] {
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
export function servingProblem(
  service: ServiceRecord,
  traffic: readonly TrafficTarget[],
): OperationFailure | null {
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

/** Where the service's traffic goes once reconciled. */
export function trafficStatuses(service: ServiceRecord): TrafficTargetStatus[] {
  const latestReady = service.revisions.find((revision) => revision.ready)?.shortName ?? '';
  return service.traffic.map((target) => ({
    ...target,
    revision: target.type === LATEST ? latestReady : target.revision,
    uri: target.tag ? serviceUri(service, target.tag) : '',
  }));
}

/** The service's URL, or a tag's. */
export function serviceUri(service: ServiceRecord, tag: string): string {
  return `https://${tag ? `${tag}---` : ''}${service.serviceId}-${service.project}.${service.location}.run.app`;
}
