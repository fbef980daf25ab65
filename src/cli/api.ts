/** An error answer of the lastgood API: its catalogue `code` (`LASTGOOD_ERR_...`), HTTP status and message. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;
  /** How long the server asked to wait before trying again (a 429's or 503's `Retry-After`), when it said. */
  readonly retryAfterMs: number | undefined;

  constructor(status: number, code: string, message: string, details: unknown, retryAfterMs?: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfterMs = retryAfterMs;
  }
}

/** A `Retry-After` header in milliseconds: delay-seconds or an HTTP date (RFC 9110 section 10.2.3). */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(at - now, 0);
}

/** The REST API as the CLI uses it: JSON in and out, an operator token on every call. */
export interface ApiClient {
  readonly baseUrl: string;
  request<T>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    options?: { query?: Record<string, string | number | undefined>; body?: unknown },
  ): Promise<T>;
}

/** A client for the lastgood at `baseUrl`, authenticating with `token` (`Authorization: Bearer`). */
export function apiClient(baseUrl: string, token: string): ApiClient {
  const base = baseUrl.replace(/\/+$/, '');
  return {
    baseUrl: base,
    async request<T>(
      method: 'GET' | 'POST' | 'PUT',
      path: string,
      options: { query?: Record<string, string | number | undefined>; body?: unknown } = {},
    ): Promise<T> {
      const url = new URL(`${base}${path}`);
      for (const [key, value] of Object.entries(options.query ?? {})) {
        if (value !== undefined) url.searchParams.set(key, String(value));
      }
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        throw new ApiError(
          0,
          'UNREACHABLE',
          `cannot reach ${base}: ${cause?.code ?? cause?.message ?? String(error)}`,
          undefined,
        );
      }
      const text = await response.text();
      let body: unknown;
      try {
        body = text === '' ? null : JSON.parse(text);
      } catch {
        body = text;
      }
      if (!response.ok) {
        const answer = (body ?? {}) as { code?: string; message?: string; details?: unknown };
        throw new ApiError(
          response.status,
          answer.code ?? `HTTP_${response.status}`,
          answer.message ?? (text || response.statusText),
          answer.details,
          retryAfterMs(response.headers.get('retry-after'), Date.now()),
        );
      }
      return body as T;
    },
  };
}
