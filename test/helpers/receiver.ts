import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { until } from './poll.ts';

/** One request a receiver got. */
export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}

/**
 * A local HTTP server standing in for Slack, PagerDuty or a webhook receiver: records every request and answers
 * with the next status queued by `answer` (then `defaultStatus`), or never answers while `hang` is set.
 */
export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  defaultStatus: number;
  hang: boolean;
  /** Answers the next requests with these statuses, in order. */
  answer(...statuses: number[]): void;
  /** Resolves once `count` requests have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** How a receiver may refuse a body the way the real service does: a status and the text it answers with. */
export type Refusal = (json: Record<string, unknown>) => { status: number; body: string } | null;

export async function startReceiver(path = '/', refuse: Refusal = () => null): Promise<Receiver> {
  const queued: number[] = [];
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body);
      } catch {}
      received.push({
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body,
        json,
      });
      if (receiver.hang) return;
      const refusal = refuse(json);
      response.statusCode = refusal?.status ?? queued.shift() ?? receiver.defaultStatus;
      response.end(refusal?.body ?? 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}${path}`,
    received,
    defaultStatus: 200,
    hang: false,
    answer: (...statuses) => queued.push(...statuses),
    async waitFor(count, timeoutMs = 5_000) {
      await until(
        () => received.length >= count,
        () => `${count} requests (got ${received.length})`,
        {
          timeoutMs,
          everyMs: 10,
        },
      );
      return received.slice(0, count);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return receiver;
}
