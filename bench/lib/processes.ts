import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../scripts/lib/processes.ts';

const REPO = new URL('../../', import.meta.url).pathname;

/** Where `--cpu-prof` writes its profiles: gitignored, next to the results they explain. */
const PROFILE_DIR = join(REPO, 'bench/results');

/** Credentials for one bench run: random, so nothing the bench starts accepts a published token. */
export const TOKENS = (() => {
  const viewer = randomBytes(24).toString('hex');
  return {
    webhook: randomBytes(24).toString('hex'),
    viewer,
    operatorEntry: `bench:viewer:${createHash('sha256').update(viewer).digest('hex')}`,
  };
})();

/** A server the bench started as its own process, as it runs in production. */
export interface ServerProcess {
  url: string;
  /** Process spawn to the first 200 from the readiness URL. */
  readyMs: number;
  /** Resident set size now, from /proc (Linux). */
  rssMb(): number;
  /** Resolves once this process has written `text` to its log; throws after `timeoutMs`. */
  logged(text: string, timeoutMs: number): Promise<void>;
  /** SIGTERM, then waits for the exit (so `--cpu-prof` gets to write its profile). */
  stop(): Promise<void>;
}

interface SpawnOptions {
  script: string;
  env: Record<string, string>;
  readyPath: string;
  logPath: string;
  cpuProfile: boolean;
  /** The directory the script is in and runs from: the repository unless said (e.g. an image layout). */
  cwd?: string | undefined;
  /** Who it runs as: this process's user unless said (the image's runtime user, when the bench is root). */
  user?: { uid: number; gid: number } | undefined;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) / 1024;
}

async function spawnServer(options: SpawnOptions): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = openSync(options.logPath, 'a');
  // Earlier processes of a section may share the log; this one's lines start here.
  const logFrom = statSync(options.logPath).size;
  const profileArgs = options.cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [];
  const startedAt = performance.now();
  const cwd = options.cwd ?? REPO;
  const child = spawn(process.execPath, [...profileArgs, join(cwd, options.script)], {
    cwd,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...options.env },
    stdio: ['ignore', log, log],
    ...options.user,
  });
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitUntilReady(`${url}${options.readyPath}`, child, options.logPath);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const readyMs = performance.now() - startedAt;
  const pid = child.pid ?? 0;
  return {
    url,
    readyMs,
    rssMb: () => rssMb(pid),
    async logged(text, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!readFileSync(options.logPath).subarray(logFrom).toString('utf8').includes(text)) {
        if (Date.now() > deadline)
          throw new Error(`"${text}" not in ${options.logPath} within ${timeoutMs} ms`);
        await sleep(20);
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function waitUntilReady(readyUrl: string, child: ChildProcess, logPath: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${readyUrl} exited with ${child.exitCode}; see ${logPath}`);
    try {
      if ((await fetch(readyUrl)).ok) return;
    } catch {
      // Not listening yet.
    }
    // Short enough that the poll adds little to the cold-start figure.
    await sleep(2);
  }
  throw new Error(`${readyUrl} did not become ready within 30 s; see ${logPath}`);
}

/** What a lastgood process is started with; everything else is the production default. */
export interface LastgoodOptions {
  policyFile: string;
  dataDir: string;
  logPath: string;
  databaseUrl?: string;
  emulatorHost?: string;
  cpuProfile: boolean;
  /** Extra settings, e.g. fast job polling, or the image's NODE_ENV and NODE_COMPILE_CACHE. */
  env?: Record<string, string>;
  /** Start `src/main.ts` of this directory (an image layout) instead of the repository's. */
  cwd?: string;
  user?: { uid: number; gid: number } | undefined;
}

/** Budgets no bench load reaches: the bench measures the paths, not the limiters refusing or spacing them. */
const UNLIMITED = '9999999/1s';

/** Starts `node src/main.ts` with the bench's tokens and returns once `/readyz` answers 200. */
export function startLastgood(options: LastgoodOptions): Promise<ServerProcess> {
  return spawnServer({
    script: 'src/main.ts',
    readyPath: '/readyz',
    logPath: options.logPath,
    cpuProfile: options.cpuProfile,
    cwd: options.cwd,
    user: options.user,
    env: {
      LASTGOOD_CONFIG: options.policyFile,
      LASTGOOD_DATA_DIR: options.dataDir,
      LASTGOOD_WEBHOOK_TOKENS: TOKENS.webhook,
      LASTGOOD_OPERATOR_TOKENS: TOKENS.operatorEntry,
      LASTGOOD_RATE_LIMIT_INTAKE: UNLIMITED,
      LASTGOOD_RATE_LIMIT_OPERATOR: UNLIMITED,
      // Section 2 sends 255 rollbacks in one project and region within a minute: the write quota would space them.
      LASTGOOD_GOOGLE_WRITE_RATE: UNLIMITED,
      ...(options.databaseUrl === undefined ? {} : { DATABASE_URL: options.databaseUrl }),
      ...(options.emulatorHost === undefined
        ? {}
        : { CLOUD_RUN_EMULATOR_HOST: options.emulatorHost, MONITORING_EMULATOR_HOST: options.emulatorHost }),
      ...options.env,
    },
  });
}

/**
 * Starts lastgood against an emulator for a section, in the section's own directory: its policy file, its data and
 * its log all live there.
 */
export function startLastgoodInDir(options: {
  dir: string;
  policyYaml: string;
  emulatorHost: string;
  cpuProfile: boolean;
  env?: Record<string, string>;
}): Promise<ServerProcess> {
  const policyFile = join(options.dir, 'policy.yaml');
  writeFileSync(policyFile, options.policyYaml);
  return startLastgood({
    policyFile,
    dataDir: options.dir,
    logPath: join(options.dir, 'lastgood.log'),
    emulatorHost: options.emulatorHost,
    cpuProfile: options.cpuProfile,
    ...(options.env === undefined ? {} : { env: options.env }),
  });
}

/** Starts the bare Fastify reference (bench/bare-fastify.ts) the same way. */
export function startBareFastify(logPath: string, cpuProfile: boolean): Promise<ServerProcess> {
  return spawnServer({ script: 'bench/bare-fastify.ts', readyPath: '/readyz', logPath, cpuProfile, env: {} });
}
