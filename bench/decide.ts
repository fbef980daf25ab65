/**
 * 3. Decision engine: the cost of one `decide()` call, in a worker thread of the bench process, with the target's
 * history as the store hands it over (newest first) at realistic sizes.
 */
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { parsePolicyFile } from '../src/config/policy.ts';
import { decide } from '../src/domain/decide.ts';
import type { PastRollback, Signal, TargetHistory } from '../src/domain/types.ts';
import { cloudMonitoringPayloadSchema, signalFromCloudMonitoring } from '../src/ingest/cloud-monitoring.ts';
import { burnRateAlert } from '../test/fixtures/alerts.ts';
import type { BenchContext } from './lib/context.ts';
import type { Metric } from './lib/report.ts';

const POLICY_FILE = new URL('../examples/lastgood.yaml', import.meta.url).pathname;
const HISTORY_SIZES = [0, 100, 10_000] as const;
const HOUR_MS = 3_600_000;

/**
 * `size` past rollbacks, newest first, all finished and spaced two hours apart, so none trips the rate limit or
 * cooldown: decide() runs every check through to ROLLBACK, its longest path, and scans the whole history for a
 * rollback in progress.
 */
function historyOf(size: number, now: Date): TargetHistory {
  const rollbacks: PastRollback[] = Array.from({ length: size }, (_, i) => ({
    decisionId: `dec_${String(i).padStart(26, '0')}`,
    decidedAt: new Date(now.getTime() - (i + 1) * 2 * HOUR_MS),
    state: 'succeeded',
  }));
  return { rollbacks };
}

/** Median time per call over batches of about 5 ms each, after a warm-up that lets V8 optimise. */
function timePerCallUs(
  call: () => unknown,
  budgetMs: number,
): { medianUs: number; p99Us: number; calls: number } {
  const warmUntil = performance.now() + budgetMs / 4;
  while (performance.now() < warmUntil) call();
  let batch = 1;
  for (let took = 0; took < 5; batch *= 2) {
    const start = performance.now();
    for (let i = 0; i < batch; i++) call();
    took = performance.now() - start;
  }
  const perCall: number[] = [];
  const until = performance.now() + budgetMs;
  while (performance.now() < until) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) call();
    perCall.push(Number(process.hrtime.bigint() - start) / 1000 / batch);
  }
  perCall.sort((a, b) => a - b);
  return {
    medianUs: perCall[Math.floor(perCall.length / 2)]!,
    p99Us: perCall[Math.min(perCall.length - 1, Math.floor(perCall.length * 0.99))]!,
    calls: perCall.length * batch,
  };
}

type Timing = ReturnType<typeof timePerCallUs>;

/** Times decide() at each history size in this thread, `budgetMs` each. */
function timeEverySize(budgetMs: number): Record<string, Timing> {
  const target = parsePolicyFile(readFileSync(POLICY_FILE, 'utf8'), POLICY_FILE).get('checkout');
  if (target === undefined) throw new Error(`${POLICY_FILE} has no checkout target`);
  const now = new Date();
  const signal: Signal = signalFromCloudMonitoring(
    cloudMonitoringPayloadSchema.parse(burnRateAlert({ target: 'checkout', startedAt: now })),
    'cloud-monitoring',
  ).signal;
  const deployment = { target: 'checkout', enabled: true };
  const timings: Record<string, Timing> = {};
  for (const size of HISTORY_SIZES) {
    const history = historyOf(size, now);
    const check = decide(signal, target.policy, history, deployment, now);
    if (check.reason !== 'ROLLBACK') throw new Error(`decide() gave ${check.reason}, not the full path`);
    timings[String(size)] = timePerCallUs(
      () => decide(signal, target.policy, history, deployment, now),
      budgetMs,
    );
  }
  return timings;
}

const WORKER = 'bench-decide';
if (!isMainThread && workerData?.role === WORKER) parentPort?.postMessage(timeEverySize(workerData.budgetMs));

/**
 * Runs the timing in a worker thread, on a heap of its own: in the bench process, after the sections before it,
 * the same loop timed 20-26 µs at 10,000 past rollbacks against 15 µs alone, as V8's collector worked through
 * what those sections had left (the emulator's record of 500 rollbacks' calls, the load generator's results).
 */
export async function benchDecide(ctx: BenchContext) {
  ctx.log(`decide: ${HISTORY_SIZES.join(', ')} past rollbacks, in a worker thread`);
  const details = await new Promise<Record<string, Timing>>((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { role: WORKER, budgetMs: ctx.quick ? 300 : 1_000 },
    });
    worker.once('message', resolve).once('error', reject);
  });
  const metrics: Metric[] = HISTORY_SIZES.map((size) => {
    const timing = details[String(size)]!;
    return {
      section: '3. Decision engine',
      name: `decide() with ${size.toLocaleString('en-US')} past rollbacks`,
      value: timing.medianUs,
      unit: 'µs',
      ...(size === 10_000 ? { target: { op: '<=' as const, value: 20 } } : {}),
      note: `median of batches, ${timing.calls.toLocaleString('en-US')} calls; p99 batch ${timing.p99Us.toFixed(2)} µs/call`,
    };
  });
  return { metrics, details };
}
