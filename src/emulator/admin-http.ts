import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EmulatorControl } from './control.ts';
import type { FaultSpec } from './faults.ts';
import { isRpcError } from './rpc-error.ts';

/** What the admin endpoint exposes; the running emulator provides it. */
export interface AdminTarget {
  state: { snapshot(): unknown };
  calls: { list(filter?: { method?: string }): unknown[] };
  faults: { inject(spec: FaultSpec): unknown; active(): unknown[]; clear(): void };
  control: EmulatorControl;
  reset(): void;
}

export interface AdminServer {
  url: string;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1_000_000;

class BadRequest extends Error {}

/**
 * The control calls by route: the body is the call's argument, the answer the changed resource. See
 * `EmulatorControl` for each body; a body the call refuses answers 400 with the reason.
 */
export const CONTROL_ROUTES: Record<string, { call: keyof EmulatorControl; status: number }> = {
  'POST /cloud-deploy/releases': { call: 'createRelease', status: 201 },
  'POST /cloud-deploy/rollouts': { call: 'createRollout', status: 201 },
  'PATCH /cloud-deploy/rollouts': { call: 'setRolloutState', status: 200 },
  'PUT /cloud-run/traffic': { call: 'setTraffic', status: 200 },
  'POST /cloud-run/revisions': { call: 'createRevision', status: 201 },
  'PUT /monitoring/requests': { call: 'replaceRequests', status: 200 },
  'POST /monitoring/requests': { call: 'appendRequests', status: 201 },
};

/**
 * A small JSON endpoint so the demo and out-of-process tests can look at and steer the emulator:
 * `GET /state`, `GET /calls[?method=UpdateService]`, `GET /faults`, `POST /faults` (a fault or an array of them),
 * `DELETE /faults`, `POST /reset` (state back to the fixture, faults and call log cleared), and the control calls
 * of `CONTROL_ROUTES` (releases, rollouts, revisions, traffic, request series changed from outside).
 */
export async function startAdminServer(
  target: AdminTarget,
  bindHost: string,
  port: number,
): Promise<AdminServer> {
  const server = createServer((request, response) => {
    handle(target, request, response).catch((error: unknown) => {
      const badRequest = error instanceof BadRequest || isRpcError(error);
      send(response, badRequest ? 400 : 500, {
        error: error instanceof Error ? error.message : String(error),
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bindHost, () => resolve());
  });
  const { port: boundPort } = server.address() as AddressInfo;
  return {
    url: `http://${bindHost}:${boundPort}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  target: AdminTarget,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://admin');
  const route = `${request.method} ${url.pathname}`;
  const control = CONTROL_ROUTES[route];
  if (control) {
    const body = await readJson(request);
    return send(response, control.status, target.control[control.call](body as never));
  }
  switch (route) {
    case 'GET /state':
      return send(response, 200, target.state.snapshot());
    case 'GET /calls': {
      const method = url.searchParams.get('method');
      return send(response, 200, target.calls.list(method ? { method } : {}));
    }
    case 'GET /faults':
      return send(response, 200, target.faults.active());
    case 'POST /faults': {
      const body = await readJson(request);
      const specs = (Array.isArray(body) ? body : [body]) as FaultSpec[];
      for (const spec of specs) target.faults.inject(spec);
      return send(response, 201, target.faults.active());
    }
    case 'DELETE /faults':
      target.faults.clear();
      return send(response, 204, null);
    case 'POST /reset':
      target.reset();
      return send(response, 204, null);
    default:
      return send(response, 404, { error: `No route ${route}; see src/emulator/admin-http.ts.` });
  }
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).byteLength;
    if (size > MAX_BODY_BYTES) throw new BadRequest('The body is over 1 MB.');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('The body is not valid JSON.');
  }
}

function send(response: ServerResponse, statusCode: number, body: unknown): void {
  if (body === null) {
    response.writeHead(statusCode).end();
    return;
  }
  response
    .writeHead(statusCode, { 'content-type': 'application/json' })
    .end(`${JSON.stringify(body, null, 2)}\n`);
}
