import type { RollbackErrorCode } from './domain/rollback.ts';

/**
 * The error catalogue: every error lastgood answers or fails with has a stable `code` and an HTTP status.
 * Clients and tests branch on `code`, never on message text. Each code is documented in docs/api.md. An error
 * that can end a rollback names the `rollbackCode` the rollback is stored with.
 */
export const ERROR_CODES = {
  LASTGOOD_ERR_BAD_JSON: { status: 400, summary: 'The body is not valid JSON.' },
  LASTGOOD_ERR_MALFORMED_REQUEST: {
    status: 400,
    summary:
      'The request is not valid HTTP (a bad Content-Length or request line); the connection is closed.',
  },
  LASTGOOD_ERR_VALIDATION: { status: 400, summary: 'The body, query or path does not match the schema.' },
  LASTGOOD_ERR_UNSUPPORTED_SCHEMA: {
    status: 400,
    summary:
      'A Cloud Monitoring notification in schema version 1.0 or 1.1, which carries nothing to route by.',
  },
  LASTGOOD_ERR_UNAUTHORIZED: { status: 401, summary: 'Missing or wrong credentials.' },
  LASTGOOD_ERR_FORBIDDEN: { status: 403, summary: "The token's role does not allow this call." },
  LASTGOOD_ERR_NOT_FOUND: { status: 404, summary: 'No such alert, decision or route.' },
  LASTGOOD_ERR_UNKNOWN_TARGET: { status: 404, summary: 'No configured target has that name.' },
  LASTGOOD_ERR_ROLLBACK_REFUSED: {
    status: 409,
    summary: 'A manual rollback was refused: kill switch, mode off, or a rollback already in progress.',
  },
  LASTGOOD_ERR_REVISION_UNUSABLE: {
    status: 409,
    summary: 'The requested revision or release does not exist or is not ready.',
    rollbackCode: 'REVISION_UNUSABLE',
  },
  LASTGOOD_ERR_REQUEST_TIMEOUT: {
    status: 408,
    summary: 'The request (headers and body) did not arrive in time; the connection is closed.',
  },
  LASTGOOD_ERR_FREEZE_NOT_OURS: {
    status: 409,
    summary:
      'The pipeline was suspended by someone other than lastgood; whoever suspended it must resume it.',
  },
  LASTGOOD_ERR_BODY_TOO_LARGE: { status: 413, summary: 'The body is over the size limit.' },
  LASTGOOD_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The body must be application/json.' },
  LASTGOOD_ERR_RATE_LIMITED: { status: 429, summary: 'Too many requests; retry after Retry-After seconds.' },
  LASTGOOD_ERR_HEADERS_TOO_LARGE: {
    status: 431,
    summary: 'The request headers are over the size limit; the connection is closed.',
  },
  LASTGOOD_ERR_INTERNAL: { status: 500, summary: 'An unexpected error; details are in the server log.' },
  LASTGOOD_ERR_UNAVAILABLE: {
    status: 503,
    summary: 'The store is unreachable or the server is shutting down.',
  },
  LASTGOOD_ERR_CONFIG: { status: 500, summary: 'Invalid configuration; lastgood refuses to start.' },
  LASTGOOD_ERR_GOOGLE_API: {
    status: 502,
    summary: 'A Google Cloud API call failed.',
    rollbackCode: 'GOOGLE_API_ERROR',
  },
} as const satisfies Record<string, { status: number; summary: string; rollbackCode?: RollbackErrorCode }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error lastgood knows how to explain: a stable code, an HTTP status and optional structured details. */
export class LastgoodError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LastgoodError';
    this.code = code;
    this.statusCode = ERROR_CODES[code].status;
    this.details = options.details;
  }
}

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export function isLastgoodError(value: unknown): value is LastgoodError {
  return value instanceof LastgoodError;
}

/** The code a rollback that failed with `error` is stored under: the catalogue's for a known error, else INTERNAL. */
export function rollbackErrorCodeOf(error: unknown): RollbackErrorCode {
  if (!isLastgoodError(error)) return 'INTERNAL';
  const entry = ERROR_CODES[error.code];
  return 'rollbackCode' in entry ? entry.rollbackCode : 'INTERNAL';
}

/**
 * A LASTGOOD_ERR_VALIDATION whose message names the first bad field and what was expected there, and whose details
 * list every issue by path (`prefix` first: `body`, `query`), so a sender can fix the payload from the answer alone.
 */
export function validationError(
  what: string,
  issues: readonly {
    path: readonly PropertyKey[];
    message: string;
    params?: Record<string, unknown> | undefined;
  }[],
  prefix: readonly string[] = [],
): LastgoodError {
  // A refinement may name a more precise code of the catalogue (`params.code`); its issue then leads the message.
  const coded = issues.find((issue) => isErrorCode(issue.params?.code));
  const ordered = coded === undefined ? issues : [coded, ...issues.filter((issue) => issue !== coded)];
  const details = ordered.map((issue) => ({
    path: [...prefix, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
  const [first] = details;
  const more = details.length > 1 ? ` (and ${details.length - 1} more, in details)` : '';
  return new LastgoodError(
    (coded?.params?.code as ErrorCode | undefined) ?? 'LASTGOOD_ERR_VALIDATION',
    first === undefined ? what : `${what}: ${first.path || '(root)'}: ${first.message}${more}`,
    { details },
  );
}
