import { STATUS_CODES as HTTP_STATUS_TEXT } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, type ErrorCode, isLastgoodError, UNAVAILABLE_RETRY_AFTER_SECONDS } from '../errors.ts';
import { API_HEADERS } from './security-headers.ts';

/** Fastify's own errors, mapped onto the catalogue so clients see one set of codes. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'LASTGOOD_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'LASTGOOD_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'LASTGOOD_ERR_VALIDATION',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'LASTGOOD_ERR_BAD_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'LASTGOOD_ERR_BAD_JSON',
  FST_ERR_BAD_URL: 'LASTGOOD_ERR_VALIDATION',
};

const STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'LASTGOOD_ERR_VALIDATION',
  401: 'LASTGOOD_ERR_UNAUTHORIZED',
  403: 'LASTGOOD_ERR_FORBIDDEN',
  404: 'LASTGOOD_ERR_NOT_FOUND',
  413: 'LASTGOOD_ERR_BODY_TOO_LARGE',
  415: 'LASTGOOD_ERR_UNSUPPORTED_MEDIA_TYPE',
  429: 'LASTGOOD_ERR_RATE_LIMITED',
  503: 'LASTGOOD_ERR_UNAVAILABLE',
};

/**
 * The one error handler: every failure answers `{code, message, details?}`. Client errors say what was wrong;
 * server errors are logged whole and answered with a fixed message, so no internals or secrets leak.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (isLastgoodError(error)) {
      // A 5xx with a cause is a failure worth its stack; without one it is a refusal lastgood chose (shutting
      // down), which a drain answers hundreds of times a second and must stay cheap.
      if (error.statusCode >= 500 && error.cause !== undefined)
        request.log.error({ err: error }, error.message);
      else if (error.statusCode >= 500) request.log.warn({ code: error.code }, error.message);
      else request.log.info({ code: error.code }, error.message);
      // So Cloud Monitoring, Pub/Sub and people retry (against another replica, or once the store is back).
      if (error.code === 'LASTGOOD_ERR_UNAVAILABLE')
        reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      return reply.code(error.statusCode).send({
        code: error.code,
        message: error.message,
        ...(error.details === undefined ? {} : { details: error.details }),
      });
    }
    const status = error.statusCode ?? 500;
    if (status < 500) {
      const code =
        (error.code ? FASTIFY_CODES[error.code] : undefined) ??
        (error instanceof SyntaxError ? 'LASTGOOD_ERR_BAD_JSON' : undefined) ??
        STATUS_CODES[status] ??
        'LASTGOOD_ERR_VALIDATION';
      request.log.info({ code, fastifyCode: error.code }, error.message);
      return reply.code(status).send({ code, message: error.message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply
      .code(500)
      .send({ code: 'LASTGOOD_ERR_INTERNAL', message: 'Internal error; see the server log' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      code: 'LASTGOOD_ERR_NOT_FOUND',
      // The path is not quoted: a client may have put a token in it, and answers are often logged by proxies.
      message: `No route for ${request.method} at this path`,
    }),
  );
}

/**
 * Fastify's `frameworkErrors`: failures found before routing (a badly percent-encoded URL, an overlong path
 * parameter). Fastify's default answer quotes the whole URL, `?auth_token=` included, so these get the catalogue's
 * shape and a message that quotes nothing.
 */
export function answerFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  request.log.info({ fastifyCode: error.code }, 'request refused before routing');
  reply.headers(API_HEADERS);
  if (error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    reply.code(400).send({ code: 'LASTGOOD_ERR_VALIDATION', message: 'The URL is malformed or too long' });
    return;
  }
  reply.code(500).send({ code: 'LASTGOOD_ERR_INTERNAL', message: 'Internal error; see the server log' });
}

/** Node's own refusals, by the parser's or server's error code; anything else it refuses is malformed HTTP. */
const CLIENT_ERROR_CODES: Readonly<Record<string, ErrorCode>> = {
  HPE_HEADER_OVERFLOW: 'LASTGOOD_ERR_HEADERS_TOO_LARGE',
  ERR_HTTP_REQUEST_TIMEOUT: 'LASTGOOD_ERR_REQUEST_TIMEOUT',
};

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP server refuses before there is a request (oversized headers, a
 * bad Content-Length, a request that took too long) gets the catalogue's shape and the API headers, and the
 * connection is closed once the answer is written. Only the error's code is logged: the parser's error carries the
 * raw bytes received, a token in the URL among them.
 */
export function answerClientError(
  this: FastifyInstance,
  error: Error & { code?: string },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code = CLIENT_ERROR_CODES[error.code ?? ''] ?? 'LASTGOOD_ERR_MALFORMED_REQUEST';
  const { status, summary } = ERROR_CODES[code];
  this.log.info({ code, nodeCode: error.code }, 'request refused by the HTTP server');
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ code, message: summary });
  const headers = {
    ...API_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join('\r\n');
  socket.end(`HTTP/1.1 ${status} ${HTTP_STATUS_TEXT[status]}\r\n${head}\r\n\r\n${body}`, () =>
    socket.destroy(),
  );
}
