/**
 * 4. Cold start and footprint: process spawn to the first `/readyz` 200, and resident memory once idle.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile } from '../src/domain/stats.ts';
import { startEmulator } from '../src/emulator/emulator.ts';
import { loadFixtureFile } from '../src/emulator/fixture.ts';
import type { BenchContext } from './lib/context.ts';
import { startLastgood } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';

const EXAMPLES = new URL('../examples/', import.meta.url).pathname;
const SECTION = '4. Footprint';

export async function benchColdStart(ctx: BenchContext) {
  const starts = ctx.quick ? 5 : 10;
  const settleMs = ctx.quick ? 300 : 1_000;
  const dir = ctx.dir('cold-start');
  const emulator = await startEmulator({
    fixture: await loadFixtureFile(join(EXAMPLES, 'emulator-fixture.yaml')),
    adminPort: null,
  });
  const readyMs: number[] = [];
  const idleRssMb: number[] = [];
  try {
    ctx.log(`cold start: ${starts} starts on SQLite with the example policy`);
    for (let i = 0; i < starts; i++) {
      // The first start creates and migrates the database; the others open it, as a restart does.
      const server = await startLastgood({
        policyFile: join(EXAMPLES, 'lastgood.yaml'),
        dataDir: dir,
        logPath: join(dir, 'lastgood.log'),
        emulatorHost: emulator.host,
        cpuProfile: ctx.cpuProfile,
      });
      try {
        readyMs.push(server.readyMs);
        await sleep(settleMs);
        idleRssMb.push(server.rssMb());
      } finally {
        await server.stop();
      }
    }
  } finally {
    await emulator.stop();
  }
  const sortedReady = readyMs.toSorted((a, b) => a - b);
  const sortedRss = idleRssMb.toSorted((a, b) => a - b);
  const median = (values: number[]) => percentile(values, 0.5) ?? Number.NaN;
  const metrics: Metric[] = [
    {
      section: SECTION,
      name: 'cold start: spawn to /readyz 200',
      value: median(sortedReady),
      unit: 'ms',
      target: { op: '<=', value: 1_000 },
      note: `median of ${starts}; min ${sortedReady[0]!.toFixed(0)} ms, max ${sortedReady.at(-1)!.toFixed(0)} ms`,
    },
    {
      section: SECTION,
      name: 'RSS idle',
      value: median(sortedRss),
      unit: 'MB',
      target: { op: '<=', value: 150 },
      note: `median of ${starts}, ${settleMs} ms after ready`,
    },
  ];
  return { metrics, details: { readyMs, idleRssMb } };
}
