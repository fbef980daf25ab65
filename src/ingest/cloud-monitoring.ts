import { z } from 'zod';
import { parseLookbackMs } from '../domain/evidence.ts';
import type { Signal, SignalSource } from '../domain/types.ts';
import { LastgoodError } from '../errors.ts';

const SHORT = 512;
const LONG = 16_384;

const labels = z
  .record(z.string().max(SHORT), z.string().max(SHORT))
  .refine((value) => Object.keys(value).length <= 64, 'at most 64 labels');

/** Cloud Monitoring sends numbers as strings in some fields and as numbers in others; accept both. */
const numberLike = z.union([z.number(), z.string().max(64)]);

const conditionThreshold = z.looseObject({
  filter: z.string().max(LONG).optional(),
  duration: z.string().max(32).optional(),
  thresholdValue: z.number().optional(),
  comparison: z.string().max(64).optional(),
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
  started_at: z.union([z.number().int().nonnegative(), z.string().regex(/^\d{1,12}$/)]),
  ended_at: z.union([z.number().int().nonnegative(), z.string().regex(/^\d{1,12}$/), z.null()]).optional(),
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
    })
    .nullable()
    .optional(),
  metadata: z
    .looseObject({ system_labels: labels.nullable().optional(), user_labels: labels.nullable().optional() })
    .nullable()
    .optional(),
});

/** A Cloud Monitoring webhook notification: schema version 1.x, or "test" from the console's test button. */
export const cloudMonitoringPayloadSchema = z.looseObject({
  version: z.string().regex(/^(1\.\d+|test)$/, 'expected schema version 1.2 (or "test")'),
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
  if (value === null || value === undefined || value === '') return null;
  const parsed = typeof value === 'number' ? value : Number(value);
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
  const threshold = incident.condition?.conditionThreshold;
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
    conditionDurationMs: durationMs(threshold?.duration),
    lookbackMs: parseLookbackMs(threshold?.filter),
    startedAt: epochSeconds(incident.started_at),
    endedAt:
      incident.ended_at === null || incident.ended_at === undefined ? null : epochSeconds(incident.ended_at),
    targetLabel: incident.policy_user_labels?.lastgood_target ?? null,
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
    throw new LastgoodError(
      'LASTGOOD_ERR_VALIDATION',
      'The body is not a Cloud Monitoring notification (v1.2)',
      {
        details: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
      },
    );
  }
  return signalFromCloudMonitoring(parsed.data, source);
}
