/**
 * The store failing under a real lastgood process: PostgreSQL losing its backends and then refusing connections,
 * SQLite on a full disk, SQLite on a read-only filesystem. The filesystems are real: a tmpfs of a few megabytes is
 * mounted for the test (it runs as root in CI; elsewhere it fails saying so), because the failure under test is the
 * kernel's ENOSPC or EROFS reaching SQLite, which no chmod reproduces for root and no test-only switch would prove.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, it, vi } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { until } from '../helpers/poll.ts';
import { TEST_DATABASE_URL } from '../helpers/postgres.ts';
import { type AlertResult, type LastgoodProcess, postAlert, startLastgood } from '../helpers/process.ts';
import {
  type DedicatedPostgres,
  dedicatedPostgresUnderTest,
  sqliteUnderTest,
} from '../helpers/store-under-test.ts';
import { emulatorEnv, replicaWorld } from './support.ts';

/** Exit code of a refused start (sysexits EX_CONFIG), as src/main.ts exits. */
const EX_CONFIG = 78;

/** A tmpfs of `size` (as mount(8) reads it), mounted on a fresh directory; unmounted when the test ends. */
function mountTmpfs(onTestFinished: (fn: () => Promise<void>) => void, size: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lastgood-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'lastgood-test', dir], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(
      `the store-outage tests mount a small tmpfs to fill it up or make it read-only, which needs root ` +
        `(CAP_SYS_ADMIN): ${String((error as { stderr?: Buffer }).stderr ?? error)}`,
    );
  }
  onTestFinished(async () => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Writes zeros to `path` until the filesystem says it is full. */
function fillUp(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

/** Alerts sent back to back by a few senders until stopped, each to the `payments` target (dry-run: no Google). */
function alertLoad(url: string, tag: string) {
  const results: AlertResult[] = [];
  let stopped = false;
  let n = 0;
  const sender = async () => {
    while (!stopped) {
      results.push(
        await postAlert(url, burnRateAlert({ incidentId: `0.${tag}-${n++}`, target: 'payments' })),
      );
      await sleep(5);
    }
  };
  const senders = Promise.all(Array.from({ length: 4 }, sender));
  return {
    results,
    count: (status: number) => results.filter((result) => result.status === status).length,
    async stop() {
      stopped = true;
      await senders;
    },
  };
}

/** `/readyz`'s status; a process that no longer answers fails the test with the end of its output. */
async function readyz(lastgood: LastgoodProcess): Promise<number> {
  try {
    return (await fetch(`${lastgood.url}/readyz`)).status;
  } catch (error) {
    throw new Error(
      `${lastgood.name} did not answer /readyz (${String(error)}):\n${lastgood.output().slice(-4000)}`,
    );
  }
}

/**
 * What every answer during an outage must be: a 2xx (the alert is stored), or a 503 LASTGOOD_ERR_UNAVAILABLE with
 * Retry-After, which Cloud Monitoring and Pub/Sub retry. Never a 500, never a transport error.
 */
function unexpected(results: readonly AlertResult[]): string[] {
  return results
    .filter(
      (result) =>
        !(result.status !== null && result.status >= 200 && result.status < 300) &&
        !(
          result.status === 503 &&
          result.body?.code === 'LASTGOOD_ERR_UNAVAILABLE' &&
          Number(result.retryAfter) > 0
        ),
    )
    .map((result) => `${result.status ?? result.error} ${JSON.stringify(result.body)} ${result.retryAfter}`);
}

async function storedAlertIds(world: {
  store: { query: (sql: string) => Promise<Record<string, unknown>[]> };
}) {
  return new Set((await world.store.query('SELECT id FROM alerts')).map((row) => String(row.id)));
}

function acknowledgedIds(results: readonly AlertResult[]): string[] {
  return results.filter((result) => result.status === 202).map((result) => result.body!.alertId!);
}

// Each test runs in its own world (emulator, store, tmpfs) while the others run: a lastgood start and an outage
// under alert load, beside three more, on a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

describe.concurrent('the store fails under a running lastgood', () => {
  it('PostgreSQL backends killed, then connections refused: alerts answer 2xx or 503 with Retry-After, /readyz 503 until it is back', async ({
    expect,
    onTestFinished,
  }) => {
    const world = await replicaWorld({ onTestFinished }, dedicatedPostgresUnderTest);
    const store = world.store as DedicatedPostgres;
    const database = new URL(store.env.DATABASE_URL!).pathname.slice(1);
    const lastgood = await world.start('outage-pg');
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    onTestFinished(() => admin.end());

    const load = alertLoad(lastgood.url, 'pg');
    onTestFinished(() => load.stop());
    await until(() => load.count(202) >= 20, '20 alerts acknowledged before the outage');
    // Every connection lastgood holds is ended every 0.2 s, mid-query or idle, as a failover or an admin would.
    for (let i = 0; i < 8; i++) {
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [database],
      );
      await sleep(200);
    }
    await store.refuseConnections();
    const downAt = load.results.length;
    const readyWhileDown: number[] = [];
    for (let i = 0; i < 6; i++) {
      await sleep(300);
      readyWhileDown.push(await readyz(lastgood));
    }
    await until(
      () => load.results.length > downAt + 20,
      'alerts answered while PostgreSQL refuses connections',
    );
    await store.allowConnections();
    await until(async () => (await readyz(lastgood)) === 200, '/readyz 200 once PostgreSQL is back');
    const backAt = load.results.length;
    await until(
      () => load.results.slice(backAt).filter((result) => result.status === 202).length >= 10,
      'alerts acknowledged again',
    );
    await load.stop();

    expect(unexpected(load.results)).toEqual([]);
    expect(load.count(503)).toBeGreaterThanOrEqual(10);
    expect(readyWhileDown.every((status) => status === 503)).toBe(true);
    const stored = await storedAlertIds(world);
    expect(acknowledgedIds(load.results).filter((id) => !stored.has(id))).toEqual([]);
  });

  it('SQLite on a full disk: alerts answer 503 with Retry-After and /readyz 503, and both recover once space is freed', async ({
    expect,
    onTestFinished,
  }) => {
    const mount = mountTmpfs(onTestFinished, '16m');
    const world = await replicaWorld({ onTestFinished }, async () => sqliteUnderTest(mount));
    const lastgood = await world.start('outage-full-disk');

    const load = alertLoad(lastgood.url, 'full');
    onTestFinished(() => load.stop());
    await until(() => load.count(202) >= 20, '20 alerts acknowledged before the disk fills');
    const filler = join(mount, 'filler');
    fillUp(filler);
    const filledAt = load.results.length;
    await until(
      () => load.results.slice(filledAt).filter((result) => result.status !== 202).length >= 20,
      '20 alerts refused on the full disk',
    );
    const readyWhileFull = await readyz(lastgood);
    unlinkSync(filler);
    const freedAt = load.results.length;
    await until(
      () => load.results.slice(freedAt).filter((result) => result.status === 202).length >= 10,
      'alerts acknowledged once space is freed',
    );
    await until(async () => (await readyz(lastgood)) === 200, '/readyz 200 once space is freed');
    await load.stop();

    expect(unexpected(load.results)).toEqual([]);
    expect(readyWhileFull).toBe(503);
    const stored = await storedAlertIds(world);
    expect(acknowledgedIds(load.results).filter((id) => !stored.has(id))).toEqual([]);
  });

  it.for([
    // Its clean stop removed the WAL, which SQLite cannot create again on a read-only filesystem.
    {
      how: 'stopped cleanly',
      stop: (process: LastgoodProcess) => process.sigterm(),
      code: 'SQLITE_CANTOPEN',
    },
    {
      how: 'killed, its WAL and shared-memory files left behind',
      stop: (process: LastgoodProcess) => process.kill9(),
      // It opens (the WAL is there to read), and the write made at start is refused.
      code: 'SQLITE_READONLY',
    },
  ])(
    'SQLite on a filesystem turned read-only after lastgood $how: refuses to start, saying the store cannot be written',
    async ({ how, stop, code }, { expect, onTestFinished }) => {
      const mount = mountTmpfs(onTestFinished, '16m');
      let dataDir = '';
      const world = await replicaWorld({ onTestFinished }, async () => {
        const store = sqliteUnderTest(mount);
        dataDir = store.dataDir;
        return store;
      });
      const first = await world.start(`outage-before-read-only-${how.split(',')[0]!.replace(/\W+/g, '-')}`);
      await postAlert(first.url, burnRateAlert({ target: 'payments' }));
      stop(first);
      await first.exited;
      execFileSync('mount', ['-o', 'remount,ro', mount]);
      // Registered after the world, so it runs before the world's teardown removes the data dir.
      onTestFinished(async () => {
        execFileSync('mount', ['-o', 'remount,rw', mount]);
      });

      const second = await startLastgood({
        name: 'outage-read-only',
        env: { ...world.store.env, ...emulatorEnv(world.emulator) },
      });
      onTestFinished(() => second.dispose());
      const exit = await Promise.race([
        second.exited,
        second.waitReady().then(() => {
          throw new Error(`started instead of refusing:\n${second.output()}`);
        }),
      ]);
      expect(exit.code).toBe(EX_CONFIG);
      expect(second.output()).toContain(
        `lastgood: refusing to start: the SQLite store in ${dataDir} (LASTGOOD_DATA_DIR) cannot be written: ${code}`,
      );
    },
  );
});
