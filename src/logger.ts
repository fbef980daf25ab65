import { type DestinationStream, type Logger, pino } from 'pino';

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

/**
 * The one logger: JSON lines, with secrets redacted before they reach any output. Fastify uses its serializers
 * for every request it logs.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'lastgood' },
      timestamp: pino.stdTimeFunctions.isoTime,
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
    },
    destination,
  );
}

export type { Logger };
