/**
 * lastgood as a real process: `node src/main.ts` spawned with its own environment on a free port, spoken to over
 * real sockets, killed with real signals. For the tests whose promises (nothing lost, nothing done twice) only
 * mean something across process death.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testEnv, untilRollbackEnds } from './app.ts';
import { recordLogLines } from './log-sink.ts';
import { until } from './poll.ts';
import { VIEWER_TOKEN, WEBHOOK_TOKEN } from './tokens.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
export const EXAMPLE_POLICY_PATH = fileURLToPath(new URL('../../examples/lastgood.yaml', import.meta.url));

/**
 * Timings for processes under test: jobs found and taken over within about a second, Google retries and polls in
 * milliseconds, a short shutdown grace; rate limits out of the way of bursts and readiness polling.
 */
export const REPLICA_ENV: Readonly<Record<string, string>> = {
  LASTGOOD_JOB_POLL: '100ms',
  LASTGOOD_JOB_LEASE: '1s',
  LASTGOOD_POLL_INTERVAL: '10ms',
  LASTGOOD_GOOGLE_RETRY_DELAYS: '10ms,20ms,30ms',
  LASTGOOD_GOOGLE_DEADLINE: '5s',
  LASTGOOD_ROLLBACK_TIMEOUT: '10s',
  LASTGOOD_SHUTDOWN_GRACE: '3s',
  LASTGOOD_RATE_LIMIT_INTAKE: '1000000/1m',
  LASTGOOD_RATE_LIMIT_OPERATOR: '1000000/1m',
  LASTGOOD_RATE_LIMIT_ANONYMOUS: '1000000/1m',
};

/** A PostgreSQL URL whose connections all work in `schema` (libpq's `options=-c search_path=`). */
export function schemaUrl(databaseUrl: string, schema: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `performance.now()` when the parent saw it exit. */
  at: number;
}

export interface LastgoodProcess {
  /** Also its `LASTGOOD_WORKER_ID`, so job leases and the timeline name it. */
  readonly name: string;
  readonly pid: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  readonly exited: Promise<ProcessExit>;
  /**
   * Resolves once `/readyz` answers 200 and the Google clients, built after readiness, are built; fails with the
   * process's output if it exits or takes too long. Building a client blocks the process for 100-250 ms, seconds
   * on a loaded runner: a job running meanwhile would lose these tests' 1 s lease and be claimed again, which is
   * correct (its fence stops it) but not what a test of takeover or shutdown counts on.
   */
  waitReady(timeoutMs?: number): Promise<void>;
  /** SIGKILL: no handler runs, nothing is flushed or released. */
  kill9(): Promise<ProcessExit>;
  /** Sends SIGTERM and returns at once, with the moment it was sent (`performance.now()`). */
  sigterm(): number;
  /** Makes sure it is gone (SIGKILL when still running); for afterEach. */
  dispose(): Promise<void>;
}

export interface StartOptions {
  name: string;
  /** Added to (and overriding) the test environment: tokens, example policy, `REPLICA_ENV`. */
  env: Record<string, string>;
  /** Open file limit (`ulimit -n`) for the process, as a container's default of 1,024; default: the runner's. */
  fdLimit?: number;
  /** Test-environment variables to leave out, e.g. `LASTGOOD_WEBHOOK_TOKENS` when the tokens come from a secret. */
  unset?: readonly string[];
}

/** A port nothing listens on just now, for a process under test to listen on. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('no free port');
  return address.port;
}

/**
 * Spawns `node src/main.ts` with the test tokens, the example policy and `REPLICA_ENV`, plus `options.env`. The
 * environment is built from scratch, so nothing of the runner's (a stray `DATABASE_URL`, say) leaks in. Its
 * output goes to a file, not a pipe: a pipe that a busy test process is slow to read fills up, and then every log
 * line the server writes blocks it, which under load made a draining server miss its shutdown grace by half a
 * second. Once it exits, the output goes to the run's log sink, which the teardown scans for leaked credentials.
 */
export async function startLastgood(options: StartOptions): Promise<LastgoodProcess> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    // Node's on-disk cache of compiled modules: a second start skips most of the ~1 s spent compiling the Google
    // clients, which keeps a suite that starts a dozen processes inside its time budget.
    NODE_COMPILE_CACHE: join(tmpdir(), 'lastgood-test-compile-cache'),
    // The SQLite data dir when a test gives none: a fresh one, never a path inside the repository.
    ...testEnv(join(tmpdir(), `lastgood-replica-unused-${randomBytes(4).toString('hex')}`), {
      LASTGOOD_CONFIG: EXAMPLE_POLICY_PATH,
      PORT: String(port),
      HOST: '127.0.0.1',
      LASTGOOD_WORKER_ID: options.name,
      LOG_LEVEL: 'info',
      ...REPLICA_ENV,
      ...options.env,
    }),
  };
  for (const name of options.unset ?? []) delete env[name];
  const outputPath = join(tmpdir(), `lastgood-${options.name}-${randomBytes(4).toString('hex')}.log`);
  const outputFd = openSync(outputPath, 'w');
  // `exec` keeps the pid, so signals and kill9 still reach lastgood itself.
  const [command, args] =
    options.fdLimit === undefined
      ? [process.execPath, [MAIN]]
      : ['/bin/sh', ['-c', `ulimit -n ${options.fdLimit} && exec "$0" "$1"`, process.execPath, MAIN]];
  const child: ChildProcess = spawn(command, args, { env, stdio: ['ignore', outputFd, outputFd] });
  closeSync(outputFd);
  let finalOutput: string | null = null;
  const output = () => finalOutput ?? readFileSync(outputPath, 'utf8');
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      const at = performance.now();
      finalOutput = output();
      rmSync(outputPath, { force: true });
      recordLogLines(finalOutput);
      resolve({ code, signal, at });
    });
  });
  const url = `http://127.0.0.1:${port}`;
  let exit: ProcessExit | null = null;
  void exited.then((value) => {
    exit = value;
  });

  return {
    name: options.name,
    pid: child.pid ?? -1,
    url,
    output,
    exited,
    async waitReady(timeoutMs = 15_000) {
      await until(
        async () => {
          if (exit !== null) {
            throw new Error(
              `${options.name} exited (${JSON.stringify(exit)}) before it was ready:\n${output()}`,
            );
          }
          try {
            return (await fetch(`${url}/readyz`)).status === 200 && output().includes('Google clients built');
          } catch {
            return false; // Not listening yet.
          }
        },
        () => `${options.name} to be ready with its Google clients built:\n${output()}`,
        { timeoutMs, everyMs: 25 },
      );
    },
    async kill9() {
      child.kill('SIGKILL');
      return exited;
    },
    sigterm() {
      const at = performance.now();
      child.kill('SIGTERM');
      return at;
    },
    async dispose() {
      if (exit === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** What a webhook POST came to: an HTTP answer, or a transport error (refused, reset, process gone). */
export interface AlertResult {
  /** `performance.now()` just before the request was sent, and when its answer (or error) came. */
  sentAt: number;
  doneAt: number;
  status: number | null;
  body: { alertId?: string; decisionId?: string; duplicate?: boolean; reason?: string; code?: string } | null;
  /** The answer's `Retry-After` header, if any. */
  retryAfter: string | null;
  error: string | null;
}

/** Posts a Cloud Monitoring notification to the webhook with the test token. Never throws. */
export async function postAlert(baseUrl: string, payload: unknown): Promise<AlertResult> {
  const sentAt = performance.now();
  try {
    const response = await fetch(
      `${baseUrl}/webhook/error-budget-alert?auth_token=${encodeURIComponent(WEBHOOK_TOKEN)}`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) },
    );
    const text = await response.text();
    let body: AlertResult['body'] = null;
    try {
      body = JSON.parse(text) as AlertResult['body'];
    } catch {
      body = null;
    }
    return {
      sentAt,
      doneAt: performance.now(),
      status: response.status,
      body,
      retryAfter: response.headers.get('retry-after'),
      error: null,
    };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return {
      sentAt,
      doneAt: performance.now(),
      status: null,
      body: null,
      retryAfter: null,
      error: cause?.code ?? cause?.message ?? String(error),
    };
  }
}

/** GETs a viewer route (status, recent) and returns its JSON; fails on a non-200 answer. */
export async function viewerGet<T>(baseUrl: string, path: string): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
  if (response.status !== 200)
    throw new Error(`GET ${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** A decision's status as `GET /rollback/status/:id` answers it. */
export interface StatusBody {
  decision: { id: string; action: string; reason: string };
  rollback: {
    state: string;
    fromRevision: string | null;
    toRevision: string | null;
    error: { code: string; message: string } | null;
  } | null;
  timeline: { at: string; step: string; detail: Record<string, unknown> }[];
}

/** Polls the status route until the decision's rollback is terminal. */
export async function waitForTerminal(
  baseUrl: string,
  decisionId: string,
  timeoutMs = 15_000,
): Promise<StatusBody> {
  return untilRollbackEnds(
    decisionId,
    () => viewerGet<StatusBody>(baseUrl, `/rollback/status/${decisionId}`),
    { timeoutMs, everyMs: 25 },
  );
}

/** Every alert the store holds from the last hour, read through `GET /rollback/recent` page by page. */
export async function recentAlerts(baseUrl: string): Promise<{ id: string; incidentId: string }[]> {
  const alerts: { id: string; incidentId: string }[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: { alert: { id: string; incidentId: string } | null }[]; nextCursor: string | null } =
      await viewerGet(
        baseUrl,
        `/rollback/recent?hours=1&limit=500${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
      );
    for (const item of page.items) if (item.alert !== null) alerts.push(item.alert);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return alerts;
}
