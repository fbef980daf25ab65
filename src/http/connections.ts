import type { ServerOptions } from 'node:http';
import type { Server } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** Fastify's default, kept explicit: idle keep-alive connections are closed after it. */
const KEEP_ALIVE_MS = 72_000;
/**
 * How often Node checks the request and headers timeouts. Its default, 30 s, would let a connection that never
 * finishes its request live up to 30 s past the timeout.
 */
const TIMEOUT_CHECK_MS = 1_000;

/**
 * Fastify's server options that bound how long a connection may be held: the whole request (headers and body)
 * within `requestTimeoutMs`, else a 408 and the connection closed; a connection silent for longer than a
 * keep-alive plus one request is destroyed. Fastify's default is no request timeout at all, so a chunked body that
 * never ended kept its connection (and a file descriptor) forever.
 */
export function connectionTimeouts(requestTimeoutMs: number): {
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionTimeout: number;
  http: ServerOptions;
} {
  return {
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_MS,
    connectionTimeout: KEEP_ALIVE_MS + requestTimeoutMs,
    http: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
  };
}

/** Refusals after which the connection is closed: a caller without credentials or over budget gets nothing more. */
const CLOSE_AFTER = new Set([401, 429]);

/**
 * Closes the connection once a 401 or 429 is sent (`Connection: close`; Node then ends and destroys the socket
 * without waiting for the rest of the body), and closes at once any connection from a peer address that already
 * holds `maxPerAddress` (0: no cap). Behind a proxy (Cloud Run's front end) every connection comes from the proxy's
 * addresses, so the cap must stay above the service's concurrency there.
 */
export function installConnectionLimits(server: FastifyInstance, maxPerAddress: number): void {
  server.addHook('onSend', async (_request, reply, payload) => {
    if (CLOSE_AFTER.has(reply.statusCode)) reply.header('connection', 'close');
    return payload;
  });
  if (maxPerAddress > 0) capConnectionsPerAddress(server.server, maxPerAddress);
}

function capConnectionsPerAddress(server: Server, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
