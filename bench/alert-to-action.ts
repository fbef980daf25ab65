/**
 * 2. Alert to action: from the webhook request arriving at lastgood to the emulated Cloud Run receiving the
 * UpdateService that moves traffic back, one alert per target, each target a different service.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { percentile } from '../src/domain/stats.ts';
import { startEmulator } from '../src/emulator/emulator.ts';
import type { EmulatorFixture } from '../src/emulator/fixture.ts';
import { openStore } from '../src/store/index.ts';
import { burnRateAlert } from '../test/fixtures/alerts.ts';
import { webhookPath } from './lib/alerts.ts';
import type { BenchContext } from './lib/context.ts';
import { startLastgoodInDir, TOKENS } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';

const SECTION = '2. Alert to action';
const PROJECT = 'bench-project';
const REGION = 'us-central1';
/** Rollbacks before the measured ones, so the first measured one does not pay for connecting to the API. */
const WARM_UP = 5;

const serviceName = (target: string) => `projects/${PROJECT}/locations/${REGION}/services/${target}`;

/**
 * A policy file with one auto-mode Cloud Run target per service, the example's defaults otherwise; `evidence` says
 * whether the job judges the evidence (one Monitoring read alongside GetService) before acting.
 */
function policyYaml(targets: readonly string[], evidence: 'auto' | 'off'): string {
  return stringify({
    defaults: { mode: 'auto', signal: 'burn_rate', sloGoal: 0.999, evidence },
    targets: Object.fromEntries(
      targets.map((name) => [name, { kind: 'cloud-run', project: PROJECT, region: REGION, service: name }]),
    ),
  });
}

/**
 * Every service serves a bad revision deployed minutes ago, with a healthy older one behind it, and Monitoring
 * shows the errors start with it: the demo's incident, many times, which the judgement rolls back.
 */
function fixtureFor(targets: readonly string[]): EmulatorFixture {
  return {
    cloudRun: {
      services: targets.map((name) => ({
        name: serviceName(name),
        revisions: [
          // Relative to the emulator's start: the judgement acts on a change that went out just before the errors.
          { name: `${name}-00001-good`, createTime: '-4d' },
          { name: `${name}-00002-bad`, createTime: '-6m' },
        ],
        traffic: [{ revision: `${name}-00002-bad`, percent: 100 }],
        requests: [
          { revision: `${name}-00001-good`, from: '-90m', to: '-5m', perMinute: { '2xx': 300, '5xx': 1 } },
          { revision: `${name}-00002-bad`, from: '-5m', perMinute: { '2xx': 240, '5xx': 60 } },
        ],
      })),
    },
  };
}

/**
 * The emulator stamps calls with `performance.timeOrigin + performance.now()`, a monotonic clock; lastgood stamps
 * `alert_received` with the wall clock. This is how far apart they are now, to put both on the wall clock.
 */
function wallClockOffsetMs(): number {
  return Date.now() - (performance.timeOrigin + performance.now());
}

/** Waits until the rollback of `decisionId` has left `queued` and `running`, as the status API tells. */
async function untilFinished(url: string, decisionId: string, deadline: number): Promise<void> {
  for (;;) {
    const response = await fetch(`${url}/rollback/status/${decisionId}`, {
      headers: { authorization: `Bearer ${TOKENS.viewer}` },
    });
    const { rollback } = (await response.json()) as { rollback: { state: string } | null };
    if (rollback !== null && !['queued', 'running'].includes(rollback.state)) return;
    if (Date.now() > deadline) throw new Error(`the rollback of ${decisionId} did not finish within 10 s`);
    await sleep(5);
  }
}

/** One run: alerts one at a time, each to a new target, and how long each took to become an UpdateService. */
async function measureAlertToAction(ctx: BenchContext, evidence: 'auto' | 'off') {
  const measured = ctx.quick ? 50 : 250;
  const targets = Array.from({ length: WARM_UP + measured }, (_, i) => `svc-${String(i).padStart(4, '0')}`);
  const dir = ctx.dir(`alert-to-action-evidence-${evidence}`);
  const emulator = await startEmulator({ fixture: fixtureFor(targets), adminPort: null });
  const sent: { target: string; decisionId: string; sentAt: number; offsetMs: number }[] = [];
  try {
    const server = await startLastgoodInDir({
      dir,
      policyYaml: policyYaml(targets, evidence),
      emulatorHost: emulator.host,
      cpuProfile: ctx.cpuProfile,
      // The worker is woken as soon as a rollback is queued; fast polls only speed up the operation's completion.
      env: { LASTGOOD_JOB_POLL: '100ms', LASTGOOD_POLL_INTERVAL: '10ms' },
    });
    ctx.log(
      `alert to action, evidence ${evidence}: ${measured} rollbacks on distinct targets (after ${WARM_UP} to warm up)`,
    );
    try {
      for (const [index, target] of targets.entries()) {
        const sentAt = performance.timeOrigin + performance.now();
        const response = await fetch(`${server.url}${webhookPath(TOKENS.webhook)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(burnRateAlert({ target, service: target, project: PROJECT })),
        });
        const accepted = (await response.json()) as { decisionId: string; reason: string };
        if (response.status !== 202 || accepted.reason !== 'ROLLBACK') {
          throw new Error(`alert for ${target} answered ${response.status} ${JSON.stringify(accepted)}`);
        }
        // One at a time: this measures how fast one alert becomes an action, not how a queue drains. So the loop
        // waits for the UpdateService,
        const deadline = Date.now() + 10_000;
        while (emulator.calls.count('UpdateService') <= index) {
          if (Date.now() > deadline) throw new Error(`no UpdateService for ${target} within 10 s`);
          await sleep(1);
        }
        // and sends the next alert only once this rollback has finished: its operation polls and its verification
        // would otherwise run beside the next alert's decision and reads, and be timed with them.
        await untilFinished(server.url, accepted.decisionId, deadline);
        if (index >= WARM_UP) {
          sent.push({ target, decisionId: accepted.decisionId, sentAt, offsetMs: wallClockOffsetMs() });
        }
      }
    } finally {
      await server.stop();
    }
  } finally {
    await emulator.stop();
  }

  const updateAt = new Map<string, number>();
  for (const call of emulator.calls.list({ method: 'UpdateService' })) {
    const request = call.request as { service?: { name?: string } };
    updateAt.set(request.service?.name ?? '', call.at);
  }
  const store = await openStore({ dataDir: dir, databaseUrl: null });
  const fromArrival: number[] = [];
  const fromSend: number[] = [];
  try {
    for (const { target, decisionId, sentAt, offsetMs } of sent) {
      const status = await store.getStatus(decisionId);
      const received = status?.timeline.find((event) => event.step === 'alert_received')?.at;
      const at = updateAt.get(serviceName(target));
      if (received === undefined || at === undefined)
        throw new Error(`${target}: no alert_received or UpdateService`);
      fromArrival.push(at + offsetMs - received.getTime());
      fromSend.push(at - sentAt);
    }
  } finally {
    await store.close();
  }
  fromArrival.sort((a, b) => a - b);
  fromSend.sort((a, b) => a - b);
  return { fromArrival, fromSend };
}

const p = (values: number[], q: number) => percentile(values, q) ?? Number.NaN;

/** Alert to UpdateService with the judgement reading its evidence (the default), and with `evidence: off`. */
export async function benchAlertToAction(ctx: BenchContext) {
  const judged = await measureAlertToAction(ctx, 'auto');
  const unjudged = await measureAlertToAction(ctx, 'off');
  const note = `${judged.fromArrival.length} rollbacks on distinct targets, SQLite; from the client's send: p50 ${p(judged.fromSend, 0.5).toFixed(1)} ms, p99 ${p(judged.fromSend, 0.99).toFixed(1)} ms`;
  const metrics: Metric[] = [
    {
      section: SECTION,
      name: 'alert_received to UpdateService p50',
      value: p(judged.fromArrival, 0.5),
      unit: 'ms',
      target: { op: '<=', value: 10 },
      note: `evidence judged (one Monitoring read beside GetService); ${note}`,
    },
    {
      section: SECTION,
      name: 'alert_received to UpdateService p99',
      value: p(judged.fromArrival, 0.99),
      unit: 'ms',
      target: { op: '<=', value: 40 },
    },
    {
      section: SECTION,
      name: 'alert_received to UpdateService p50, evidence off',
      value: p(unjudged.fromArrival, 0.5),
      unit: 'ms',
      note: 'the same run with `evidence: off`: what judging costs',
    },
    {
      section: SECTION,
      name: 'alert_received to UpdateService p99, evidence off',
      value: p(unjudged.fromArrival, 0.99),
      unit: 'ms',
    },
  ];
  const summary = (run: { fromArrival: number[]; fromSend: number[] }) => ({
    rollbacks: run.fromArrival.length,
    fromArrivalMs: {
      p50: p(run.fromArrival, 0.5),
      p99: p(run.fromArrival, 0.99),
      max: run.fromArrival.at(-1),
    },
    fromClientSendMs: { p50: p(run.fromSend, 0.5), p99: p(run.fromSend, 0.99), max: run.fromSend.at(-1) },
  });
  return { metrics, details: { evidenceJudged: summary(judged), evidenceOff: summary(unjudged) } };
}
