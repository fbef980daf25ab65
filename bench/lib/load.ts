import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { percentile } from '../../src/domain/stats.ts';

/** What one load run saw. Latencies are milliseconds with sub-millisecond precision. */
export interface LoadResult {
  /** Requests answered with the expected status. */
  ok: number;
  /** Those answers per second over the whole run. */
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Anything else: errors, timeouts, other statuses; counted, never folded into the latencies. */
  failed: number;
}

function summarize(latencies: number[], failed: number, seconds: number): LoadResult {
  latencies.sort((a, b) => a - b);
  return {
    ok: latencies.length,
    perSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 0.5) ?? Number.NaN,
    p99Ms: percentile(latencies, 0.99) ?? Number.NaN,
    failed,
  };
}

export interface LoadOptions {
  url: string;
  path: string;
  /** The next request's body (POST when given, GET otherwise). */
  body?: () => string;
  headers?: Record<string, string>;
  /** The status a success answers, exactly: for the webhook 202, since a 200 would be a deduplicated redelivery. */
  okStatus: number;
}

/**
 * Closed-loop throughput with autocannon: `connections` clients each send their next request as soon as the last
 * is answered. Latencies come from autocannon's per-response event, not its histogram, which rounds to whole ms.
 */
export function saturate(
  options: LoadOptions & { connections: number; durationS: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  const { body } = options;
  const startedAt = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.durationS,
        requests: [
          {
            method: body ? 'POST' : 'GET',
            path: options.path,
            headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...options.headers },
            ...(body ? { setupRequest: (next) => ({ ...next, body: body() }) } : {}),
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        const seconds = (performance.now() - startedAt) / 1000;
        const answered = Object.values(result.statusCodeStats).reduce((sum, { count }) => sum + count, 0);
        resolve(summarize(latencies, result.errors + result.timeouts + answered - latencies.length, seconds));
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
      if (statusCode === options.okStatus) latencies.push(responseTimeMs);
    });
  });
}

/**
 * Open-loop load at a steady rate, like alerts arriving on their own schedule. autocannon's `overallRate` sends
 * each connection's whole per-second quota back to back at the start of every second, which measures a burst,
 * not 1,000 alerts/s. This sends request n at start + n / rate on whatever socket is free, never waiting for
 * answers, so a slow server cannot slow the arrivals down and hide its stalls (coordinated omission).
 */
export async function steadyRate(
  options: LoadOptions & { perSecond: number; durationS: number },
): Promise<LoadResult & { achievedPerSecond: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const target = new URL(options.path, options.url);
  const total = Math.round(options.perSecond * options.durationS);
  const latencies: number[] = [];
  let failed = 0;
  let answered = 0;
  const send = () => {
    const sentAt = performance.now();
    const body = options.body?.();
    const outgoing = request(
      target,
      {
        agent,
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (response) => {
        response.resume();
        response.on('end', () => {
          if (response.statusCode === options.okStatus) latencies.push(performance.now() - sentAt);
          else failed += 1;
          answered += 1;
        });
      },
    );
    outgoing.on('error', () => {
      failed += 1;
      answered += 1;
    });
    outgoing.end(body);
  };
  const startedAt = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - startedAt) * options.perSecond) / 1000) + 1);
    for (; sent < due; sent++) send();
    // A timer tick (about 1 ms) rather than a busy loop: the generator must not take the server's CPU.
    await sleep(1);
  }
  const sendSeconds = (performance.now() - startedAt) / 1000;
  // A server slower than the rate has a queue that only grows: answers later than the run's length again count
  // as failed, or draining it could take minutes.
  const drainUntil = performance.now() + options.durationS * 1000;
  while (answered < total && performance.now() < drainUntil) await sleep(5);
  const unanswered = total - answered;
  agent.destroy();
  return {
    ...summarize(latencies, failed + unanswered, (performance.now() - startedAt) / 1000),
    achievedPerSecond: total / sendSeconds,
  };
}
