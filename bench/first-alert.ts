/**
 * 7. First alert: the alert that arrives after a quiet spell, which production sees far more often than a warm
 * stream. A fresh lastgood gets its first alert 2 s after `/readyz`; another, with its channels' idle timeout
 * shortened, gets a first alert to warm up and then one more after three idle timeouts of silence. Each reports
 * the ack (the client's send to its 202) and alert_received to the emulator's UpdateService.
 *
 * Each alert is sent as Cloud Monitoring sends one: on a connection of its own (not the keep-alive one the bench's
 * `/readyz` polls left open), from an HTTP client that has sent such a request before: the bench's own first POST
 * ran its client's code for the first time, about as long as lastgood's part of the ack.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEmulator } from '../src/emulator/emulator.ts';
import { openStore } from '../src/store/index.ts';
import { burnRateAlert } from '../test/fixtures/alerts.ts';
import {
  STORM_PROJECT,
  stormFixture,
  stormPolicyYaml,
  stormServiceName,
  stormTargets,
} from '../test/fixtures/storm.ts';
import { webhookPath } from './lib/alerts.ts';
import type { BenchContext } from './lib/context.ts';
import { type ServerProcess, startLastgoodInDir, TOKENS } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';

const SECTION = '7. First alert';
/** After start, the alert comes this long after `/readyz` first answers 200. */
const AFTER_READY_MS = 2_000;
/** For the idle run: re-warm period; lastgood sets its channels' idle timeout to twice that. */
const REWARM_MS = 1_000;
const IDLE_TIMEOUT_MS = 2 * REWARM_MS;

interface FirstAlert {
  ackMs: number;
  toUpdateMs: number;
}

/** POSTs `body` on a new connection; resolves at the response's head (`ackMs`), with the whole body. */
function postOnNewConnection(
  url: string,
  body: string,
): Promise<{ ackMs: number; status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const sentAt = performance.now();
    const post = request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        const ackMs = performance.now() - sentAt;
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => resolve({ ackMs, status: response.statusCode ?? 0, text }));
        response.on('error', reject);
      },
    );
    post.on('error', reject);
    post.end(body);
  });
}

/**
 * Sends an alert's body a few times to a throwaway local server, so that the alert itself is timed with a client
 * whose code has run before, as a sender's has: timed cold, the bench's own first POST took 11-21 ms at a load
 * average of 5-8 before lastgood saw a byte, against 2-7 ms from a warmed client.
 */
async function warmClient(): Promise<void> {
  const sink = createServer((incoming, answer) => {
    incoming.resume();
    incoming.on('end', () => answer.writeHead(202, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = sink.address() as AddressInfo;
    const body = JSON.stringify(
      burnRateAlert({ target: 'warm-up', service: 'warm-up', project: STORM_PROJECT }),
    );
    for (let i = 0; i < 3; i++) await postOnNewConnection(`http://127.0.0.1:${port}/`, body);
  } finally {
    sink.close();
  }
}

/** Sends one alert for `target` and measures its ack and, from the stored alert_received, its UpdateService. */
async function oneAlert(
  server: ServerProcess,
  emulator: Awaited<ReturnType<typeof startEmulator>>,
  target: string,
): Promise<{ ackMs: number; decisionId: string; updateAt: number; offsetMs: number }> {
  const { ackMs, status, text } = await postOnNewConnection(
    `${server.url}${webhookPath(TOKENS.webhook)}`,
    JSON.stringify(burnRateAlert({ target, service: target, project: STORM_PROJECT })),
  );
  const accepted = JSON.parse(text) as { decisionId: string; reason: string };
  if (status !== 202 || accepted.reason !== 'ROLLBACK') {
    throw new Error(`alert for ${target} answered ${status} ${text}`);
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    const call = emulator.calls
      .list({ method: 'UpdateService' })
      .find((c) => (c.request as { service?: { name?: string } }).service?.name === stormServiceName(target));
    if (call !== undefined) {
      // The emulator stamps calls on the monotonic clock, lastgood its steps on the wall clock.
      const offsetMs = Date.now() - (performance.timeOrigin + performance.now());
      return { ackMs, decisionId: accepted.decisionId, updateAt: call.at, offsetMs };
    }
    if (Date.now() > deadline) throw new Error(`no UpdateService for ${target} within 10 s`);
    await sleep(1);
  }
}

/** Runs `scenario` against a fresh emulator and lastgood, then reads alert_received from the stopped store. */
async function measure(
  ctx: BenchContext,
  name: string,
  env: Record<string, string>,
  scenario: (
    server: ServerProcess,
    emulator: Awaited<ReturnType<typeof startEmulator>>,
  ) => Promise<{
    ackMs: number;
    decisionId: string;
    updateAt: number;
    offsetMs: number;
  }>,
): Promise<FirstAlert> {
  const targets = stormTargets(2);
  const dir = ctx.dir(name);
  const emulator = await startEmulator({ fixture: stormFixture(targets), adminPort: null });
  let result: Awaited<ReturnType<typeof scenario>>;
  try {
    const server = await startLastgoodInDir({
      dir,
      policyYaml: stormPolicyYaml(targets),
      emulatorHost: emulator.host,
      cpuProfile: ctx.cpuProfile,
      env,
    });
    try {
      result = await scenario(server, emulator);
    } finally {
      await server.stop();
    }
  } finally {
    await emulator.stop();
  }
  const store = await openStore({ dataDir: dir, databaseUrl: null });
  try {
    const status = await store.getStatus(result.decisionId);
    const received = status?.timeline.find((event) => event.step === 'alert_received')?.at;
    if (received === undefined) throw new Error(`${name}: no alert_received`);
    return { ackMs: result.ackMs, toUpdateMs: result.updateAt + result.offsetMs - received.getTime() };
  } finally {
    await store.close();
  }
}

export async function benchFirstAlert(ctx: BenchContext) {
  const [first, second] = stormTargets(2) as [string, string];
  const runs = ctx.quick ? 1 : 3;
  await warmClient();
  const afterStart: FirstAlert[] = [];
  const afterIdle: FirstAlert[] = [];
  for (let run = 0; run < runs; run++) {
    ctx.log(`first alert after start (${run + 1}/${runs}): ${AFTER_READY_MS} ms after /readyz`);
    afterStart.push(
      await measure(ctx, `first-after-start-${run}`, {}, async (server, emulator) => {
        await sleep(AFTER_READY_MS);
        return oneAlert(server, emulator, first);
      }),
    );
    ctx.log(`first alert after idle (${run + 1}/${runs}): ${3 * IDLE_TIMEOUT_MS} ms of silence`);
    afterIdle.push(
      await measure(
        ctx,
        `first-after-idle-${run}`,
        { LASTGOOD_GOOGLE_REWARM: `${REWARM_MS}ms` },
        async (server, emulator) => {
          await sleep(AFTER_READY_MS);
          await oneAlert(server, emulator, first);
          await sleep(3 * IDLE_TIMEOUT_MS);
          return oneAlert(server, emulator, second);
        },
      ),
    );
  }
  const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const all = (values: number[]) => values.map((value) => value.toFixed(1)).join(', ');
  const note = (label: string, values: number[]) =>
    `median of ${values.length} fresh processes (${label}: ${all(values)} ms)`;
  const metrics: Metric[] = [
    {
      section: SECTION,
      name: `after start (${AFTER_READY_MS / 1000} s after /readyz): ack`,
      value: median(afterStart.map((run) => run.ackMs)),
      unit: 'ms',
      target: { op: '<=', value: 10 },
      note: note(
        'each',
        afterStart.map((run) => run.ackMs),
      ),
    },
    {
      section: SECTION,
      name: 'after start: alert_received to UpdateService',
      value: median(afterStart.map((run) => run.toUpdateMs)),
      unit: 'ms',
      target: { op: '<=', value: 20 },
      note: note(
        'each',
        afterStart.map((run) => run.toUpdateMs),
      ),
    },
    {
      section: SECTION,
      name: `after ${(3 * IDLE_TIMEOUT_MS) / 1000} s idle (3x a ${IDLE_TIMEOUT_MS / 1000} s channel idle timeout): alert_received to UpdateService`,
      value: median(afterIdle.map((run) => run.toUpdateMs)),
      unit: 'ms',
      target: { op: '<=', value: 20 },
      note: `${note(
        'each',
        afterIdle.map((run) => run.toUpdateMs),
      )}; LASTGOOD_GOOGLE_REWARM=${REWARM_MS}ms`,
    },
  ];
  return { metrics, details: { afterStart, afterIdle } };
}
