import {
  CLOUD_RUN_SERVICE_NAME,
  type CloudRunServiceFixture,
  FixtureError,
  type RequestRowFixture,
} from './fixture.ts';
import {
  CLOUD_RUN_REVISION_RESOURCE,
  type ListTimeSeriesRequest,
  parseTimeSeriesQuery,
  REQUEST_COUNT_METRIC,
  SERIES_LABELS,
  type SeriesLabel,
  type SeriesLabels,
  type TimeSeriesQuery,
} from './monitoring-query.ts';
import { invalidArgument, notFound } from './rpc-error.ts';
import { paginate, toTimestamp } from './wire.ts';

/** The protos the Monitoring emulation is built from, inside `@google-cloud/monitoring` and its google-gax. */
export const MONITORING_PROTO_FILES = ['google/monitoring/v3/metric_service.proto'] as const;
export const MONITORING_METRIC_SERVICE = 'google.monitoring.v3.MetricService';

const MINUTE_MS = 60_000;

/** Requests one revision served, per minute and response code class; `to` null while it still serves. */
interface RequestRow {
  service: string;
  /** The service name's parts, parsed once rather than at every query. */
  project: string;
  location: string;
  serviceId: string;
  revision: string;
  from: number;
  to: number | null;
  perMinute: Record<string, number>;
}

/** A request row as the admin endpoint and tests see it. */
export interface RequestRowSnapshot {
  service: string;
  revision: string;
  from: string;
  to: string | null;
  perMinute: Record<string, number>;
}

/** A series under construction: its labels, and its points by the end of their interval. */
interface Series {
  labels: Partial<SeriesLabels>;
  points: Map<number, number>;
}

/** What the Monitoring emulation needs from the rest of the emulator: a service's revisions, or null. */
export interface MonitoringDeps {
  revisionsOf(service: string): string[] | null;
}

/**
 * Cloud Monitoring v3 `ListTimeSeries` for Cloud Run's `run.googleapis.com/request_count`, computed from request
 * rows (fixture `requests:` or the admin endpoint). Raw points are per minute, written only for minutes with
 * requests and only once the minute is over, as Cloud Run writes them.
 */
export class MonitoringEmulation {
  readonly #deps: MonitoringDeps;
  #rows: RequestRow[] = [];

  constructor(deps: MonitoringDeps) {
    this.#deps = deps;
  }

  /** Replaces the rows with the fixture services' `requests`; throws `FixtureError` naming an unknown revision. */
  seed(services: readonly CloudRunServiceFixture[]): void {
    const problems: string[] = [];
    const rows: RequestRow[] = [];
    services.forEach((service, index) => {
      const revisions = new Set(service.revisions.map((revision) => revision.name));
      service.requests.forEach((row, rowIndex) => {
        if (!revisions.has(row.revision)) {
          problems.push(
            `cloudRun.services.${index}.requests.${rowIndex}.revision: "${row.revision}" is not a revision of the service`,
          );
        }
        rows.push(requestRow(service.name, row));
      });
    });
    if (problems.length > 0) throw new FixtureError(`Invalid fixture:\n  ${problems.join('\n  ')}`);
    this.#rows = rows;
  }

  /** Adds request rows to a service's, or with `replace` puts them in place of its rows (admin endpoint). */
  setRequests(
    service: string,
    rows: readonly RequestRowFixture[],
    mode: 'append' | 'replace',
  ): RequestRowSnapshot[] {
    const revisions = this.#deps.revisionsOf(service);
    if (!revisions) throw notFound(`Service ${service}`);
    for (const row of rows) {
      if (!revisions.includes(row.revision)) {
        throw invalidArgument(`"${row.revision}" is not a revision of ${service}.`);
      }
    }
    if (mode === 'replace') this.#rows = this.#rows.filter((row) => row.service !== service);
    this.#rows.push(...rows.map((row) => requestRow(service, row)));
    return this.requests().filter((row) => row.service === service);
  }

  requests(): RequestRowSnapshot[] {
    return this.#rows.map((row) => ({
      service: row.service,
      revision: row.revision,
      from: new Date(row.from).toISOString(),
      to: row.to === null ? null : new Date(row.to).toISOString(),
      perMinute: { ...row.perMinute },
    }));
  }

  /** Handlers of `google.monitoring.v3.MetricService`. */
  handlers() {
    return {
      ListTimeSeries: (request: ListTimeSeriesRequest) => {
        const query = parseTimeSeriesQuery(request);
        const { alignmentMs, endMs } = query;
        let series = this.#rawSeries(query, Date.now());
        if (alignmentMs !== null) series = series.map((one) => aligned(one, endMs, alignmentMs));
        if (query.groupBy) series = reduced(series, query.groupBy);
        const sorted = series.sort((a, b) => seriesKey(a.labels).localeCompare(seriesKey(b.labels)));
        const { page, nextPageToken } = paginate(sorted, request.pageSize, request.pageToken);
        const periodMs = alignmentMs ?? MINUTE_MS;
        return {
          timeSeries: page.map((one) => timeSeriesMessage(one, query.headersOnly ? null : periodMs)),
          nextPageToken,
          executionErrors: [],
        };
      },
    };
  }

  /** One series per revision and response code class, with a point for each completed minute with requests. */
  #rawSeries(query: TimeSeriesQuery, now: number): Series[] {
    const limit = Math.min(query.endMs, now);
    const series = new Map<string, Series>();
    const wanted = query.labels;
    for (const row of this.#rows) {
      const { project, location, serviceId } = row;
      // Another service's rows, told apart before any series is built for them: a query names one service.
      if (project !== query.project || !within(serviceId, wanted['resource.labels.service_name'])) continue;
      if (!within(location, wanted['resource.labels.location'])) continue;
      for (const [codeClass, count] of Object.entries(row.perMinute)) {
        const labels: SeriesLabels = {
          'resource.labels.project_id': project,
          'resource.labels.service_name': serviceId,
          'resource.labels.revision_name': row.revision,
          'resource.labels.location': location,
          'resource.labels.configuration_name': serviceId,
          'metric.labels.response_code_class': codeClass,
        };
        if (count === 0 || project !== query.project || !matches(labels, query.labels)) continue;
        const key = seriesKey(labels);
        const one = series.get(key) ?? { labels, points: new Map<number, number>() };
        series.set(key, one);
        // Minutes that start inside the row and end inside (start, limit].
        const first = Math.max(ceilToMinute(row.from), Math.floor(query.startMs / MINUTE_MS) * MINUTE_MS);
        for (
          let minute = first;
          minute + MINUTE_MS <= limit && (row.to === null || minute < row.to);
          minute += MINUTE_MS
        ) {
          const end = minute + MINUTE_MS;
          one.points.set(end, (one.points.get(end) ?? 0) + count);
        }
      }
    }
    return [...series.values()].filter((one) => one.points.size > 0);
  }
}

function requestRow(service: string, row: RequestRowFixture): RequestRow {
  const [, project = '', location = '', serviceId = ''] = CLOUD_RUN_SERVICE_NAME.exec(service) ?? [];
  return {
    service,
    project,
    location,
    serviceId,
    revision: row.revision,
    from: row.from,
    to: row.to ?? null,
    perMinute: { ...row.perMinute },
  };
}

function ceilToMinute(epochMs: number): number {
  return Math.ceil(epochMs / MINUTE_MS) * MINUTE_MS;
}

/** Whether a label's value is the one a filter asks for, when it asks. */
function within(value: string, wanted: string | undefined): boolean {
  return wanted === undefined || value === wanted;
}

function matches(labels: SeriesLabels, wanted: Partial<SeriesLabels>): boolean {
  return Object.entries(wanted).every(([label, value]) => labels[label as SeriesLabel] === value);
}

function seriesKey(labels: Partial<SeriesLabels>): string {
  return SERIES_LABELS.map((label) => labels[label] ?? '').join('\u0000');
}

/** ALIGN_DELTA: each point summed into the period, ending at `endMs - k * periodMs`, that holds its end. */
function aligned(series: Series, endMs: number, periodMs: number): Series {
  const points = new Map<number, number>();
  for (const [end, count] of series.points) {
    const alignedEnd = endMs - Math.floor((endMs - end) / periodMs) * periodMs;
    points.set(alignedEnd, (points.get(alignedEnd) ?? 0) + count);
  }
  return { labels: series.labels, points };
}

/** REDUCE_SUM: series with the same values of the grouped labels summed point by point; other labels dropped. */
function reduced(series: readonly Series[], groupBy: readonly SeriesLabel[]): Series[] {
  const groups = new Map<string, Series>();
  for (const one of series) {
    const labels = Object.fromEntries(groupBy.map((label) => [label, one.labels[label] ?? '']));
    const key = seriesKey(labels);
    const group = groups.get(key) ?? { labels, points: new Map<number, number>() };
    groups.set(key, group);
    for (const [end, count] of one.points) group.points.set(end, (group.points.get(end) ?? 0) + count);
  }
  return [...groups.values()];
}

/**
 * A point's time as a Timestamp whose int64 seconds are a number, not `toTimestamp`'s string: the same bytes on the
 * wire, and protobufjs encodes a number without parsing it into a Long (an answer of 178 points: 0.35 -> 0.21 ms).
 */
function pointTime(epochMs: number) {
  const { seconds, nanos } = toTimestamp(epochMs);
  return { seconds: Number(seconds), nanos };
}

/** A `google.monitoring.v3.TimeSeries`, points newest first as Google answers; `periodMs` null for HEADERS. */
function timeSeriesMessage(series: Series, periodMs: number | null) {
  const labelsUnder = (prefix: string) =>
    Object.fromEntries(
      Object.entries(series.labels)
        .filter(([label]) => label.startsWith(prefix))
        .map(([label, value]) => [label.slice(prefix.length), value]),
    );
  const ends = [...series.points.keys()].sort((a, b) => b - a);
  return {
    metric: { type: REQUEST_COUNT_METRIC, labels: labelsUnder('metric.labels.') },
    resource: { type: CLOUD_RUN_REVISION_RESOURCE, labels: labelsUnder('resource.labels.') },
    metricKind: 'DELTA',
    valueType: 'INT64',
    unit: '1',
    points:
      periodMs === null
        ? []
        : ends.map((end) => ({
            interval: { startTime: pointTime(end - periodMs), endTime: pointTime(end) },
            value: { int64Value: series.points.get(end) },
          })),
  };
}
