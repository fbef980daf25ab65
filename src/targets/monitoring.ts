import type { protos } from '@google-cloud/monitoring';
import type { MinuteCount, Telemetry } from '../domain/evidence.ts';
import { allPages, callGoogleRecorded, type GoogleCallPolicy, type StepRecorder } from './google-call.ts';
import type { MonitoringClient } from './google-clients.ts';

type TimeSeries = protos.google.monitoring.v3.ITimeSeries;
type ListTimeSeriesRequest = protos.google.monitoring.v3.IListTimeSeriesRequest;

const MINUTE_MS = 60_000;

/**
 * The evidence read's own budget: a deadline of about 2 s and at most one retry, so that slow telemetry never
 * holds up a rollback the change timing alone makes obvious.
 */
export const EVIDENCE_DEADLINE_MS = 2_000;
const EVIDENCE_RETRY_DELAYS_MS = [100];

/** The Cloud Run service whose revisions are compared. */
export interface ServiceLocation {
  project: string;
  region: string;
  service: string;
}

function seconds(date: Date) {
  return { seconds: Math.floor(date.getTime() / 1000), nanos: 0 };
}

function millis(timestamp: protos.google.protobuf.ITimestamp | null | undefined): number | null {
  if (!timestamp) return null;
  return Number(timestamp.seconds ?? 0) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6);
}

/** Folds the grouped series (revision x response code class) into per-revision, per-minute counts. */
export function perRevisionMinutes(series: readonly TimeSeries[]): Record<string, MinuteCount[]> {
  const byRevision = new Map<string, Map<number, MinuteCount>>();
  for (const one of series) {
    const revision = one.resource?.labels?.revision_name;
    if (!revision) continue;
    const isError = one.metric?.labels?.response_code_class === '5xx';
    const minutes = byRevision.get(revision) ?? new Map<number, MinuteCount>();
    byRevision.set(revision, minutes);
    for (const point of one.points ?? []) {
      const end = millis(point.interval?.endTime);
      const start = millis(point.interval?.startTime) ?? (end === null ? null : end - MINUTE_MS);
      if (start === null) continue;
      const count = Number(point.value?.int64Value ?? 0);
      const minute = minutes.get(start) ?? { minuteStart: new Date(start), total: 0, errors: 0 };
      minute.total += count;
      if (isError) minute.errors += count;
      minutes.set(start, minute);
    }
  }
  const result: Record<string, MinuteCount[]> = {};
  for (const [revision, minutes] of byRevision) {
    result[revision] = [...minutes.values()].sort(
      (a, b) => a.minuteStart.getTime() - b.minuteStart.getTime(),
    );
  }
  return result;
}

/**
 * Reads a Cloud Run service's request counts per revision, per response code class and per minute, in one
 * `ListTimeSeries` call. Never throws: an error or a timeout becomes `unavailable`, an empty answer `no_data`,
 * and the judgement decides what that means.
 */
export async function readRequestCounts(
  client: MonitoringClient,
  location: ServiceLocation,
  window: { from: Date; to: Date },
  policy: GoogleCallPolicy,
  recorder: StepRecorder | null,
): Promise<Telemetry> {
  const evidencePolicy: GoogleCallPolicy = {
    ...policy,
    deadlineMs: Math.min(policy.deadlineMs, EVIDENCE_DEADLINE_MS),
    retryDelaysMs: EVIDENCE_RETRY_DELAYS_MS,
  };
  const request: ListTimeSeriesRequest = {
    name: `projects/${location.project}`,
    filter: [
      'metric.type="run.googleapis.com/request_count"',
      'resource.type="cloud_run_revision"',
      `resource.labels.service_name="${location.service}"`,
      `resource.labels.location="${location.region}"`,
    ].join(' AND '),
    interval: { startTime: seconds(window.from), endTime: seconds(window.to) },
    aggregation: {
      alignmentPeriod: { seconds: 60 },
      perSeriesAligner: 'ALIGN_DELTA' as const,
      crossSeriesReducer: 'REDUCE_SUM' as const,
      groupByFields: ['resource.labels.revision_name', 'metric.labels.response_code_class'],
    },
  };
  try {
    const series = await allPages(request, (page) =>
      callGoogleRecorded(recorder, 'ListTimeSeries', evidencePolicy, () =>
        client.listTimeSeries(page, { timeout: evidencePolicy.deadlineMs, retry: null, autoPaginate: false }),
      ),
    );
    const minutes = perRevisionMinutes(series);
    if (Object.keys(minutes).length === 0) return { status: 'no_data' };
    return { status: 'ok', from: window.from, to: window.to, series: minutes };
  } catch (error) {
    return { status: 'unavailable', message: error instanceof Error ? error.message : String(error) };
  }
}
