import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { SqlStore } from '../../src/store/sql-store.ts';
import { openSqliteDriver, type SyncFile } from '../../src/store/sqlite.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { type TestApp, useTestApps, waitForRollback, webhookUrl } from '../helpers/app.ts';
import { GOOD_REVISION, servingSplit, useExampleEmulator } from '../helpers/emulator.ts';
import { until } from '../helpers/poll.ts';

const ENV = { LASTGOOD_JOB_POLL: '10m', LASTGOOD_JOB_LEASE: '30s' };
const READS = ['GetService', 'ListRevisions', 'ListTimeSeries'];

/** The store's WAL sync, held by the test once it says so, or failed: a commit made then is not yet durable. */
function heldSync() {
  let holding = false;
  const held: ((error?: Error) => void)[] = [];
  return {
    sync: (async () => {
      if (!holding) return;
      await new Promise<void>((resolve, reject) =>
        held.push((error) => (error === undefined ? resolve() : reject(error))),
      );
    }) satisfies SyncFile,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const settle of held.splice(0)) settle();
    },
    fail() {
      holding = false;
      for (const settle of held.splice(0))
        settle(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    },
    get waiting() {
      return held.length;
    },
  };
}

let emulator: Emulator;
useExampleEmulator((started) => {
  emulator = started;
});
const start = useTestApps();
const dirs: string[] = [];
const syncs: ReturnType<typeof heldSync>[] = [];
afterEach(() => {
  for (const wal of syncs.splice(0)) wal.release();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function appWithHeldSync(): Promise<{ t: TestApp; wal: ReturnType<typeof heldSync> }> {
  const wal = heldSync();
  syncs.push(wal);
  const dir = mkdtempSync(join(tmpdir(), 'lastgood-early-reads-'));
  dirs.push(dir);
  const t = await start({
    emulatorHost: emulator.host,
    env: ENV,
    openStore: async () => {
      const store = new SqlStore(openSqliteDriver(dir, wal.sync));
      await store.migrate();
      return store;
    },
  });
  return { t, wal };
}

function postAlert(t: TestApp) {
  return t.app.server.inject({ method: 'POST', url: webhookUrl(), payload: burnRateAlert() });
}

/** The methods the emulator was asked for since the `from`th call, in order. */
function methodsSince(from: number): string[] {
  return emulator.calls
    .list()
    .slice(from)
    .map((call) => call.method);
}

describe('a rollback reads Google while its decision is made durable', () => {
  it('sends its reads before the decision is on disk, and reads nothing again once its job runs', async () => {
    const { t, wal } = await appWithHeldSync();
    const before = emulator.calls.list().length;
    wal.hold();
    let answered = false;
    const response = postAlert(t).then((answer) => {
      answered = true;
      return answer;
    });
    await until(
      () => READS.every((method) => methodsSince(before).includes(method)),
      'GetService, ListRevisions and ListTimeSeries to reach the emulator',
    );
    // The decision's commit waits for its sync: no answer yet, and nothing changed.
    expect(wal.waiting).toBeGreaterThan(0);
    expect(answered).toBe(false);
    expect(methodsSince(before)).not.toContain('UpdateService');

    wal.release();
    const accepted = await response;
    expect(accepted.statusCode).toBe(202);
    const status = await waitForRollback(t.store, accepted.json().decisionId);
    expect(status.rollback).toMatchObject({ state: 'succeeded', toRevision: GOOD_REVISION });
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
    const calls = methodsSince(before);
    const upToUpdate = calls.slice(0, calls.indexOf('UpdateService') + 1);
    // Each read once, all before the one UpdateService: the job used the answers to the reads sent early.
    expect(upToUpdate.toSorted()).toEqual([...READS, 'UpdateService'].toSorted());
    expect(calls.filter((method) => method === 'UpdateService')).toHaveLength(1);
    expect(status.timeline.map((event) => event.step)).toEqual(
      expect.arrayContaining(['judged', 'service_read', 'lkg_selected', 'api_call_issued', 'verified']),
    );
  });

  it('changes nothing when the decision does not become durable', async () => {
    const { t, wal } = await appWithHeldSync();
    const before = emulator.calls.list().length;
    wal.hold();
    const response = postAlert(t);
    await until(() => methodsSince(before).includes('GetService'), 'the early GetService to be sent');
    wal.fail();
    expect((await response).statusCode).toBe(503);
    // Long enough for a job to have reached UpdateService, had one been started.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(methodsSince(before)).not.toContain('UpdateService');
    expect(servingSplit(emulator)).not.toEqual({ [GOOD_REVISION]: 100 });
    expect(t.app.worker?.activeJobs).toBe(0);
  });

  it('records the retry of an early read in the rollback timeline, and rolls back once', async () => {
    const { t } = await appWithHeldSync();
    emulator.faults.inject({ kind: 'unavailable', method: 'GetService', times: 1 });
    const accepted = await postAlert(t);
    expect(accepted.statusCode).toBe(202);
    const status = await waitForRollback(t.store, accepted.json().decisionId);
    expect(status.rollback?.state).toBe('succeeded');
    expect(status.timeline.filter((event) => event.step === 'google_retry')).toEqual([
      expect.objectContaining({ detail: expect.objectContaining({ method: 'GetService', attempt: 1 }) }),
    ]);
    expect(emulator.calls.count('UpdateService')).toBe(1);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
  });
});
