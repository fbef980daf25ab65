import type { protos } from '@google-cloud/run';
import { status } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { type CloudRunClients, createCloudRunClients } from '../../src/targets/google-clients.ts';
import {
  BAD_REVISION,
  CHECKOUT,
  FAST_POLLING,
  GOOD_REVISION,
  LEGACY_API,
  PAYMENTS,
  shiftCheckoutTo,
  startExampleEmulator,
  useExampleEmulator,
} from '../helpers/emulator.ts';

const REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION' as const;
const LATEST = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST' as const;

let emu: Emulator;
let run: CloudRunClients;

// Long enough that a loaded CI machine still sees the operation in flight right after UpdateService answers.
useExampleEmulator(
  (started) => {
    emu = started;
    run = createCloudRunClients(emu.host);
  },
  { operationDelayMs: 250 },
);
afterAll(() => run.close());

type Operation = protos.google.longrunning.IOperation;

/**
 * Calls google.longrunning.Operations/WaitOperation on the gRPC stub gax built for `clients`: the client itself only
 * ever polls GetOperation, and gax's OperationsClient wraps no WaitOperation method.
 */
async function waitOperation(clients: CloudRunClients, name: string, timeoutMs: number): Promise<Operation> {
  const stub = await clients.services.operationsClient.operationsStub;
  const timeout = { seconds: Math.floor(timeoutMs / 1000), nanos: (timeoutMs % 1000) * 1e6 };
  return new Promise((resolve, reject) => {
    stub.waitOperation!({ name, timeout }, (error: Error | null, operation: Operation) =>
      error ? reject(error) : resolve(operation),
    );
  });
}

describe('Cloud Run v2 emulator through the real @google-cloud/run client', () => {
  it('answers GetService with the fixture traffic, an etag and a Ready terminal condition', async () => {
    const [service] = await run.services.getService({ name: CHECKOUT });

    expect(service.traffic).toEqual([
      expect.objectContaining({ type: REVISION, revision: BAD_REVISION, percent: 100 }),
    ]);
    expect(service.trafficStatuses).toEqual([
      expect.objectContaining({ revision: BAD_REVISION, percent: 100 }),
    ]);
    expect(service.etag).toMatch(/.+/);
    expect(service.reconciling).toBe(false);
    expect(service.terminalCondition).toMatchObject({ type: 'Ready', state: 'CONDITION_SUCCEEDED' });
    expect(service.latestReadyRevision).toBe(`${CHECKOUT}/revisions/${BAD_REVISION}`);
  });

  it('answers NOT_FOUND for an unknown service and INVALID_ARGUMENT for a malformed name', async () => {
    await expect(run.services.getService({ name: `${CHECKOUT}-nope` })).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
    await expect(run.services.getService({ name: 'checkout' })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
  });

  it('lists the services of one region, and of every region with "-"', async () => {
    const [usCentral] = await run.services.listServices({
      parent: 'projects/demo-project/locations/us-central1',
    });
    const [everywhere] = await run.services.listServices({ parent: 'projects/demo-project/locations/-' });

    expect(usCentral.map((service) => service.name)).toEqual([CHECKOUT, PAYMENTS]);
    expect(everywhere.map((service) => service.name).sort()).toEqual([CHECKOUT, LEGACY_API, PAYMENTS].sort());
  });

  it('lists revisions newest first, with a failed Ready condition on the one that never started', async () => {
    const [revisions] = await run.revisions.listRevisions({ parent: PAYMENTS });

    expect(revisions.map((revision) => revision.name?.split('/').at(-1))).toEqual([
      'payments-00009-wqd',
      'payments-00008-rtz',
      'payments-00007-kpm',
    ]);
    const ready = revisions.map((revision) => revision.conditions?.find((c) => c.type === 'Ready')?.state);
    expect(ready).toEqual(['CONDITION_FAILED', 'CONDITION_SUCCEEDED', 'CONDITION_SUCCEEDED']);
    expect(revisions[0]?.service).toBe(PAYMENTS);
    expect(Number(revisions[0]?.createTime?.seconds)).toBeGreaterThan(
      Number(revisions[1]?.createTime?.seconds),
    );
  });

  it('pages ListRevisions when asked for one revision per page', async () => {
    const [firstPage, nextRequest] = await run.revisions.listRevisions(
      { parent: PAYMENTS, pageSize: 1 },
      { autoPaginate: false },
    );

    expect(firstPage).toHaveLength(1);
    expect(nextRequest?.pageToken).toMatch(/.+/);
  });

  it('gets one revision by its full name', async () => {
    const [revision] = await run.revisions.getRevision({ name: `${CHECKOUT}/revisions/${GOOD_REVISION}` });

    expect(revision.conditions).toEqual([
      expect.objectContaining({ type: 'Ready', state: 'CONDITION_SUCCEEDED' }),
    ]);
    expect(revision.containers?.[0]?.image).toContain('checkout:1.41.0');
  });

  it('shifts traffic through an operation that is not done at once, and reconciles before it completes', async () => {
    const { before, operation } = await shiftCheckoutTo(run, GOOD_REVISION);

    expect(operation.done).toBe(false);
    const reconciling = emu.state.cloudRun.service(CHECKOUT);
    expect(reconciling?.reconciling).toBe(true);
    expect(reconciling?.trafficStatuses.map((target) => target.revision)).toEqual([BAD_REVISION]);

    const [service] = await operation.promise();

    expect(service.trafficStatuses?.map((target) => [target.revision, target.percent])).toEqual([
      [GOOD_REVISION, 100],
    ]);
    expect(service.reconciling).toBe(false);
    expect(Number(service.generation)).toBe(Number(before.generation) + 1);
    expect(service.etag).not.toBe(before.etag);
    const after = emu.state.cloudRun.service(CHECKOUT);
    expect(after).toMatchObject({ reconciling: false, terminalCondition: { state: 'CONDITION_SUCCEEDED' } });
    expect(after?.traffic).toEqual([{ type: REVISION, revision: GOOD_REVISION, percent: 100, tag: '' }]);
    expect(emu.calls.count('UpdateService')).toBe(1);
  });

  it('reports progress through checkUpdateServiceProgress, the way a restarted poller resumes', async () => {
    const { operation } = await shiftCheckoutTo(run, GOOD_REVISION);
    await operation.promise();

    const resumed = await run.services.checkUpdateServiceProgress(operation.name ?? '');

    expect(resumed.done).toBe(true);
    const [service] = await resumed.promise();
    expect(service.trafficStatuses?.[0]?.revision).toBe(GOOD_REVISION);
  });

  it('answers WaitOperation once the update is done, with the service as its response', async () => {
    const { operation } = await shiftCheckoutTo(run, GOOD_REVISION);
    expect(operation.done).toBe(false);

    const waited = await waitOperation(run, operation.name ?? '', 5_000);

    expect(waited).toMatchObject({ name: operation.name, done: true });
    expect(waited.response?.type_url).toBe('type.googleapis.com/google.cloud.run.v2.Service');
    expect(emu.state.operations()).toEqual([
      expect.objectContaining({ name: operation.name, done: true, error: null }),
    ]);
    expect(emu.state.cloudRun.service(CHECKOUT)?.trafficStatuses.map((target) => target.revision)).toEqual([
      GOOD_REVISION,
    ]);
  });

  it('answers WaitOperation with the operation still running when its timeout passes first', async () => {
    const slow = await startExampleEmulator({ adminPort: null, operationDelayMs: 60_000 });
    const slowRun = createCloudRunClients(slow.host);
    try {
      const [service] = await slowRun.services.getService({ name: CHECKOUT });
      const [operation] = await slowRun.services.updateService({
        service: {
          name: CHECKOUT,
          etag: service.etag ?? null,
          traffic: [{ type: REVISION, revision: GOOD_REVISION, percent: 100 }],
        },
        updateMask: { paths: ['traffic'] },
      });
      const started = performance.now();

      const waited = await waitOperation(slowRun, operation.name ?? '', 100);

      expect(performance.now() - started).toBeGreaterThanOrEqual(95);
      expect(waited).toMatchObject({ name: operation.name, done: false });
      expect(slow.state.cloudRun.service(CHECKOUT)).toMatchObject({ reconciling: true });
      expect(slow.state.cloudRun.service(CHECKOUT)?.trafficStatuses.map((target) => target.revision)).toEqual(
        [BAD_REVISION],
      );
    } finally {
      await slowRun.close();
      await slow.stop();
    }
  });

  it('replaces labels, annotations and traffic on an empty update mask, defaulting traffic to LATEST', async () => {
    const [operation] = await run.services.updateService(
      { service: { name: CHECKOUT, labels: { owner: 'sre' } } },
      FAST_POLLING,
    );
    await operation.promise();

    expect(emu.state.cloudRun.service(CHECKOUT)).toMatchObject({
      labels: { owner: 'sre' },
      traffic: [{ type: LATEST, revision: '', percent: 100 }],
      trafficStatuses: [{ type: LATEST, revision: BAD_REVISION, percent: 100 }],
    });
  });

  it('refuses a stale etag with ABORTED and leaves traffic alone', async () => {
    const [service] = await run.services.getService({ name: CHECKOUT });
    await (await shiftCheckoutTo(run, GOOD_REVISION)).operation.promise();

    await expect(
      run.services.updateService({
        service: {
          name: CHECKOUT,
          etag: service.etag ?? null,
          traffic: [{ type: REVISION, revision: BAD_REVISION, percent: 100 }],
        },
        updateMask: { paths: ['traffic'] },
      }),
    ).rejects.toMatchObject({ code: status.ABORTED });
    expect(emu.state.cloudRun.service(CHECKOUT)?.traffic.map((target) => target.revision)).toEqual([
      GOOD_REVISION,
    ]);
  });

  it.each([
    ['percents that do not add up to 100', [{ type: REVISION, revision: GOOD_REVISION, percent: 90 }]],
    [
      'a revision the service does not have',
      [{ type: REVISION, revision: 'checkout-00099-zzz', percent: 100 }],
    ],
    ['a revision type without a revision', [{ type: REVISION, percent: 100 }]],
    [
      'a tag used twice',
      [
        { type: REVISION, revision: GOOD_REVISION, percent: 50, tag: 'blue' },
        { type: REVISION, revision: BAD_REVISION, percent: 50, tag: 'blue' },
      ],
    ],
  ])('refuses traffic with %s as INVALID_ARGUMENT', async (_case, traffic) => {
    await expect(
      run.services.updateService({
        service: { name: CHECKOUT, traffic },
        updateMask: { paths: ['traffic'] },
      }),
    ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(emu.state.cloudRun.service(CHECKOUT)?.generation).toBe(1);
  });

  it('fails the operation when traffic goes to a revision that is not ready, keeping the old traffic', async () => {
    const [operation] = await run.services.updateService(
      {
        service: {
          name: PAYMENTS,
          traffic: [{ type: REVISION, revision: 'payments-00009-wqd', percent: 100 }],
        },
        updateMask: { paths: ['traffic'] },
      },
      FAST_POLLING,
    );

    await expect(operation.promise()).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    const payments = emu.state.cloudRun.service(PAYMENTS);
    expect(payments?.traffic.map((target) => [target.revision, target.percent])).toEqual([
      ['payments-00007-kpm', 90],
      ['payments-00008-rtz', 10],
    ]);
    expect(payments?.terminalCondition.state).toBe('CONDITION_FAILED');
  });

  it('fails the next UpdateService operation when told to, leaving traffic unchanged', async () => {
    emu.faults.inject({ kind: 'fail-next-operation', method: 'UpdateService', code: status.INTERNAL });
    const { operation } = await shiftCheckoutTo(run, GOOD_REVISION);

    await expect(operation.promise()).rejects.toMatchObject({ code: status.INTERNAL });
    const checkout = emu.state.cloudRun.service(CHECKOUT);
    expect(checkout?.traffic.map((target) => target.revision)).toEqual([BAD_REVISION]);
    expect(checkout?.trafficStatuses.map((target) => target.revision)).toEqual([BAD_REVISION]);
    expect(checkout?.terminalCondition).toMatchObject({ state: 'CONDITION_FAILED' });
    expect(emu.state.operations()).toEqual([
      expect.objectContaining({ done: true, error: expect.anything() }),
    ]);

    const [service] = await (await shiftCheckoutTo(run, GOOD_REVISION)).operation.promise();
    expect(service.trafficStatuses?.map((target) => target.revision)).toEqual([GOOD_REVISION]);
    expect(emu.state.cloudRun.service(CHECKOUT)?.traffic.map((target) => target.revision)).toEqual([
      GOOD_REVISION,
    ]);
  });

  it('answers UNAVAILABLE to UpdateService when injected; gax does not retry it and nothing changes', async () => {
    emu.faults.inject({ kind: 'unavailable', method: 'UpdateService', times: 1 });

    await expect(shiftCheckoutTo(run, GOOD_REVISION)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(emu.calls.list({ method: 'UpdateService' }).map((call) => call.code)).toEqual([
      status.UNAVAILABLE,
    ]);
    expect(emu.state.cloudRun.service(CHECKOUT)?.generation).toBe(1);
  });

  it('lets gax retry an UNAVAILABLE GetService, which it retries by default', async () => {
    emu.faults.inject({ kind: 'unavailable', method: 'GetService', times: 2 });

    // The default first retry waits 1 s. A `retry` call option replaces the whole backoff: without the RPC
    // timeouts gax would give each attempt a deadline of about 1 ms.
    const [service] = await run.services.getService(
      { name: CHECKOUT },
      {
        retry: {
          retryCodes: [status.UNAVAILABLE],
          backoffSettings: {
            initialRetryDelayMillis: 5,
            retryDelayMultiplier: 1,
            maxRetryDelayMillis: 5,
            initialRpcTimeoutMillis: 5_000,
            rpcTimeoutMultiplier: 1,
            maxRpcTimeoutMillis: 5_000,
            totalTimeoutMillis: 10_000,
          },
        },
      },
    );

    expect(service.name).toBe(CHECKOUT);
    expect(emu.calls.list({ method: 'GetService' }).map((call) => call.code)).toEqual([
      status.UNAVAILABLE,
      status.UNAVAILABLE,
      status.OK,
    ]);
  });

  it('keeps every method down while an until-cleared outage is armed', async () => {
    emu.faults.inject({ kind: 'unavailable', times: 'until-cleared' });

    for (let attempt = 0; attempt < 3; attempt++) {
      await expect(run.revisions.listRevisions({ parent: CHECKOUT })).rejects.toMatchObject({
        code: status.UNAVAILABLE,
      });
    }
    emu.faults.clear();
    const [revisions] = await run.revisions.listRevisions({ parent: CHECKOUT });
    expect(revisions.map((revision) => revision.name).sort()).toEqual([
      `${CHECKOUT}/revisions/${GOOD_REVISION}`,
      `${CHECKOUT}/revisions/${BAD_REVISION}`,
    ]);
  });

  it('delays a method by the injected latency', async () => {
    emu.faults.inject({ kind: 'latency', method: 'GetService', ms: 80 });

    const started = performance.now();
    await run.services.getService({ name: CHECKOUT });

    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
  });

  it('moves the etag on after the next GetService when someone else shifts traffic, so the update is ABORTED', async () => {
    emu.faults.inject({
      kind: 'concurrent-traffic-change',
      service: CHECKOUT,
      traffic: [
        { revision: BAD_REVISION, percent: 50 },
        { revision: GOOD_REVISION, percent: 50 },
      ],
    });

    await expect(shiftCheckoutTo(run, GOOD_REVISION)).rejects.toMatchObject({ code: status.ABORTED });
    const checkout = emu.state.cloudRun.service(CHECKOUT);
    expect(checkout?.traffic.map((target) => [target.revision, target.percent])).toEqual([
      [BAD_REVISION, 50],
      [GOOD_REVISION, 50],
    ]);

    const { operation } = await shiftCheckoutTo(run, GOOD_REVISION);
    await operation.promise();
    expect(emu.state.cloudRun.service(CHECKOUT)?.trafficStatuses.map((target) => target.revision)).toEqual([
      GOOD_REVISION,
    ]);
  });

  it('logs every call with a high-resolution arrival time, its request and its status', async () => {
    const { operation } = await shiftCheckoutTo(run, GOOD_REVISION);
    await operation.promise();

    const calls = emu.calls.list();
    expect(calls.map((call) => call.method).slice(0, 3)).toEqual([
      'GetService',
      'UpdateService',
      'GetOperation',
    ]);
    expect(calls.every((call) => call.code === status.OK)).toBe(true);
    const update = emu.calls.list({ method: 'UpdateService' });
    expect(update).toHaveLength(1);
    expect(update[0]?.request).toMatchObject({
      service: { name: CHECKOUT, traffic: [{ revision: GOOD_REVISION, percent: 100 }] },
      updateMask: { paths: ['traffic'] },
    });
    const times = calls.map((call) => call.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(Math.abs((times[0] ?? 0) - Date.now())).toBeLessThan(5_000);
    expect(times.some((time) => !Number.isInteger(time))).toBe(true);
  });
});
