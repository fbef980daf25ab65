/**
 * How a Cloud Run service's traffic and revisions are read, and its traffic rewritten: pure, so the executor is
 * about its Google calls.
 */
import type { google } from '@google-cloud/run/build/protos/protos.js';
import type { RevisionInfo } from '../domain/last-known-good.ts';

export type Service = google.cloud.run.v2.IService;
type TrafficTarget = google.cloud.run.v2.ITrafficTarget;
type TrafficTargetStatus = google.cloud.run.v2.ITrafficTargetStatus;

const REVISION_TYPE = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';
const LATEST_TYPE = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST';
const CONDITION_SUCCEEDED = 'CONDITION_SUCCEEDED';

/** `projects/p/locations/r/services/s/revisions/s-00001-abc` and `s-00001-abc` both name the same revision. */
export function shortName(name: string | null | undefined): string {
  return (name ?? '').split('/').pop() ?? '';
}

function isType(value: unknown, name: string): boolean {
  return value === name || value === (name === REVISION_TYPE ? 2 : 1);
}

/** Whether a Cloud Run condition state (by name or number) is CONDITION_SUCCEEDED. */
export function succeeded(state: unknown): boolean {
  return state === CONDITION_SUCCEEDED || state === 4;
}

/** How traffic actually flows: `traffic_statuses` when Cloud Run reports them, else the requested split. */
export interface TrafficSnapshot {
  etag: string;
  /** Revision receiving the largest share: the one being rolled back. */
  serving: string | null;
  /** Revision receiving 100%, if one does. */
  full: string | null;
  split: Record<string, number>;
}

/** How the service's traffic flows now. */
export function snapshotOf(service: Service): TrafficSnapshot {
  const entries: (TrafficTarget | TrafficTargetStatus)[] =
    service.trafficStatuses && service.trafficStatuses.length > 0
      ? service.trafficStatuses
      : (service.traffic ?? []);
  const split: Record<string, number> = {};
  for (const entry of entries) {
    const revision = isType(entry.type, LATEST_TYPE)
      ? shortName(service.latestReadyRevision)
      : shortName(entry.revision);
    if (!revision || !entry.percent) continue;
    split[revision] = (split[revision] ?? 0) + entry.percent;
  }
  const ranked = Object.entries(split).sort((a, b) => b[1] - a[1]);
  const top = ranked[0];
  return {
    etag: service.etag ?? '',
    serving: top ? top[0] : null,
    full: top && top[1] === 100 ? top[0] : null,
    split,
  };
}

/**
 * The new traffic list: 100% to the last known good revision. The list replaces the whole traffic block, so every
 * existing tag is carried over at 0% or it would be dropped.
 */
export function rollbackTraffic(service: Service, revision: string): TrafficTarget[] {
  const traffic: TrafficTarget[] = [{ type: REVISION_TYPE, revision, percent: 100 }];
  for (const entry of service.traffic ?? []) {
    if (!entry.tag) continue;
    const entryRevision = shortName(entry.revision);
    if (!isType(entry.type, LATEST_TYPE) && entryRevision === revision) {
      traffic[0]!.tag = entry.tag;
      continue;
    }
    traffic.push(
      isType(entry.type, LATEST_TYPE)
        ? { type: LATEST_TYPE, percent: 0, tag: entry.tag }
        : { type: REVISION_TYPE, revision: entryRevision, percent: 0, tag: entry.tag },
    );
  }
  return traffic;
}

/** A revision as the last-known-good search reads it. */
export function revisionInfo(revision: google.cloud.run.v2.IRevision): RevisionInfo {
  const ready = (revision.conditions ?? []).some((c) => c.type === 'Ready' && succeeded(c.state));
  const seconds = Number(revision.createTime?.seconds ?? 0);
  return {
    name: shortName(revision.name),
    ready,
    createdAt: new Date(seconds * 1000 + Math.floor((revision.createTime?.nanos ?? 0) / 1e6)),
  };
}
