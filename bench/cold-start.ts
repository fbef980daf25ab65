/**
 * 4. Cold start and footprint: process spawn to the first `/readyz` 200, and resident memory once idle; then the
 * same start in the container image's layout (its files, its user, its environment), beside the plain one.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile } from '../src/domain/stats.ts';
import { startEmulator } from '../src/emulator/emulator.ts';
import { loadFixtureFile } from '../src/emulator/fixture.ts';
import type { BenchContext } from './lib/context.ts';
import { type ImageLayout, imageLayout } from './lib/image.ts';
import { type LastgoodOptions, startLastgood } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';

const EXAMPLES = new URL('../examples/', import.meta.url).pathname;
const SECTION = '4. Footprint';

interface Starts {
  readyMs: number[];
  idleRssMb: number[];
}

const median = (values: number[]) => percentile(values, 0.5) ?? Number.NaN;
const sorted = (values: number[]) => values.toSorted((a, b) => a - b);

/** Starts lastgood `count` times, one after the other, measuring each start and its idle memory. */
async function measureStarts(
  count: number,
  settleMs: number,
  options: Omit<LastgoodOptions, 'policyFile' | 'cpuProfile'>,
  cpuProfile: boolean,
): Promise<Starts> {
  const starts: Starts = { readyMs: [], idleRssMb: [] };
  for (let i = 0; i < count; i++) {
    // The first start creates and migrates the database; the others open it, as a restart does.
    const server = await startLastgood({
      ...options,
      policyFile: join(EXAMPLES, 'lastgood.yaml'),
      cpuProfile,
    });
    try {
      starts.readyMs.push(server.readyMs);
      // The Google clients are built after readiness: idle memory is measured once they are, not before.
      if (options.emulatorHost !== undefined) await server.logged('Google clients warmed', 30_000);
      await sleep(settleMs);
      starts.idleRssMb.push(server.rssMb());
    } finally {
      await server.stop();
    }
  }
  return starts;
}

/**
 * The Dockerfile's warm-up step in the layout: `node src/main.ts` with no configuration loads every module, fills
 * NODE_COMPILE_CACHE, and stops with 78. `asRuntimeUser` false is the old Dockerfile, which ran it as root.
 */
function warmCompileCache(layout: ImageLayout, cacheDir: string, asRuntimeUser: boolean): void {
  const warmed = spawnSync(process.execPath, ['src/main.ts'], {
    cwd: layout.dir,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', NODE_COMPILE_CACHE: cacheDir },
    encoding: 'utf8',
    ...(asRuntimeUser ? layout.user : undefined),
  });
  if (warmed.status !== 78) throw new Error(`warm-up exited ${warmed.status}: ${warmed.stderr}`);
}

export async function benchColdStart(ctx: BenchContext) {
  const count = ctx.quick ? 5 : 10;
  const settleMs = ctx.quick ? 300 : 1_000;
  const dir = ctx.dir('cold-start');
  const emulator = await startEmulator({
    fixture: await loadFixtureFile(join(EXAMPLES, 'emulator-fixture.yaml')),
    adminPort: null,
  });
  let plain: Starts;
  try {
    ctx.log(`cold start: ${count} starts on SQLite with the example policy`);
    plain = await measureStarts(
      count,
      settleMs,
      { dataDir: dir, logPath: join(dir, 'lastgood.log'), emulatorHost: emulator.host },
      ctx.cpuProfile,
    );
  } finally {
    await emulator.stop();
  }

  // The image's layout: production mode refuses emulator hosts, so these starts have none (no Google call is made
  // before /readyz either way).
  const layout = imageLayout();
  const image: Record<'runtimeUser' | 'root', Starts | null> = { runtimeUser: null, root: null };
  const who =
    layout.user === undefined ? 'this user (not root, so it cannot switch)' : `uid ${layout.user.uid}`;
  try {
    // As root the old Dockerfile's mistake can be reproduced: the cache filled by root, the server run as node.
    const variants =
      layout.user === undefined ? (['runtimeUser'] as const) : (['runtimeUser', 'root'] as const);
    for (const variant of variants) {
      const cacheDir = join(layout.dir, `.compile-cache-${variant}`);
      if (variant === 'runtimeUser') layout.ownedDir(`.compile-cache-${variant}`);
      else mkdirSync(cacheDir);
      warmCompileCache(layout, cacheDir, variant === 'runtimeUser');
      ctx.log(`cold start: ${count} starts in the image layout as ${who}, cache warmed as ${variant}`);
      const dataDir = layout.ownedDir(`data-${variant}`);
      image[variant] = await measureStarts(
        count,
        settleMs,
        {
          dataDir,
          logPath: join(dir, `image-${variant}.log`),
          cwd: layout.dir,
          user: layout.user,
          // Production refuses to start without a session secret of its own.
          env: {
            NODE_ENV: 'production',
            NODE_COMPILE_CACHE: cacheDir,
            LASTGOOD_SESSION_SECRET: randomBytes(32).toString('base64'),
          },
        },
        false,
      );
    }
  } finally {
    rmSync(layout.dir, { recursive: true, force: true });
  }

  const startNote = (starts: Starts) => {
    const ready = sorted(starts.readyMs);
    return `median of ${count}; min ${ready[0]!.toFixed(0)} ms, max ${ready.at(-1)!.toFixed(0)} ms`;
  };
  const metrics: Metric[] = [
    {
      section: SECTION,
      name: 'cold start: spawn to /readyz 200',
      value: median(sorted(plain.readyMs)),
      unit: 'ms',
      target: { op: '<=', value: 1_000 },
      note: startNote(plain),
    },
    {
      section: SECTION,
      name: 'RSS idle',
      value: median(sorted(plain.idleRssMb)),
      unit: 'MB',
      target: { op: '<=', value: 150 },
      note: `median of ${count}, ${settleMs} ms after the Google clients were warmed`,
    },
  ];
  if (image.runtimeUser !== null) {
    metrics.push({
      section: SECTION,
      name: 'cold start in the image layout (cache warmed as the runtime user)',
      value: median(sorted(image.runtimeUser.readyMs)),
      unit: 'ms',
      target: { op: '<=', value: 1_000 },
      note: `${startNote(image.runtimeUser)}; ${who}, NODE_ENV=production, the Dockerfile's files and warm-up`,
    });
  }
  if (image.root !== null) {
    metrics.push({
      section: SECTION,
      name: 'cold start in the image layout, cache warmed as root (the old Dockerfile)',
      value: median(sorted(image.root.readyMs)),
      unit: 'ms',
      note: `${startNote(image.root)}; the runtime user finds no cache of its uid and cannot write one`,
    });
  }
  return { metrics, details: { plain, image } };
}
