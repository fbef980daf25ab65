import { type DestinationStream, type Logger, pino } from 'pino';

/** Query parameters that carry credentials: Cloud Monitoring's token-auth channel puts the token in the URL. */
const SECRET_QUERY = /([?&](?:auth_token|token|access_token|key)=)[^&#]*/gi;

/** Replaces credential values in a URL's query string, so a request log line never carries a token. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY, '$1[REDACTED]');
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
