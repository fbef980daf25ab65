import { type DestinationStream, type Logger, type LoggerOptions as PinoOptions, pino } from 'pino';
import type { Config } from './config/types.ts';

/** Query parameter names that carry credentials: Cloud Monitoring's token-auth channel puts the token in the URL. */
const SECRET_PARAMS = new Set(['auth_token', 'token', 'access_token', 'key']);

/** Decodes a query parameter name as the query parser does (`+` is a space); undecodable text stays as it is. */
function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return name.toLowerCase();
  }
}

/**
 * Replaces credential values in a URL's query string, so a request log line never carries a token. Names are
 * compared decoded, as the query parser reads them: `?auth%5Ftoken=` authenticates, so it is redacted too. `;`
 * separates parameters as well as `&`, and anything after a `;` in the path is dropped.
 */
export function redactUrl(url: string): string {
  const queryAt = url.indexOf('?');
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  const semicolon = rawPath.indexOf(';');
  const path = semicolon === -1 ? rawPath : `${rawPath.slice(0, semicolon)};[REDACTED]`;
  if (queryAt === -1) return path;
  const query = url
    .slice(queryAt + 1)
    .split(/([&;])/)
    .map((part) => {
      const equals = part.indexOf('=');
      if (equals === -1 || !SECRET_PARAMS.has(decodedName(part.slice(0, equals)))) return part;
      return `${part.slice(0, equals)}=[REDACTED]`;
    });
  return `${path}?${query.join('')}`;
}

interface LoggedRequest {
  method: string;
  url: string;
  ip?: string;
  headers?: Record<string, unknown>;
}

/** The `@type` that makes Error Reporting take a log entry as an error event, with or without a stack trace. */
export const REPORTED_ERROR_EVENT =
  'type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent';

/** Cloud Logging's key for an entry's user-defined labels: indexed, and filterable as `labels.KEY`. */
export const LOG_LABELS_KEY = 'logging.googleapis.com/labels';

/** pino's levels as Cloud Logging's severities. */
const SEVERITIES: Readonly<Record<string, string>> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

/** pino's level number for `error`: lines at or above it are Error Reporting events. */
const ERROR_LEVEL = 50;

/** How log lines are written: JSON for Cloud Logging, or one readable line each for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

/** Who is logging and where, beyond the level; every field has a default that suits a laptop. */
export interface LoggerOptions {
  format?: LogFormat;
  /**
   * The Google Cloud project traces belong to: with it, a request's trace context becomes
   * `logging.googleapis.com/trace`; without it, no trace field is written.
   */
  traceProject?: string | null;
  /** Error Reporting's service and version (Cloud Run's `K_SERVICE` and `K_REVISION`). */
  serviceContext?: { service: string; version?: string };
}

/** Logger options from the configuration; `auto` turns pretty only when stdout is a terminal (a laptop). */
export function loggerOptions(log: Config['log'], stdoutIsTerminal: boolean): LoggerOptions {
  return {
    format: log.format === 'pretty' || (log.format === 'auto' && stdoutIsTerminal) ? 'pretty' : 'json',
    traceProject: log.traceProject,
    serviceContext:
      log.version === null ? { service: log.service } : { service: log.service, version: log.version },
  };
}

/**
 * Copies a decision id and target name into Cloud Logging labels, so a query (or a log-based metric) can select
 * one decision's or one target's lines by label; the fields themselves stay in the payload too. Applied to every
 * line's own fields; pino does not format a child's bindings, so a child logger bound to a decision is made with
 * `logger.child(withLogLabels({ decisionId, target }))`.
 */
export function withLogLabels(fields: Record<string, unknown>): Record<string, unknown> {
  const labels: Record<string, string> = {};
  if (typeof fields.decisionId === 'string') labels.decisionId = fields.decisionId;
  if (typeof fields.target === 'string' && fields.target.length > 0) labels.target = fields.target;
  return Object.keys(labels).length === 0 ? fields : { ...fields, [LOG_LABELS_KEY]: labels };
}

/** Error Reporting groups an event by the stack it finds in `stack_trace`, so a logged Error's stack goes there. */
function withStackTrace(fields: Record<string, unknown>): Record<string, unknown> {
  return fields.err instanceof Error && fields.err.stack !== undefined
    ? { ...fields, stack_trace: fields.err.stack }
    : fields;
}

/**
 * The one logger: JSON lines in Cloud Logging's structured shape (`severity`, `message`, trace and labels fields,
 * Error Reporting's `@type` on errors), with secrets redacted before they reach any output. Fastify uses its
 * serializers for every request it logs.
 */
export function createLogger(
  level: string,
  destination?: DestinationStream,
  options: LoggerOptions = {},
): Logger {
  const serviceContext = options.serviceContext ?? { service: 'lastgood' };
  const pinoOptions: PinoOptions = {
    level,
    messageKey: 'message',
    base: { service: 'lastgood' },
    // Cloud Logging takes an RFC 3339 `time` as the entry's timestamp.
    timestamp: pino.stdTimeFunctions.isoTime,
    // Every error line is an Error Reporting event, whether or not it carries an Error with a stack.
    mixin: (_object, lineLevel) =>
      lineLevel >= ERROR_LEVEL ? { '@type': REPORTED_ERROR_EVENT, serviceContext } : {},
    formatters: {
      level: (label, number) => ({ severity: SEVERITIES[label] ?? 'DEFAULT', level: number }),
      log: (object) => withStackTrace(withLogLabels(object)),
    },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        '*.token',
        '*.auth_token',
        '*.authorization',
      ],
      censor: '[REDACTED]',
    },
    serializers: {
      req(request: LoggedRequest) {
        return { method: request.method, url: redactUrl(request.url), remoteAddress: request.ip };
      },
    },
  };
  const output = options.format === 'pretty' ? prettyStream(destination ?? process.stdout) : destination;
  return output === undefined ? pino(pinoOptions) : pino(pinoOptions, output);
}

/** Cloud Logging's severities, padded to one width so pretty lines align. */
function severityColumn(severity: unknown): string {
  return String(severity ?? 'DEFAULT').padEnd(8);
}

/** The fields a pretty line leaves out: shown in its columns already, or of use only to Cloud Logging. */
const PRETTY_HIDDEN = new Set([
  'severity',
  'level',
  'time',
  'message',
  'service',
  'serviceContext',
  '@type',
  LOG_LABELS_KEY,
]);

/** One JSON log line as a person reads it: time, severity, message, then the other fields as key=value. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const at = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !PRETTY_HIDDEN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return [at, severityColumn(entry.severity), String(entry.message ?? ''), ...fields]
    .filter((part) => part.length > 0)
    .join(' ');
}

/** A destination that writes each line through `prettyLine`: lines are redacted before they get here. */
function prettyStream(out: DestinationStream): DestinationStream {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line.length > 0) out.write(`${prettyLine(line)}\n`);
    },
  };
}

export type { Logger };
