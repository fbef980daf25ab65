import { DatabaseSync, StatementSync } from 'node:sqlite';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { LEASE_JOB } from '../../src/store/sql/jobs.ts';
import { fireAlert, requestManualRollback, useTestApps, waitForRollback } from '../helpers/app.ts';
import { PAYMENTS, servingSplit, useExampleEmulator } from '../helpers/emulator.ts';
import { until } from '../helpers/poll.ts';

const WORKER = 'claim-test-worker';
/** No poll in the test: a job that runs, runs because this process claimed it at once or was woken for it. */
const ENV = { LASTGOOD_WORKER_ID: WORKER, LASTGOOD_JOB_POLL: '10m', LASTGOOD_JOB_LEASE: '30s' };

interface Commit {
  statements: { sql: string; params: unknown[] }[];
  /** UpdateService calls the emulator had received when the COMMIT ran. */
  updateServices: number;
}

/**
 * Every SQLite transaction this process commits, with the statements it ran: the driver runs each statement
 * through `StatementSync` between `BEGIN IMMEDIATE` and `COMMIT`, and commits group-committed writes together.
 */
function recordCommits(emulator: Emulator): Commit[] {
  const commits: Commit[] = [];
  let statements: Commit['statements'] = [];
  for (const method of ['run', 'all'] as const) {
    const original = StatementSync.prototype[method] as (...params: unknown[]) => unknown;
    vi.spyOn(StatementSync.prototype, method).mockImplementation(function (
      this: StatementSync,
      ...params: unknown[]
    ) {
      statements.push({ sql: this.sourceSQL, params });
      return original.apply(this, params) as never;
    });
  }
  const exec = DatabaseSync.prototype.exec;
  vi.spyOn(DatabaseSync.prototype, 'exec').mockImplementation(function (this: DatabaseSync, sql: string) {
    if (sql === 'BEGIN IMMEDIATE') statements = [];
    exec.call(this, sql);
    if (sql === 'COMMIT') commits.push({ statements, updateServices: emulator.calls.count('UpdateService') });
  });
  return commits;
}

/** The timeline steps each commit wrote for `decisionId`, for the commits that wrote any. */
function stepsByCommit(
  commits: readonly Commit[],
  decisionId: string,
): { steps: string[]; commit: Commit }[] {
  return commits.flatMap((commit) => {
    const steps = commit.statements
      .filter(({ sql }) => sql.startsWith('INSERT INTO timeline'))
      // Each row's parameters: id, decision id, at, step, detail.
      .flatMap(({ params }) =>
        Array.from({ length: params.length / 5 }, (_, row) => params.slice(row * 5, row * 5 + 5)),
      )
      .filter((row) => row[1] === decisionId)
      .map((row) => String(row[3]));
    return steps.length === 0 ? [] : [{ steps, commit }];
  });
}

function claimQueries(commits: readonly Commit[]): number {
  return commits.flatMap((commit) => commit.statements).filter(({ sql }) => sql === LEASE_JOB).length;
}

let emulator: Emulator;
useExampleEmulator((started) => {
  emulator = started;
});
const start = useTestApps();
afterEach(() => {
  vi.restoreAllMocks();
});

describe('the replica that decides a rollback runs it', () => {
  it('commits the job claimed by itself with the decision, and commits once more before UpdateService', async () => {
    const t = await start({ emulatorHost: emulator.host, env: ENV });
    const commits = recordCommits(emulator);
    const accepted = await fireAlert(t);
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback).toMatchObject({ state: 'succeeded', toRevision: 'checkout-00001-abc' });
    expect(emulator.calls.count('UpdateService')).toBe(1);

    const written = stepsByCommit(commits, accepted.decisionId);
    const beforeCall = written.filter(({ commit }) => commit.updateServices === 0);
    expect(beforeCall.map(({ steps }) => steps)).toEqual([
      ['alert_received', 'decided', 'job_claimed'],
      ['judged', 'service_read', 'lkg_selected', 'api_call_issued'],
    ]);
    // The decision's commit created the job running under this worker's first lease: no claim came after it.
    const [decided] = beforeCall;
    const jobInsert = decided!.commit.statements.find(({ sql }) => sql.startsWith('INSERT INTO jobs'));
    expect(jobInsert?.params).toEqual([
      expect.stringMatching(/^job_/),
      accepted.decisionId,
      'running',
      1,
      expect.any(Number),
      WORKER,
      1,
      (jobInsert?.params[4] as number) + 30_000,
      expect.any(Number),
      expect.any(Number),
    ]);
    expect(status.timeline.find((event) => event.step === 'job_claimed')?.detail).toEqual({
      worker: WORKER,
      attempt: 1,
    });
    expect(claimQueries(commits)).toBe(0);
  });

  it('on Cloud Deploy, writes the verdict with the release it allows in one commit, before validating', async () => {
    const t = await start({ emulatorHost: emulator.host, env: ENV });
    const commits = recordCommits(emulator);
    const accepted = await fireAlert(t, { target: 'storefront', service: 'storefront', burnRate: 30 });
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback).toMatchObject({ state: 'succeeded', toRevision: 'rel-001' });

    const written = stepsByCommit(commits, accepted.decisionId).map(({ steps }) => steps);
    expect(written.slice(0, 3)).toEqual([
      ['alert_received', 'decided', 'job_claimed'],
      ['judged', 'lkg_selected'],
      ['rollback_validated', 'api_call_issued'],
    ]);
  });

  it('queues the rollback when every place in the worker is taken, and claims it as soon as one frees', async () => {
    const t = await start({ emulatorHost: emulator.host, env: { ...ENV, LASTGOOD_JOB_CONCURRENCY: '1' } });
    emulator.faults.inject({ kind: 'hold-response', method: 'UpdateService', ms: 60_000 });
    const first = await fireAlert(t);
    await until(
      () => emulator.calls.list({ method: 'UpdateService' }).some((call) => call.code === null),
      'the first rollback to hold the only place, its UpdateService answer held',
    );
    const commits = recordCommits(emulator);
    const second = await requestManualRollback(t, 'payments', 'payments-00007-kpm');
    expect(second.statusCode).toBe(202);
    const queued = await t.store.getStatus(second.json().decisionId);
    expect(queued?.rollback?.state).toBe('queued');
    expect(queued?.timeline.map((event) => event.step)).toEqual(['decided']);

    emulator.faults.clear();
    const [done, alsoDone] = await Promise.all([
      waitForRollback(t.store, first.decisionId),
      waitForRollback(t.store, second.json().decisionId),
    ]);
    expect(done.rollback?.state).toBe('succeeded');
    expect(alsoDone.rollback?.state).toBe('succeeded');
    expect(alsoDone.timeline.filter((event) => event.step === 'job_claimed')).toEqual([
      expect.objectContaining({ detail: { worker: WORKER, attempt: 1 } }),
    ]);
    // Claimed once, by the wake of the first job's end, not by a poll (there is none in this test).
    expect(claimQueries(commits)).toBe(1);
    expect(servingSplit(emulator)).toEqual({ 'checkout-00001-abc': 100 });
    expect(servingSplit(emulator, PAYMENTS)).toMatchObject({ 'payments-00007-kpm': 100 });
    expect(emulator.calls.list({ method: 'UpdateService' }).map((call) => call.request)).toHaveLength(2);
  });
});
