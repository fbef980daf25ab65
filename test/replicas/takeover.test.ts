import { status as grpcStatus } from '@grpc/grpc-js';
import { describe, it, vi } from 'vitest';
import { rolloutIdFor } from '../../src/targets/cloud-deploy.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { CHECKOUT, GOOD_REVISION, PIPELINE, servingSplit } from '../helpers/emulator.ts';
import { until } from '../helpers/poll.ts';
import { type LastgoodProcess, postAlert, type StatusBody, waitForTerminal } from '../helpers/process.ts';
import { postgresUnderTest } from '../helpers/store-under-test.ts';
import { lastgoodRollouts, mutatingCalls, type ReplicaWorld, replicaWorld } from './support.ts';

/** Longer than the test: the answer only comes if the dead process's successor asked again (it must not). */
const HOLD_MS = 30_000;
/**
 * A sender's announced call holds the job for every attempt it may make (4 with the test retries): with a 2 s
 * deadline the survivor may take over about 8 s after the call was sent.
 */
const SHORT_DEADLINE = { LASTGOOD_GOOGLE_DEADLINE: '2s' };

// Two process starts, that hold, and the successor's run, on a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

async function fireRollback(replica: LastgoodProcess, target: 'checkout' | 'storefront'): Promise<string> {
  const answer = await postAlert(replica.url, burnRateAlert({ target, service: target, burnRate: 18.2 }));
  if (answer.status !== 202 || answer.body?.reason !== 'ROLLBACK') {
    throw new Error(`expected a 202 ROLLBACK, got ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.body.decisionId!;
}

async function storedSteps(world: ReplicaWorld, decisionId: string): Promise<string[]> {
  const rows = await world.store.query('SELECT step FROM timeline WHERE decision_id = ? ORDER BY at, id', [
    decisionId,
  ]);
  return rows.map((row) => String(row.step));
}

/** Kills (-9) the replica whose lease the running job is under; returns it and the survivor. */
async function killJobHolder(
  world: ReplicaWorld,
  replicas: LastgoodProcess[],
  decisionId: string,
): Promise<{ killed: LastgoodProcess; survivor: LastgoodProcess }> {
  const { state, leaseOwner } = await world.store.job(decisionId);
  const killed = replicas.find((replica) => replica.name === leaseOwner);
  const survivor = replicas.find((replica) => replica.name !== leaseOwner);
  if (state !== 'running' || killed === undefined || survivor === undefined) {
    throw new Error(`expected a running job leased to a replica, got ${state} leased to ${leaseOwner}`);
  }
  const exit = await killed.kill9();
  if (exit.signal !== 'SIGKILL')
    throw new Error(`${killed.name} ended ${JSON.stringify(exit)}, not by SIGKILL`);
  return { killed, survivor };
}

function takeovers(status: StatusBody) {
  return status.timeline.filter((event) => event.step === 'job_taken_over').map((event) => event.detail);
}

function stepsAfter(status: StatusBody, step: string): string[] {
  const names = status.timeline.map((event) => event.step);
  return names.slice(names.indexOf(step) + 1);
}

describe.concurrent('a Google mutation that landed while its answer never reached the replica that sent it', () => {
  it('Cloud Run, sender killed -9 in the window: the other replica takes the job over and finishes it without a second UpdateService', async ({
    expect,
    onTestFinished,
  }) => {
    const world = await replicaWorld({ onTestFinished }, postgresUnderTest);
    const { emulator } = world;
    const replicas = await Promise.all([
      world.start('replica-a', SHORT_DEADLINE),
      world.start('replica-b', SHORT_DEADLINE),
    ]);
    emulator.faults.inject({ kind: 'hold-response', method: 'UpdateService', ms: HOLD_MS });
    const decisionId = await fireRollback(replicas[0]!, 'checkout');

    // The window: the emulator applied the update, its answer is held, the job has recorded no answer.
    await until(
      () =>
        emulator.calls.list({ method: 'UpdateService' }).some((call) => call.code === null) &&
        emulator.state.cloudRun.service(CHECKOUT)?.traffic[0]?.revision === GOOD_REVISION,
      'UpdateService to land with its answer held',
    );
    const before = await storedSteps(world, decisionId);
    expect(before).toContain('api_call_issued');
    expect(before).not.toContain('operation_done');
    const { killed, survivor } = await killJobHolder(world, replicas, decisionId);

    const done = await waitForTerminal(survivor.url, decisionId);
    expect(done.rollback).toMatchObject({ state: 'succeeded', toRevision: GOOD_REVISION, error: null });
    expect(takeovers(done)).toEqual([expect.objectContaining({ from: killed.name, worker: survivor.name })]);
    // The successor read the service, saw the rollback had landed and only verified it.
    expect(stepsAfter(done, 'job_taken_over')).toEqual([
      'service_read',
      'already_on_lkg',
      'verified',
      'succeeded',
    ]);
    expect(emulator.calls.count('UpdateService')).toBe(1);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
  });

  it("Cloud Deploy, sender killed -9 in the window: the other replica finds the rollout under lastgood's id and follows it; one rollout", async ({
    expect,
    onTestFinished,
  }) => {
    const world = await replicaWorld({ onTestFinished }, postgresUnderTest);
    const { emulator } = world;
    const replicas = await Promise.all([
      world.start('replica-a', SHORT_DEADLINE),
      world.start('replica-b', SHORT_DEADLINE),
    ]);
    emulator.faults.inject({ kind: 'hold-response', method: 'RollbackTarget', ms: HOLD_MS });
    const decisionId = await fireRollback(replicas[1]!, 'storefront');

    await until(
      () =>
        mutatingCalls(emulator, 'RollbackTarget').some((call) => call.code === null) &&
        lastgoodRollouts(emulator).length === 1,
      'RollbackTarget to land with its answer held',
    );
    const before = await storedSteps(world, decisionId);
    expect(before).toContain('api_call_issued');
    expect(before).not.toContain('rollout_created');
    const { killed, survivor } = await killJobHolder(world, replicas, decisionId);

    const done = await waitForTerminal(survivor.url, decisionId);
    expect(done.rollback).toMatchObject({ state: 'succeeded', toRevision: 'rel-001', error: null });
    expect(takeovers(done)).toEqual([expect.objectContaining({ from: killed.name, worker: survivor.name })]);
    expect(stepsAfter(done, 'job_taken_over')).toContain('rollout_found');
    expect(stepsAfter(done, 'job_taken_over')).not.toContain('api_call_issued');
    expect(lastgoodRollouts(emulator)).toEqual([
      expect.objectContaining({
        name: `${PIPELINE}/releases/rel-001/rollouts/${rolloutIdFor(decisionId)}`,
        state: 'SUCCEEDED',
      }),
    ]);
    expect(mutatingCalls(emulator, 'RollbackTarget')).toHaveLength(1);
  });

  it('Cloud Deploy, answer lost as UNAVAILABLE: the retry of the same rollout id meets ALREADY_EXISTS and follows it', async ({
    expect,
    onTestFinished,
  }) => {
    const world = await replicaWorld({ onTestFinished }, postgresUnderTest);
    const { emulator } = world;
    const replica = await world.start('replica-a');
    emulator.faults.inject({
      kind: 'hold-response',
      method: 'RollbackTarget',
      ms: 50,
      answer: 'unavailable',
    });
    const decisionId = await fireRollback(replica, 'storefront');

    const done = await waitForTerminal(replica.url, decisionId);

    expect(done.rollback).toMatchObject({ state: 'succeeded', toRevision: 'rel-001', error: null });
    expect(done.timeline).toContainEqual(
      expect.objectContaining({
        step: 'google_retry',
        detail: expect.objectContaining({ method: 'RollbackTarget', grpcCode: grpcStatus.UNAVAILABLE }),
      }),
    );
    expect(stepsAfter(done, 'api_call_issued')).toEqual(
      expect.arrayContaining(['google_retry', 'rollout_already_exists', 'pipeline_frozen', 'succeeded']),
    );
    expect(stepsAfter(done, 'api_call_issued')).not.toContain('rollout_created');
    expect(mutatingCalls(emulator, 'RollbackTarget').map((call) => call.code)).toEqual([
      grpcStatus.UNAVAILABLE,
      grpcStatus.ALREADY_EXISTS,
    ]);
    expect(lastgoodRollouts(emulator)).toEqual([
      expect.objectContaining({
        name: `${PIPELINE}/releases/rel-001/rollouts/${rolloutIdFor(decisionId)}`,
        state: 'SUCCEEDED',
      }),
    ]);
    expect(emulator.state.cloudDeploy.pipeline(PIPELINE)?.suspended).toBe(true);
  });
});

describe('a rollback job created claimed by the replica that decided it', () => {
  it('Cloud Run, that replica killed -9 before any Google mutation: the other takes the job over once the lease expires; one UpdateService', async ({
    expect,
    onTestFinished,
  }) => {
    const world = await replicaWorld({ onTestFinished }, postgresUnderTest);
    const { emulator } = world;
    const replicas = await Promise.all([world.start('replica-a'), world.start('replica-b')]);
    // The deciding replica's first read of the service is slow: it dies waiting for it.
    emulator.faults.inject({ kind: 'latency', method: 'GetService', ms: 3_000 });
    const decisionId = await fireRollback(replicas[0]!, 'checkout');

    // Acknowledged: the job is committed running under the decider's lease, its claim beside the decision.
    expect(await world.store.job(decisionId)).toEqual({ state: 'running', leaseOwner: 'replica-a' });
    expect(await storedSteps(world, decisionId)).toEqual(['alert_received', 'decided', 'job_claimed']);
    await until(
      () => emulator.calls.list({ method: 'GetService' }).some((call) => call.code === null),
      'the decider to ask for the service',
    );
    const { killed, survivor } = await killJobHolder(world, replicas, decisionId);
    emulator.faults.clear();

    const done = await waitForTerminal(survivor.url, decisionId);
    expect(done.rollback).toMatchObject({ state: 'succeeded', toRevision: GOOD_REVISION, error: null });
    expect(done.timeline.find((event) => event.step === 'job_claimed')?.detail).toEqual({
      worker: killed.name,
      attempt: 1,
    });
    expect(takeovers(done)).toEqual([{ from: killed.name, worker: survivor.name, attempt: 2 }]);
    expect(stepsAfter(done, 'job_taken_over')).toEqual(
      expect.arrayContaining(['service_read', 'lkg_selected', 'api_call_issued', 'succeeded']),
    );
    expect(mutatingCalls(emulator, 'UpdateService')).toHaveLength(1);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
  });
});
