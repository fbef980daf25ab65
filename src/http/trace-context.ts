import type { IncomingHttpHeaders } from 'node:http';

/** A request's trace, as Cloud Trace and Cloud Logging name it: 32 hex digits, a 16-hex-digit span, sampled or not. */
export interface TraceContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

/** W3C Trace Context: `version-traceid-parentid-flags`; an all-zero trace or span id is invalid. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
/** Google's older header: `TRACE_ID/SPAN_ID;o=OPTIONS`, the span id in decimal. */
const CLOUD_TRACE_CONTEXT = /^([0-9a-f]{32})\/(\d{1,20})(?:;o=([01]))?$/;

function header(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  return typeof value === 'string' ? value.trim().toLowerCase() : null;
}

/**
 * The trace a request belongs to, from `traceparent` (preferred: Cloud Run's front end sets it) or else
 * `X-Cloud-Trace-Context`; null when neither is there or well formed, so a malformed header never reaches a log.
 */
export function traceContextOf(headers: IncomingHttpHeaders): TraceContext | null {
  const traceparent = TRACEPARENT.exec(header(headers, 'traceparent') ?? '');
  if (
    traceparent &&
    traceparent[1] !== 'ff' &&
    !/^0+$/.test(traceparent[2]!) &&
    !/^0+$/.test(traceparent[3]!)
  ) {
    return {
      traceId: traceparent[2]!,
      spanId: traceparent[3]!,
      sampled: (Number.parseInt(traceparent[4]!, 16) & 1) === 1,
    };
  }
  const cloud = CLOUD_TRACE_CONTEXT.exec(header(headers, 'x-cloud-trace-context') ?? '');
  if (!cloud || /^0+$/.test(cloud[1]!)) return null;
  const span = BigInt(cloud[2]!);
  if (span === 0n || span > 0xffff_ffff_ffff_ffffn) return null;
  return { traceId: cloud[1]!, spanId: span.toString(16).padStart(16, '0'), sampled: cloud[3] === '1' };
}

/**
 * The fields Cloud Logging reads a log entry's trace from, for a request's child logger. Empty without a project:
 * the trace field must name the project the trace is in.
 */
export function traceLogFields(
  headers: IncomingHttpHeaders,
  project: string | null,
): Record<string, string | boolean> {
  const trace = project === null ? null : traceContextOf(headers);
  if (trace === null) return {};
  return {
    'logging.googleapis.com/trace': `projects/${project}/traces/${trace.traceId}`,
    'logging.googleapis.com/spanId': trace.spanId,
    'logging.googleapis.com/trace_sampled': trace.sampled,
  };
}
