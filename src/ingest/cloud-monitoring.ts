import { z } from 'zod';
import { parseLookbackMs } from '../domain/evidence.ts';
import type { Signal, SignalSource } from '../domain/types.ts';
import { validationError } from '../errors.ts';

const SHORT = 512;
const LONG = 16_384;

const labels = z
  .record(z.string().max(SHORT), z.string().max(SHORT))
  .refine((value) => Object.keys(value).length <= 64, 'at most 64 labels');

/** Cloud Monitoring sends numbers as strings in some fields and as numbers in others; accept both. */
const numberLike = z.union([z.number(), z.string().max(64)]);

/**
 * A plain decimal number, as Cloud Monitoring writes `observed_value` ("18.200", "1.5e-3"). `Number()` would also
 * read "0x10", "0b10010", " 1e3 " and "+18", none of which Google sends: such a value is no usable value
 * (`MISSING_VALUE`, never acted on) rather than a guess. Not a 400: a value-less condition's text must not lose the
 * alert.
 */
export const DECIMAL_NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/** The latest second a JavaScript Date can hold: later times are invalid dates, and every check on them passes. */
export const MAX_EPOCH_SECONDS = 8_640_000_000_000;

const EPOCH_EXPECTED = `expected whole epoch seconds from 0 to ${MAX_EPOCH_SECONDS} (the range of a date)`;

/** Epoch seconds, as a whole number or its digits, within the range of a Date. */
const epochSecondsField = z.union(
  [
    z
      .number(EPOCH_EXPECTED)
      .int(EPOCH_EXPECTED)
      .min(0, EPOCH_EXPECTED)
      .max(MAX_EPOCH_SECONDS, EPOCH_EXPECTED),
    z
      .string()
      .regex(/^\d{1,13}$/, EPOCH_EXPECTED)
      .refine((text) => Number(text) <= MAX_EPOCH_SECONDS, EPOCH_EXPECTED),
  ],
  { error: EPOCH_EXPECTED },
);

const conditionThreshold = z.looseObject({
  filter: z.string().max(LONG).optional(),
  duration: z.string().max(32).optional(),
  thresholdValue: z.number().optional(),
  comparison: z.string().max(64).optional(),
});

/** An MQL or PromQL condition: of its fields lastgood reads only how long it had to hold. */
const queryCondition = z.looseObject({
  query: z.string().max(LONG).optional(),
  duration: z.string().max(32).optional(),
});

/** The `incident` object of a Cloud Monitoring webhook notification, schema version 1.2. */
export const incidentSchema = z.looseObject({
  // The dedupe key and an indexed column: PostgreSQL refuses a NUL in text, so control characters are refused here
  // (a 400) rather than failing the insert (a 500 Cloud Monitoring would retry forever). Real ids are "0.abc123".
  incident_id: z
    .string()
    .min(1)
    .max(SHORT)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's job.
    .regex(/^[^\u0000-\u001f\u007f]+$/, 'no control characters'),
  scoping_project_id: z.string().max(SHORT).optional(),
  scoping_project_number: numberLike.optional(),
  url: z.string().max(LONG).optional(),
  severity: z.string().max(64).optional(),
  started_at: epochSecondsField,
  ended_at: epochSecondsField.nullable().optional(),
  state: z
    .string()
    .transform((value) => value.toLowerCase())
    .pipe(z.enum(['open', 'closed'])),
  summary: z.string().max(LONG).optional(),
  observed_value: z.union([numberLike, z.null()]).optional(),
  threshold_value: z.union([numberLike, z.null()]).optional(),
  resource: z
    .looseObject({ type: z.string().max(SHORT).optional(), labels: labels.optional() })
    .nullable()
    .optional(),
  resource_name: z.string().max(LONG).optional(),
  policy_name: z.string().max(LONG).optional(),
  policy_user_labels: labels.nullable().optional(),
  condition_name: z.string().max(LONG).optional(),
  condition: z
    .looseObject({
      name: z.string().max(LONG).optional(),
      displayName: z.string().max(LONG).optional(),
      conditionThreshold: conditionThreshold.optional(),
      conditionMonitoringQueryLanguage: queryCondition.optional(),
      conditionPrometheusQueryLanguage: queryCondition.optional(),
    })
    .nullable()
    .optional(),
  metadata: z
    .looseObject({ system_labels: labels.nullable().optional(), user_labels: labels.nullable().optional() })
    .nullable()
    .optional(),
});

/**
 * Schema versions before 1.2 carry no labels or resource, so their alerts can never be routed to a target. Google
 * sends 1.1 when it cannot render 1.2 (and says why in an `errors` field): refused with its own code, rather than
 * accepted and silently stored as UNKNOWN_TARGET.
 */
const UNROUTABLE_VERSION = /^1\.[01]$/;

/** A Cloud Monitoring webhook notification: schema version 1.2 (or a later 1.x), or "test" from the test button. */
export const cloudMonitoringPayloadSchema = z.looseObject({
  version: z
    .string()
    .regex(/^(1\.\d+|test)$/, 'expected schema version 1.2 (or "test")')
    .refine((version) => !UNROUTABLE_VERSION.test(version), {
      error: (issue) =>
        `schema version ${String(issue.input)} is not supported: it has no labels to route by. Cloud Monitoring ` +
        "falls back to it when it cannot render 1.2 (see the notification's `errors`); fix that, or the channel's version",
      params: { code: 'LASTGOOD_ERR_UNSUPPORTED_SCHEMA' },
    }),
  incident: incidentSchema,
});

export type CloudMonitoringPayload = z.infer<typeof cloudMonitoringPayloadSchema>;

/** The normalised alert plus the key that makes a redelivery of the same notification a duplicate. */
export interface ParsedAlert {
  signal: Signal;
  /** Incident id and state: Cloud Monitoring sends each incident once open and once closed. */
  dedupeKey: string;
}

function toNumber(value: number | string | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const parsed = typeof value === 'number' ? value : DECIMAL_NUMBER.test(value) ? Number(value) : Number.NaN;
  return Number.isFinite(parsed) ? parsed : null;
}

/** Protobuf JSON durations look like "300s" or "1.5s". */
function durationMs(text: string | undefined): number {
  const match = text === undefined ? null : /^(\d+(?:\.\d+)?)s$/.exec(text);
  return match ? Math.round(Number(match[1]) * 1000) : 0;
}

function epochSeconds(value: number | string): Date {
  return new Date(Number(value) * 1000);
}

/** Turns a validated Cloud Monitoring notification into a Signal. */
export function signalFromCloudMonitoring(
  payload: CloudMonitoringPayload,
  source: SignalSource,
): ParsedAlert {
  const incident = payload.incident;
  const condition = incident.condition;
  const threshold = condition?.conditionThreshold;
  // One condition kind is set; the same burn held as long must score the same whichever kind it is.
  const heldFor =
    threshold?.duration ??
    condition?.conditionMonitoringQueryLanguage?.duration ??
    condition?.conditionPrometheusQueryLanguage?.duration;
  const signal: Signal = {
    source,
    // Stored as UTF-8, a lone surrogate becomes U+FFFD; the id (and the dedupe key made from it) must be the one
    // stored, or a redelivery would not match the first delivery's row and be inserted again.
    incidentId: incident.incident_id.toWellFormed(),
    state: incident.state,
    isTest: payload.version === 'test',
    policyName: incident.policy_name ?? '',
    conditionName: incident.condition_name ?? incident.condition?.displayName ?? '',
    observedValue: toNumber(incident.observed_value),
    thresholdValue: toNumber(incident.threshold_value) ?? threshold?.thresholdValue ?? null,
    conditionDurationMs: durationMs(heldFor),
    lookbackMs: parseLookbackMs(threshold?.filter),
    startedAt: epochSeconds(incident.started_at),
    endedAt:
      incident.ended_at === null || incident.ended_at === undefined ? null : epochSeconds(incident.ended_at),
    // The policy's label first (Terraform sets it), then the resource's own (a load balancer, a GKE workload).
    targetLabel:
      incident.policy_user_labels?.lastgood_target ?? incident.metadata?.user_labels?.lastgood_target ?? null,
    serviceName: incident.resource?.labels?.service_name ?? null,
    summary: incident.summary ?? '',
    url: incident.url ?? null,
  };
  const testMarker = signal.isTest ? 'test:' : '';
  return { signal, dedupeKey: `${testMarker}${signal.incidentId}:${signal.state}` };
}

/** Validates a parsed JSON body as a Cloud Monitoring notification; a mismatch is a 400 with the zod issues. */
export function parseCloudMonitoring(body: unknown, source: SignalSource = 'cloud-monitoring'): ParsedAlert {
  const parsed = cloudMonitoringPayloadSchema.safeParse(body);
  if (!parsed.success) {
    throw validationError('The body is not a Cloud Monitoring notification (v1.2)', parsed.error.issues);
  }
  return signalFromCloudMonitoring(parsed.data, source);
}
