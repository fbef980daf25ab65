import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { RollbackWorker, type WorkerOptions } from '../../src/jobs/rollback-worker.ts';
import { createLogger } from '../../src/logger.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/store.ts';
import { CloudDeployExecutor } from '../../src/targets/cloud-deploy.ts';
import { CloudRunExecutor } from '../../src/targets/cloud-run.ts';
import { callHorizonMs } from '../../src/targets/google-call.ts';
import {
  type CloudRunClients,
  createCloudDeployClient,
  createCloudRunClients,
} from '../../src/targets/google-clients.ts';
import { waitForRollback } from '../helpers/app.ts';
import { BAD_REVISION, GOOD_REVISION, servingSplit, useExampleEmulator } from '../helpers/emulator.ts';
import { until } from '../helpers/poll.ts';
import { EXAMPLE_CONFIG, fastPolicy } from '../targets/execution-context.ts';

const OWNER = 'worker-under-test';

let emulator: Emulator;
let runClients: CloudRunClients;
let deployClient: ReturnType<typeof createCloudDeployClient>;
let executors: WorkerOptions['executors'];
let dataDir: string;
let store: Store;
let finished: { target: string; result: string; durationMs: number | null }[];
const workers: RollbackWorker[] = [];

useExampleEmulator((started) => {
  emulator = started;
});
beforeAll(() => {
  runClients = createCloudRunClients(emulator.host);
  deployClient = createCloudDeployClient(emulator.host);
  executors = {
    'cloud-run': new CloudRunExecutor(runClients, fastPolicy()),
    'cloud-deploy': new CloudDeployExecutor(deployClient, fastPolicy()),
  };
});
afterAll(async () => {
  await Promise.all([runClients.close(), deployClient.close()]);
});
beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'lastgood-worker-'));
  store = await openStore({ dataDir, databaseUrl: null });
  finished = [];
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop(0)));
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A worker over the test's store and the example targets; started. */
function startWorker(overrides: Partial<WorkerOptions> = {}): RollbackWorker {
  const worker = new RollbackWorker({
    store,
    targets: EXAMPLE_CONFIG.targets,
    executors,
    controls: { enabled: () => true },
    clock: { now: () => new Date() },
    logger: createLogger('silent'),
    owner: OWNER,
    leaseMs: 5_000,
    callHorizonMs: callHorizonMs(fastPolicy()),
    pollMs: 20,
    concurrency: 2,
    metrics: {
      rollbackFinished: (target, result, durationMs) => finished.push({ target, result, durationMs }),
      rollbacksNotHealed: () => {},
    },
    ...overrides,
  });
  workers.push(worker);
  worker.start();
  return worker;
}

/**
 * Queues a manual rollback of `target` (to `requestedRevision`, if given), or an automatic one when `requestedBy` is
 * null; returns its decision id.
 */
async function queueRollback(
  target: string,
  requestedRevision: string | null = null,
  requestedBy: string | null = 'alice',
): Promise<string> {
  const now = new Date();
  const outcome = await store.recordDecision({
    alert: null,
    targetName: target,
    historySince: new Date(now.getTime() - 3_600_000),
    now,
    decide: () => ({
      action: 'rollback',
      reason: requestedBy === null ? 'ROLLBACK' : 'MANUAL',
      confidence: 0,
      factors: [],
      target,
      nextEligibleAt: null,
      wouldRollback: true,
      mode: 'auto',
      requestedBy,
      requestedRevision,
    }),
  });
  return outcome.decision.id;
}

async function stepsOf(decisionId: string): Promise<string[]> {
  return ((await store.getStatus(decisionId))?.timeline ?? []).map((event) => event.step);
}

describe('RollbackWorker over a SQLite store, with real executors against the emulator', () => {
  it('runs a queued rollback to success and records each step and the terminal state', async () => {
    const decisionId = await queueRollback('checkout');
    startWorker();
    const status = await waitForRollback(store, decisionId);
    expect(status.rollback).toMatchObject({
      state: 'succeeded',
      fromRevision: BAD_REVISION,
      toRevision: GOOD_REVISION,
      errorCode: null,
    });
    expect(await stepsOf(decisionId)).toEqual([
      'decided',
      'job_claimed',
      'service_read',
      'lkg_selected',
      'api_call_issued',
      'operation_done',
      'verified',
      'succeeded',
    ]);
    expect(finished).toEqual([{ target: 'checkout', result: 'succeeded', durationMs: expect.any(Number) }]);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
  });

  it('skips with KILL_SWITCH when the kill switch was flipped after the decision', async () => {
    const decisionId = await queueRollback('checkout');
    await store.changeControl({
      kind: 'kill_switch',
      enabled: false,
      reason: 'incident review',
      actor: 'alice',
      at: new Date(),
    });
    startWorker();
    const status = await waitForRollback(store, decisionId);
    expect(status.rollback).toMatchObject({ state: 'skipped', errorCode: 'KILL_SWITCH' });
    expect(emulator.calls.count('GetService')).toBe(0);
    expect(servingSplit(emulator)).toEqual({ [BAD_REVISION]: 100 });
  });

  it('skips an automatic rollback whose target was set to dry-run after the decision, not a manual one', async () => {
    const automatic = await queueRollback('checkout', null, null);
    await store.changeControl({
      kind: 'mode',
      target: 'checkout',
      mode: 'dry-run',
      reason: 'watch it',
      actor: 'alice',
      at: new Date(),
    });
    startWorker();
    const skipped = await waitForRollback(store, automatic);
    expect(skipped.rollback).toMatchObject({ state: 'skipped', errorCode: 'KILL_SWITCH' });
    expect(skipped.rollback?.errorMessage).toContain('target mode is dry-run');
    expect(emulator.calls.count('UpdateService')).toBe(0);

    const manual = await queueRollback('checkout');
    expect((await waitForRollback(store, manual)).rollback).toMatchObject({ state: 'succeeded' });
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
  });

  it('skips with UNKNOWN_TARGET when the target left the configuration', async () => {
    const decisionId = await queueRollback('checkout');
    const targets = new Map(EXAMPLE_CONFIG.targets);
    targets.delete('checkout');
    startWorker({ targets });
    const status = await waitForRollback(store, decisionId);
    expect(status.rollback).toMatchObject({ state: 'skipped', errorCode: 'UNKNOWN_TARGET' });
    expect(emulator.calls.count('GetService')).toBe(0);
  });

  it('fails with INTERNAL when this process has no executor for the target kind', async () => {
    const decisionId = await queueRollback('checkout');
    startWorker({ executors: { 'cloud-deploy': executors['cloud-deploy']! } });
    const status = await waitForRollback(store, decisionId);
    expect(status.rollback).toMatchObject({ state: 'failed', errorCode: 'INTERNAL' });
    expect(status.rollback?.errorMessage).toContain('No executor for cloud-run');
  });

  it('fails with GOOGLE_API_ERROR when Google stays unavailable past the retries', async () => {
    emulator.faults.inject({ kind: 'unavailable', method: 'GetService', times: 'until-cleared' });
    const decisionId = await queueRollback('checkout');
    startWorker();
    const status = await waitForRollback(store, decisionId);
    expect(status.rollback).toMatchObject({ state: 'failed', errorCode: 'GOOGLE_API_ERROR' });
    expect((await stepsOf(decisionId)).filter((step) => step === 'google_retry')).toHaveLength(3);
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('fails with REVISION_UNUSABLE when the requested revision is not Ready', async () => {
    const decisionId = await queueRollback('payments', 'payments-00009-wqd');
    startWorker();
    const status = await waitForRollback(store, decisionId);
    expect(status.rollback).toMatchObject({ state: 'failed', errorCode: 'REVISION_UNUSABLE' });
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('records a failed Cloud Deploy rollout as ROLLOUT_FAILED, with no time to rollback', async () => {
    emulator.faults.inject({ kind: 'fail-next-rollout', targetId: 'production' });
    const decisionId = await queueRollback('storefront');
    startWorker();
    const status = await waitForRollback(store, decisionId);
    expect(status.rollback).toMatchObject({
      state: 'failed',
      errorCode: 'ROLLOUT_FAILED',
      toRevision: 'rel-001',
    });
    expect(finished).toEqual([{ target: 'storefront', result: 'failed', durationMs: null }]);
  });

  it('when another worker took the job over, makes no mutating call and records no outcome', async () => {
    const decisionId = await queueRollback('checkout');
    // The executor reads the traffic history before it acts; another worker takes the job over just then.
    const intruded = new Proxy(store, {
      get(target, key) {
        if (key === 'trafficHistory') {
          return async (...args: Parameters<Store['trafficHistory']>) => {
            await target.claimJob('intruder', new Date(Date.now() + 60_000), 60_000);
            return target.trafficHistory(...args);
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const worker = startWorker({ store: intruded });
    await until(async () => (await stepsOf(decisionId)).includes('service_read'), 'the service to be read');
    await until(() => worker.activeJobs === 0, 'the worker to give the job up');
    const steps = await stepsOf(decisionId);
    expect(steps).toContain('job_taken_over');
    expect(steps).not.toContain('api_call_issued');
    expect((await store.getStatus(decisionId))?.rollback?.state).toBe('running');
    expect(emulator.calls.count('UpdateService')).toBe(0);
    expect(servingSplit(emulator)).toEqual({ [BAD_REVISION]: 100 });
    expect(finished).toEqual([]);
  });

  it("takes over a dead worker's job and follows the plan it recorded", async () => {
    const decisionId = await queueRollback('checkout');
    const dead = await store.claimJob('dead-worker', new Date(), 1_000);
    expect(dead?.decisionId).toBe(decisionId);
    await store.recordProgress(
      decisionId,
      { fromRevision: BAD_REVISION, toRevision: GOOD_REVISION, lkgRule: 'previous_ready' },
      [{ at: new Date(), step: 'lkg_selected', detail: { revision: GOOD_REVISION } }],
    );
    // Its lease has long expired by this worker's clock.
    startWorker({ clock: { now: () => new Date(Date.now() + 60_000) } });
    const status = await waitForRollback(store, decisionId);
    expect(status.rollback).toMatchObject({
      state: 'succeeded',
      toRevision: GOOD_REVISION,
      lkgRule: 'previous_ready',
    });
    const steps = await stepsOf(decisionId);
    expect(steps.slice(steps.indexOf('job_taken_over'))).toEqual([
      'job_taken_over',
      'service_read',
      'api_call_issued',
      'operation_done',
      'verified',
      'succeeded',
    ]);
    expect(emulator.calls.count('ListRevisions')).toBe(0);
  });

  it('at stop past its grace, gives the lease back so another worker runs the job at once', async () => {
    emulator.faults.inject({ kind: 'latency', method: 'GetService', ms: 300 });
    const decisionId = await queueRollback('checkout');
    const first = startWorker();
    await until(() => first.activeJobs === 1, 'the first worker to claim the job');
    await first.stop(20);
    emulator.faults.clear();
    startWorker({ owner: 'second-worker' });
    const status = await waitForRollback(store, decisionId);
    expect(status.rollback?.state).toBe('succeeded');
    const claims = status.timeline
      .filter((event) => event.step === 'job_claimed')
      .map((event) => event.detail.worker);
    expect(claims).toEqual([OWNER, 'second-worker']);
    expect(emulator.calls.count('UpdateService')).toBe(1);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
  });
});
