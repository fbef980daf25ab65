import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { isLastgoodError } from '../../src/errors.ts';
import { CloudRunExecutor } from '../../src/targets/cloud-run.ts';
import { LeaseLostError } from '../../src/targets/executor.ts';
import { type CloudRunClients, createCloudRunClients } from '../../src/targets/google-clients.ts';
import {
  BAD_REVISION,
  CHECKOUT,
  GOOD_REVISION,
  servingSplit,
  shiftCheckoutTo,
  useExampleEmulator,
} from '../helpers/emulator.ts';
import { mutatingCalls } from '../replicas/support.ts';
import { exampleTarget, fakeContext, fastPolicy } from './execution-context.ts';

const checkout = exampleTarget('checkout');
const PLAN = { fromRevision: BAD_REVISION, toRevision: GOOD_REVISION, lkgRule: 'previous_ready' };

let emulator: Emulator;
let clients: CloudRunClients;
let executor: CloudRunExecutor;

useExampleEmulator((started) => {
  emulator = started;
});
beforeAll(() => {
  clients = createCloudRunClients(emulator.host);
  executor = new CloudRunExecutor(clients, fastPolicy());
});
afterAll(async () => {
  await clients.close();
});

/** Someone else sends all of checkout's traffic to `revision`, and the change lands. */
async function moveTraffic(revision: string): Promise<void> {
  const { operation } = await shiftCheckoutTo(clients, revision);
  await operation.promise();
}

describe('CloudRunExecutor against the emulator, with a fake execution context', () => {
  it('moves all traffic to the last known good revision, fenced, and verifies it', async () => {
    const fake = fakeContext(checkout);
    const outcome = await executor.execute(fake.context);
    expect(outcome).toEqual({ state: 'succeeded', ...PLAN, errorCode: null, errorMessage: null });
    expect(fake.names()).toEqual([
      'service_read',
      'lkg_selected',
      'api_call_issued',
      'operation_done',
      'verified',
    ]);
    expect(fake.steps.filter((step) => step.fenced).map((step) => step.detail.method)).toEqual([
      'UpdateService',
    ]);
    expect(fake.learnt).toEqual(PLAN);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
  });

  it('records the verdict on an alert in the commit of the reading and the fenced announcement', async () => {
    // A store answers a write once its commit is on disk; steps asked for before then share that commit.
    let verdictOnDisk = false;
    const askedWithVerdict: string[] = [];
    const fake = fakeContext(checkout, {
      incident: { startedAt: new Date(), lookbackMs: null, conditionDurationMs: 0 },
      onStep: async ({ step }) => {
        if (step !== 'judged') {
          if (!verdictOnDisk) askedWithVerdict.push(step);
          return;
        }
        await new Promise((resolve) => setImmediate(resolve));
        verdictOnDisk = true;
      },
    });
    const outcome = await executor.execute(fake.context);
    expect(outcome).toEqual({ state: 'succeeded', ...PLAN, errorCode: null, errorMessage: null });
    expect(fake.names().slice(0, 4)).toEqual(['judged', 'service_read', 'lkg_selected', 'api_call_issued']);
    expect(askedWithVerdict).toEqual(['service_read', 'lkg_selected', 'api_call_issued']);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
  });

  it('re-reads and retries once its etag went stale while the bad revision still serves', async () => {
    emulator.faults.inject({ kind: 'concurrent-traffic-change', service: CHECKOUT });
    const fake = fakeContext(checkout);
    const outcome = await executor.execute(fake.context);
    expect(outcome.state).toBe('succeeded');
    expect(fake.names()).toContain('etag_conflict');
    expect(fake.names().filter((step) => step === 'api_call_issued')).toHaveLength(2);
    expect(mutatingCalls(emulator, 'UpdateService')).toHaveLength(2);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
  });

  it('skips with CONCURRENT_CHANGE and leaves traffic someone else moved under it', async () => {
    const theirs = [
      { revision: GOOD_REVISION, percent: 50 },
      { revision: BAD_REVISION, percent: 50 },
    ];
    emulator.faults.inject({ kind: 'concurrent-traffic-change', service: CHECKOUT, traffic: theirs });
    const fake = fakeContext(checkout);
    const outcome = await executor.execute(fake.context);
    expect(outcome).toMatchObject({ state: 'skipped', errorCode: 'CONCURRENT_CHANGE', ...PLAN });
    expect(fake.names()).toEqual([
      'service_read',
      'lkg_selected',
      'api_call_issued',
      'etag_conflict',
      'service_read',
    ]);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 50, [BAD_REVISION]: 50 });
  });

  it('on takeover, follows the earlier plan without searching again and sends it once', async () => {
    const fake = fakeContext(checkout, { previous: PLAN });
    const outcome = await executor.execute(fake.context);
    expect(outcome).toEqual({ state: 'succeeded', ...PLAN, errorCode: null, errorMessage: null });
    expect(fake.names()).toEqual(['service_read', 'api_call_issued', 'operation_done', 'verified']);
    expect(emulator.calls.count('ListRevisions')).toBe(0);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
  });

  it('on takeover after the earlier call landed, only verifies: no second UpdateService', async () => {
    await moveTraffic(GOOD_REVISION);
    emulator.calls.clear();
    const fake = fakeContext(checkout, { previous: PLAN });
    const outcome = await executor.execute(fake.context);
    expect(outcome.state).toBe('succeeded');
    expect(fake.names()).toEqual(['service_read', 'already_on_lkg', 'verified']);
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('stops before UpdateService when the lease is lost: nothing reaches the emulator', async () => {
    const fake = fakeContext(checkout, { holdsLease: false });
    const error = await executor.execute(fake.context).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(fake.names()).not.toContain('api_call_issued');
    expect(emulator.calls.count('UpdateService')).toBe(0);
    expect(servingSplit(emulator)).toEqual({ [BAD_REVISION]: 100 });
  });

  it('ends NO_LKG when the serving revision is the oldest one: nothing to go back to', async () => {
    await moveTraffic(GOOD_REVISION);
    emulator.calls.clear();
    const fake = fakeContext(checkout);
    const outcome = await executor.execute(fake.context);
    expect(outcome).toMatchObject({
      state: 'no_lkg',
      errorCode: 'NO_LKG',
      fromRevision: GOOD_REVISION,
      toRevision: null,
    });
    expect(fake.names()).toEqual(['service_read', 'no_lkg']);
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('refuses a requested revision that is not Ready with LASTGOOD_ERR_REVISION_UNUSABLE, changing nothing', async () => {
    const payments = exampleTarget('payments');
    const fake = fakeContext(payments, { requestedRevision: 'payments-00009-wqd' });
    const error = await executor.execute(fake.context).catch((caught: unknown) => caught);
    expect(isLastgoodError(error) && error.code).toBe('LASTGOOD_ERR_REVISION_UNUSABLE');
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('records each retry of UNAVAILABLE and raises LASTGOOD_ERR_GOOGLE_API once they run out', async () => {
    emulator.faults.inject({ kind: 'unavailable', method: 'GetService', times: 'until-cleared' });
    const fake = fakeContext(checkout);
    const error = await executor.execute(fake.context).catch((caught: unknown) => caught);
    expect(isLastgoodError(error) && error.code).toBe('LASTGOOD_ERR_GOOGLE_API');
    expect(fake.steps.filter((step) => step.step === 'google_retry').map((step) => step.detail)).toEqual([
      { method: 'GetService', attempt: 1, grpcCode: 14, delayMs: 10 },
      { method: 'GetService', attempt: 2, grpcCode: 14, delayMs: 20 },
      { method: 'GetService', attempt: 3, grpcCode: 14, delayMs: 30 },
    ]);
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('ends OPERATION_FAILED when the UpdateService operation fails', async () => {
    emulator.faults.inject({
      kind: 'fail-next-operation',
      method: 'UpdateService',
      message: 'quota exceeded',
    });
    const fake = fakeContext(checkout);
    const outcome = await executor.execute(fake.context);
    expect(outcome).toMatchObject({ state: 'failed', errorCode: 'OPERATION_FAILED', ...PLAN });
    expect(outcome.errorMessage).toContain('quota exceeded');
    expect(fake.names().slice(-2)).toEqual(['operation_failed', 'truth_read']);
    expect(servingSplit(emulator)).toEqual({ [BAD_REVISION]: 100 });
  });

  it('ends VERIFY_TIMEOUT when traffic is moved away again before it is verified', async () => {
    const impatient = new CloudRunExecutor(clients, fastPolicy({ completionTimeoutMs: 300 }));
    const fake = fakeContext(checkout, {
      onStep: async ({ step }) => {
        if (step === 'operation_done') await moveTraffic(BAD_REVISION);
      },
    });
    const outcome = await impatient.execute(fake.context);
    expect(outcome).toMatchObject({ state: 'failed', errorCode: 'VERIFY_TIMEOUT', ...PLAN });
    expect(fake.names().at(-1)).toBe('verify_timeout');
    expect(servingSplit(emulator)).toEqual({ [BAD_REVISION]: 100 });
  });
});
