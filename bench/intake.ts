/**
 * 1. Intake: how many real-shaped alerts per second lastgood stores durably and decides, against a bare Fastify
 * server on the same machine, and its ack latency when alerts arrive at a steady 1,000/s.
 */
import { join } from 'node:path';
import { startEmulator } from '../src/emulator/emulator.ts';
import { loadFixtureFile } from '../src/emulator/fixture.ts';
import { alertBodies, webhookPath } from './lib/alerts.ts';
import type { BenchContext } from './lib/context.ts';
import { type LoadResult, saturate, steadyRate } from './lib/load.ts';
import { type BenchDatabase, createBenchDatabase } from './lib/postgres.ts';
import { type ServerProcess, startBareFastify, startLastgood, TOKENS } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';

const EXAMPLES = new URL('../examples/', import.meta.url).pathname;
const SECTION = '1. Intake';
/** Enough concurrent senders to keep both cores busy; an incident's alerts arrive from many channels at once. */
const CONNECTIONS = 32;
const STEADY_RATE = 1_000;
const STORES = ['SQLite', 'PostgreSQL'] as const;

/** Issue 17's targets: PostgreSQL pays network round trips that SQLite, in process, does not. */
const THROUGHPUT_TARGET: Record<(typeof STORES)[number], number> = { SQLite: 0.4, PostgreSQL: 0.3 };

interface StoreRun {
  store: (typeof STORES)[number];
  throughput: LoadResult;
  steady: LoadResult & { achievedPerSecond: number };
  rssAfterMb: number;
}

function latencyNote(result: LoadResult): string {
  const failed = result.failed > 0 ? `, ${result.failed} failed` : '';
  return `p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms${failed}`;
}

export async function benchIntake(ctx: BenchContext) {
  const durationS = ctx.quick ? 2 : 10;
  const warmupS = ctx.quick ? 1 : 2;
  const path = webhookPath(TOKENS.webhook);
  const body = alertBodies('checkout');
  const saturateFor = (server: ServerProcess, seconds: number) =>
    saturate({ url: server.url, path, body, okStatus: 202, connections: CONNECTIONS, durationS: seconds });
  const measure = async (server: ServerProcess) => {
    await saturateFor(server, warmupS);
    return saturateFor(server, durationS);
  };
  const measureBare = async (when: string) => {
    ctx.log(`intake: bare Fastify ${when}, ${CONNECTIONS} connections, ${durationS} s`);
    const server = await startBareFastify(join(ctx.dir(`bare-${when}`), 'server.log'), ctx.cpuProfile);
    return measure(server).finally(() => server.stop());
  };

  // Measured before and after lastgood, the ratio taken to their mean: on a shared machine the reference drifts
  // with whatever else runs, and one reading could flatter or sink every ratio.
  const bareBefore = await measureBare('before');
  // Every alert goes to `checkout`: the first rolls it back through the emulator, the flood after it is decided
  // COOLDOWN, as in an incident. Each is still a new alert, stored with its decision before the 202. Each store
  // gets an emulator of its own, seeded afresh, so that both measure that same incident.
  const fixture = await loadFixtureFile(join(EXAMPLES, 'emulator-fixture.yaml'));
  const runs: StoreRun[] = [];
  const failures: { store: string; reason: string }[] = [];
  for (const store of STORES) {
    ctx.log(`intake: lastgood on ${store}`);
    const dir = ctx.dir(`intake-${store.toLowerCase()}`);
    const emulator = await startEmulator({ fixture, adminPort: null });
    let database: BenchDatabase | null = null;
    try {
      if (store === 'PostgreSQL') database = await createBenchDatabase();
      const server = await startLastgood({
        policyFile: join(EXAMPLES, 'lastgood.yaml'),
        dataDir: dir,
        logPath: join(dir, 'lastgood.log'),
        emulatorHost: emulator.host,
        cpuProfile: ctx.cpuProfile,
        ...(database === null ? {} : { databaseUrl: database.databaseUrl }),
      });
      try {
        const throughput = await measure(server);
        ctx.log(`intake: lastgood on ${store} at a steady ${STEADY_RATE}/s`);
        const steady = await steadyRate({
          url: server.url,
          path,
          body,
          okStatus: 202,
          perSecond: STEADY_RATE,
          durationS,
        });
        runs.push({ store, throughput, steady, rssAfterMb: server.rssMb() });
      } finally {
        await server.stop();
      }
    } catch (error) {
      failures.push({ store, reason: error instanceof Error ? error.message : String(error) });
    } finally {
      await database?.drop();
      await emulator.stop();
    }
  }
  const bareAfter = await measureBare('after');
  const bare = (bareBefore.perSecond + bareAfter.perSecond) / 2;

  const metrics: Metric[] = [
    {
      section: SECTION,
      name: 'bare Fastify (parse + 202), the reference',
      value: bare,
      unit: 'req/s',
      note: `mean of ${Math.round(bareBefore.perSecond)} before and ${Math.round(bareAfter.perSecond)} after lastgood; ${latencyNote(bareBefore)} before`,
    },
  ];
  for (const run of runs) {
    metrics.push(
      {
        section: SECTION,
        name: `${run.store} throughput, ratio to bare Fastify`,
        value: run.throughput.perSecond / bare,
        unit: 'x',
        target: { op: '>=', value: THROUGHPUT_TARGET[run.store] },
        note: `${Math.round(run.throughput.perSecond)} alerts/s; ${latencyNote(run.throughput)}`,
      },
      {
        section: SECTION,
        name: `${run.store} ack p99 at ${STEADY_RATE.toLocaleString('en-US')} alerts/s`,
        value: run.steady.p99Ms,
        unit: 'ms',
        target: { op: '<=', value: 20 },
        note: `sent at ${Math.round(run.steady.achievedPerSecond)}/s; ${latencyNote(run.steady)}`,
      },
    );
    if (run.store === 'SQLite') {
      metrics.push({
        section: '4. Footprint',
        name: 'RSS after the SQLite intake runs',
        value: run.rssAfterMb,
        unit: 'MB',
      });
    }
  }
  for (const { store, reason } of failures) {
    metrics.push({ section: SECTION, name: `${store} intake`, value: null, unit: '', note: reason });
  }
  return {
    metrics,
    details: { connections: CONNECTIONS, bare: { before: bareBefore, after: bareAfter }, runs, failures },
  };
}
