/**
 * The error catalogue: every error lastgood answers or fails with has a stable `code` and an HTTP status.
 * Clients and tests branch on `code`, never on message text. Each code is documented in docs/api.md.
 */
export const ERROR_CODES = {
  LASTGOOD_ERR_BAD_JSON: { status: 400, summary: 'The body is not valid JSON.' },
  LASTGOOD_ERR_VALIDATION: { status: 400, summary: 'The body, query or path does not match the schema.' },
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
  },
  LASTGOOD_ERR_FREEZE_NOT_OURS: {
    status: 409,
    summary:
      'The pipeline was suspended by someone other than lastgood; whoever suspended it must resume it.',
  },
  LASTGOOD_ERR_BODY_TOO_LARGE: { status: 413, summary: 'The body is over the size limit.' },
  LASTGOOD_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The body must be application/json.' },
  LASTGOOD_ERR_RATE_LIMITED: { status: 429, summary: 'Too many requests; retry after Retry-After seconds.' },
  LASTGOOD_ERR_INTERNAL: { status: 500, summary: 'An unexpected error; details are in the server log.' },
  LASTGOOD_ERR_UNAVAILABLE: {
    status: 503,
    summary: 'The store is unreachable or the server is shutting down.',
  },
  LASTGOOD_ERR_CONFIG: { status: 500, summary: 'Invalid configuration; lastgood refuses to start.' },
  LASTGOOD_ERR_GOOGLE_API: { status: 502, summary: 'A Google Cloud API call failed.' },
} as const;

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

export function isLastgoodError(value: unknown): value is LastgoodError {
  return value instanceof LastgoodError;
}
