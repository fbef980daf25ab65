import { invalidArgument } from './rpc-error.ts';
import { type DurationMessage, durationToMs } from './wire.ts';

/** The one metric the emulator serves, and the monitored resource it is written against. */
export const REQUEST_COUNT_METRIC = 'run.googleapis.com/request_count';
export const CLOUD_RUN_REVISION_RESOURCE = 'cloud_run_revision';

/** The labels of a request_count series, by the path filters and `groupByFields` name them with. */
export const SERIES_LABELS = [
  'resource.labels.project_id',
  'resource.labels.service_name',
  'resource.labels.revision_name',
  'resource.labels.location',
  'resource.labels.configuration_name',
  'metric.labels.response_code_class',
] as const;
export type SeriesLabel = (typeof SERIES_LABELS)[number];
export type SeriesLabels = Record<SeriesLabel, string>;

/** Google's shortest alignment period. */
const MIN_ALIGNMENT_MS = 60_000;
const FILTER_TERM = /^([a-z_.]+)\s*=\s*(?:"([^"]*)"|'([^']*)')$/;

/** A ListTimeSeries request the emulator can answer, validated. */
export interface TimeSeriesQuery {
  project: string;
  /** Label values a series must have, from the filter. */
  labels: Partial<SeriesLabels>;
  startMs: number;
  endMs: number;
  /** ALIGN_DELTA over periods of this length ending at `endMs`; null answers the raw per-minute points. */
  alignmentMs: number | null;
  /** REDUCE_SUM across series sharing these labels' values; null keeps every series apart. */
  groupBy: SeriesLabel[] | null;
  /** `view: HEADERS`: the series without their points. */
  headersOnly: boolean;
}

/** ListTimeSeries' request as the proto loader decodes it. */
export interface ListTimeSeriesRequest {
  name?: string;
  filter?: string;
  interval?: { startTime?: DurationMessage; endTime?: DurationMessage };
  aggregation?: Aggregation;
  secondaryAggregation?: Aggregation;
  orderBy?: string;
  view?: string;
  pageSize?: number;
  pageToken?: string;
}
interface Aggregation {
  alignmentPeriod?: DurationMessage;
  perSeriesAligner?: string;
  crossSeriesReducer?: string;
  groupByFields?: string[];
}

/**
 * Validates a ListTimeSeries request against what the emulator serves: Cloud Run's request_count, filtered by `=`
 * terms joined by AND, summed per period with ALIGN_DELTA and across series with REDUCE_SUM. Anything else is
 * refused with INVALID_ARGUMENT rather than answered by a guess.
 */
export function parseTimeSeriesQuery(request: ListTimeSeriesRequest): TimeSeriesQuery {
  const project = /^projects\/([^/]+)$/.exec(request.name ?? '')?.[1];
  if (!project) throw invalidArgument(`name "${request.name ?? ''}" is not like projects/PROJECT.`);
  if (request.secondaryAggregation && Object.keys(request.secondaryAggregation).length > 0) {
    throw invalidArgument('secondary_aggregation is not supported by the emulator.');
  }
  if (request.orderBy) throw invalidArgument('order_by is not supported by the emulator.');
  const { startMs, endMs } = parseInterval(request.interval);
  const { alignmentMs, groupBy } = parseAggregation(request.aggregation);
  return {
    project,
    labels: parseFilter(request.filter ?? ''),
    startMs,
    endMs,
    alignmentMs,
    groupBy,
    headersOnly: request.view === 'HEADERS',
  };
}

function parseFilter(filter: string): Partial<SeriesLabels> {
  if (!filter.trim()) throw invalidArgument('filter is required and must name metric.type.');
  const constraints = new Map<string, string>();
  for (const term of filter.trim().split(/\s+AND\s+/)) {
    const [, key = '', doubleQuoted, singleQuoted] = FILTER_TERM.exec(term.trim()) ?? [];
    const value = doubleQuoted ?? singleQuoted;
    if (value === undefined) {
      throw invalidArgument(
        `filter term "${term}" is not supported by the emulator: it takes KEY = "VALUE" terms joined by AND.`,
      );
    }
    if (constraints.has(key)) throw invalidArgument(`filter names ${key} twice.`);
    constraints.set(key, value);
  }
  const metricType = constraints.get('metric.type');
  if (metricType !== REQUEST_COUNT_METRIC) {
    throw invalidArgument(
      `filter must select metric.type = "${REQUEST_COUNT_METRIC}", the only metric the emulator serves` +
        ` (got ${metricType === undefined ? 'none' : `"${metricType}"`}).`,
    );
  }
  const resourceType = constraints.get('resource.type');
  if (resourceType !== undefined && resourceType !== CLOUD_RUN_REVISION_RESOURCE) {
    throw invalidArgument(
      `resource.type "${resourceType}" is not served; the emulator has ${CLOUD_RUN_REVISION_RESOURCE}.`,
    );
  }
  constraints.delete('metric.type');
  constraints.delete('resource.type');
  const labels: Partial<SeriesLabels> = {};
  for (const [key, value] of constraints) labels[seriesLabel(key, 'filter')] = value;
  return labels;
}

function parseInterval(interval: ListTimeSeriesRequest['interval']): { startMs: number; endMs: number } {
  if (!interval?.endTime) throw invalidArgument('interval.end_time is required.');
  if (!interval.startTime) {
    throw invalidArgument('interval.start_time is required: request_count is a DELTA metric.');
  }
  const startMs = durationToMs(interval.startTime);
  const endMs = durationToMs(interval.endTime);
  if (startMs >= endMs) throw invalidArgument('interval.start_time must be earlier than interval.end_time.');
  return { startMs, endMs };
}

function parseAggregation(aggregation: Aggregation | undefined): {
  alignmentMs: number | null;
  groupBy: SeriesLabel[] | null;
} {
  const aligner = aggregation?.perSeriesAligner ?? 'ALIGN_NONE';
  const reducer = aggregation?.crossSeriesReducer ?? 'REDUCE_NONE';
  const groupByFields = aggregation?.groupByFields ?? [];
  const alignmentMs = aggregation?.alignmentPeriod ? durationToMs(aggregation.alignmentPeriod) : null;
  if (aligner !== 'ALIGN_NONE' && aligner !== 'ALIGN_DELTA') {
    throw invalidArgument(`per_series_aligner ${aligner} is not supported by the emulator; use ALIGN_DELTA.`);
  }
  if (reducer !== 'REDUCE_NONE' && reducer !== 'REDUCE_SUM') {
    throw invalidArgument(
      `cross_series_reducer ${reducer} is not supported by the emulator; use REDUCE_SUM.`,
    );
  }
  if (aligner === 'ALIGN_NONE') {
    if (alignmentMs !== null || reducer !== 'REDUCE_NONE' || groupByFields.length > 0) {
      throw invalidArgument(
        'alignment_period, cross_series_reducer and group_by_fields need per_series_aligner.',
      );
    }
    return { alignmentMs: null, groupBy: null };
  }
  if (alignmentMs === null || alignmentMs < MIN_ALIGNMENT_MS) {
    throw invalidArgument('alignment_period must be at least 60s when per_series_aligner is set.');
  }
  if (reducer === 'REDUCE_NONE') {
    if (groupByFields.length > 0) throw invalidArgument('group_by_fields needs a cross_series_reducer.');
    return { alignmentMs, groupBy: null };
  }
  return { alignmentMs, groupBy: groupByFields.map((field) => seriesLabel(field, 'group_by_fields')) };
}

function seriesLabel(path: string, where: string): SeriesLabel {
  const label = SERIES_LABELS.find((candidate) => candidate === path);
  if (!label) {
    throw invalidArgument(
      `${where} names "${path}", which the emulator does not serve; it knows metric.type, resource.type, ` +
        `${SERIES_LABELS.join(', ')}.`,
    );
  }
  return label;
}
