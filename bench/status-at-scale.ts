/**
 * 5. Status at scale: the read API's latency when the store holds a million alerts (30 days of an incident-heavy
 * fleet), measured through a lastgood process on that store.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { percentile } from '../src/domain/stats.ts';
import { MIGRATIONS } from '../src/store/migrations.ts';
import type { BenchContext } from './lib/context.ts';
import { startLastgood, TOKENS } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';
import { deleteAlertsAfter, seedAlerts } from './lib/seed-store.ts';

const SECTION = '5. Status at scale';
const CACHE = new URL('.cache/', import.meta.url).pathname;
/** Bump when seed-store.ts changes what it writes, so an old cached store is not reused. */
const GENERATOR_VERSION = 2;
const DAY_MS = 86_400_000;
const HISTORY_DAYS = 30;
const POLICY_FILE = new URL('../examples/lastgood.yaml', import.meta.url).pathname;

interface CacheMeta {
  /** Alerts after this were added by a run for its own last 24 hours, and are replaced by the next run. */
  historyUntil: number;
  generatedSeconds: number;
}

/**
 * A SQLite store with `count` alerts: 29 days of history, generated once into bench/.cache (several GB for a
 * million, too slow to write on every run) and reused while the schema and generator are unchanged, plus a
 * thirtieth of `count` received in the 24 hours before this run, so `/rollback/recent?hours=24` has a full day.
 */
async function storeWithAlerts(ctx: BenchContext, count: number) {
  const schema = MIGRATIONS.at(-1)?.version ?? 0;
  const dataDir = join(CACHE, `alerts-${count}-schema${schema}-generator${GENERATOR_VERSION}`);
  const metaPath = join(dataDir, 'bench-cache.json');
  const lastDay = Math.round(count / HISTORY_DAYS);
  const progress = (total: number) => (done: number) => {
    if (done === total || done % 100_000 === 0)
      ctx.log(`status at scale: ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} alerts`);
  };
  let meta: CacheMeta | null = existsSync(metaPath)
    ? (JSON.parse(readFileSync(metaPath, 'utf8')) as CacheMeta)
    : null;
  const reused = meta !== null;
  if (meta === null) {
    ctx.log(
      `status at scale: generating ${count - lastDay} alerts of history into ${dataDir} (once; reused after)`,
    );
    // Stores of an older schema or generator are never read again, and each is gigabytes.
    for (const stale of existsSync(CACHE) ? readdirSync(CACHE) : []) {
      if (stale.startsWith(`alerts-${count}-`)) rmSync(join(CACHE, stale), { recursive: true, force: true });
    }
    mkdirSync(dataDir, { recursive: true });
    const startedAt = performance.now();
    const historyUntil = Date.now() - DAY_MS;
    await seedAlerts({
      dataDir,
      count: count - lastDay,
      incidentPrefix: 'history',
      from: historyUntil - (HISTORY_DAYS - 1) * DAY_MS,
      until: historyUntil,
      onProgress: progress(count - lastDay),
    });
    meta = { historyUntil, generatedSeconds: (performance.now() - startedAt) / 1000 };
    writeFileSync(metaPath, JSON.stringify(meta));
  } else {
    deleteAlertsAfter(dataDir, meta.historyUntil);
  }
  const now = Date.now();
  await seedAlerts({
    dataDir,
    count: lastDay,
    incidentPrefix: `day-${now}`,
    from: now - DAY_MS,
    until: now,
    onProgress: progress(lastDay),
  });
  return { dataDir, reused, generatedSeconds: meta.generatedSeconds };
}

/** `samples` decision ids picked uniformly from the whole store. */
function randomDecisionIds(dataDir: string, samples: number): string[] {
  const db = new DatabaseSync(join(dataDir, 'lastgood.db'), { readOnly: true });
  try {
    const maxRowid = Number((db.prepare('SELECT MAX(rowid) AS n FROM decisions').get() as { n: number }).n);
    const byRowid = db.prepare('SELECT id FROM decisions WHERE rowid = ?');
    const ids: string[] = [];
    while (ids.length < samples) {
      const row = byRowid.get(1 + Math.floor(Math.random() * maxRowid)) as { id: string } | undefined;
      if (row) ids.push(row.id);
    }
    return ids;
  } finally {
    db.close();
  }
}

/** One request at a time, so each latency is the query's and the HTTP stack's, not time queued behind others. */
async function sequentialLatencies(baseUrl: string, paths: readonly string[]): Promise<number[]> {
  const latencies: number[] = [];
  for (const path of paths) {
    const startedAt = performance.now();
    const response = await fetch(`${baseUrl}${path}`, {
      headers: { authorization: `Bearer ${TOKENS.viewer}` },
    });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
    latencies.push(performance.now() - startedAt);
  }
  return latencies.sort((a, b) => a - b);
}

export async function benchStatusAtScale(ctx: BenchContext) {
  const count = ctx.quick ? 100_000 : 1_000_000;
  const requests = ctx.quick ? 300 : 1_000;
  const store = await storeWithAlerts(ctx, count);
  const ids = randomDecisionIds(store.dataDir, requests);
  const dir = ctx.dir('status-at-scale');
  const server = await startLastgood({
    policyFile: POLICY_FILE,
    dataDir: store.dataDir,
    logPath: join(dir, 'lastgood.log'),
    cpuProfile: ctx.cpuProfile,
  });
  const recentPath = '/rollback/recent?hours=24';
  let recent: number[];
  let status: number[];
  try {
    ctx.log(`status at scale: ${requests} of each query on ${count.toLocaleString('en-US')} alerts`);
    // A warm-up, as a long-running server would have: JIT-compiled handlers, the index pages in memory.
    await sequentialLatencies(server.url, [
      ...Array(50).fill(recentPath),
      ...randomDecisionIds(store.dataDir, 50).map((id) => `/rollback/status/${id}`),
    ]);
    recent = await sequentialLatencies(server.url, Array(requests).fill(recentPath));
    status = await sequentialLatencies(
      server.url,
      ids.map((id) => `/rollback/status/${id}`),
    );
  } finally {
    await server.stop();
  }
  const p = (values: number[], q: number) => percentile(values, q) ?? Number.NaN;
  const source = store.reused
    ? `store cached in bench/.cache (generated once in ${store.generatedSeconds.toFixed(0)} s)`
    : `store generated in ${store.generatedSeconds.toFixed(0)} s`;
  const metrics: Metric[] = [
    {
      section: SECTION,
      name: `GET /rollback/recent?hours=24 p99, ${count.toLocaleString('en-US')} alerts`,
      value: p(recent, 0.99),
      unit: 'ms',
      target: { op: '<=', value: 20 },
      note: `SQLite; p50 ${p(recent, 0.5).toFixed(2)} ms over ${requests} sequential requests (50 per page); ${source}`,
    },
    {
      section: SECTION,
      name: `GET /rollback/status/:id p99, ${count.toLocaleString('en-US')} alerts`,
      value: p(status, 0.99),
      unit: 'ms',
      target: { op: '<=', value: 20 },
      note: `SQLite; p50 ${p(status, 0.5).toFixed(2)} ms over ${requests} random ids`,
    },
  ];
  return {
    metrics,
    details: {
      alerts: count,
      store: 'sqlite',
      cacheReused: store.reused,
      generatedSeconds: store.generatedSeconds,
      recentMs: { p50: p(recent, 0.5), p99: p(recent, 0.99), max: recent.at(-1) },
      statusMs: { p50: p(status, 0.5), p99: p(status, 0.99), max: status.at(-1) },
    },
  };
}
