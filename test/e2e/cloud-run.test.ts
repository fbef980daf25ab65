import { describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/emulator.ts';
import { LOG_LABELS_KEY, REPORTED_ERROR_EVENT } from '../../src/logger.ts';
import {
  bearer,
  fireAlert,
  requestManualRollback,
  startTestApp,
  type TestApp,
  VIEWER_TOKEN,
  waitForRollback,
} from '../helpers/app.ts';
import { CHECKOUT, PAYMENTS, servingSplit, useAppOnExampleEmulator } from '../helpers/emulator.ts';
import { sleep } from '../helpers/poll.ts';

let emulator: Emulator;
let t: TestApp;

useAppOnExampleEmulator((started, app) => {
  emulator = started;
  t = app;
});

function trafficOf(service: string, on: Emulator = emulator): Record<string, number> {
  return servingSplit(on, service);
}

function steps(status: { timeline: { step: string }[] }): string[] {
  return status.timeline.map((event) => event.step);
}

describe('Cloud Run rollback through the real client and the emulator', () => {
  it('moves all traffic back to the last known good revision and proves it', async () => {
    expect(trafficOf(CHECKOUT)).toEqual({ 'checkout-00002-xyz': 100 });
    // Telemetry slower than GetService: the timeline shows the service read when it was read, before the
    // judgement that waited for the telemetry, though both are written in the commit before UpdateService.
    emulator.faults.inject({ kind: 'latency', method: 'ListTimeSeries', ms: 50 });
    const accepted = await fireAlert(t);
    expect(accepted.reason).toBe('ROLLBACK');
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback).toMatchObject({
      state: 'succeeded',
      fromRevision: 'checkout-00002-xyz',
      toRevision: 'checkout-00001-abc',
      lkgRule: 'previous_ready',
    });
    expect(trafficOf(CHECKOUT)).toEqual({ 'checkout-00001-abc': 100 });
    expect(emulator.calls.count('UpdateService')).toBe(1);
    expect(steps(status)).toEqual([
      'alert_received',
      'decided',
      'job_claimed',
      'service_read',
      'judged',
      'lkg_selected',
      'api_call_issued',
      'operation_done',
      'verified',
      'succeeded',
    ]);
    const api = await t.app.server.inject({
      method: 'GET',
      url: `/rollback/status/${accepted.decisionId}`,
      headers: bearer(VIEWER_TOKEN),
    });
    expect(api.json().rollback).toMatchObject({ state: 'succeeded', toRevision: 'checkout-00001-abc' });
  });

  it('keeps every existing tag, at 0%, when it moves traffic', async () => {
    const accepted = await requestManualRollback(t, 'payments', 'payments-00007-kpm');
    expect(accepted.statusCode).toBe(202);
    await waitForRollback(t.store, accepted.json().decisionId);
    const traffic = emulator.state.cloudRun.service(PAYMENTS)?.traffic ?? [];
    expect(traffic).toContainEqual(
      expect.objectContaining({ revision: 'payments-00007-kpm', percent: 100, tag: 'stable' }),
    );
    expect(traffic).toContainEqual(
      expect.objectContaining({ revision: 'payments-00008-rtz', percent: 0, tag: 'canary' }),
    );
  });

  it('re-reads and retries when someone else moved the etag but the bad revision still serves', async () => {
    emulator.faults.inject({ kind: 'concurrent-traffic-change', service: CHECKOUT });
    const accepted = await fireAlert(t);
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback?.state).toBe('succeeded');
    expect(steps(status)).toContain('etag_conflict');
    expect(trafficOf(CHECKOUT)).toEqual({ 'checkout-00001-abc': 100 });
    expect(emulator.calls.count('UpdateService')).toBe(2);
  });

  it("never overwrites someone else's traffic change", async () => {
    emulator.faults.inject({
      kind: 'concurrent-traffic-change',
      service: CHECKOUT,
      traffic: [
        { revision: 'checkout-00001-abc', percent: 50 },
        { revision: 'checkout-00002-xyz', percent: 50 },
      ],
    });
    const accepted = await fireAlert(t);
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback).toMatchObject({ state: 'skipped', errorCode: 'CONCURRENT_CHANGE' });
    expect(trafficOf(CHECKOUT)).toEqual({ 'checkout-00001-abc': 50, 'checkout-00002-xyz': 50 });
  });

  it('retries UNAVAILABLE twice and then succeeds', async () => {
    emulator.faults.inject({ kind: 'unavailable', method: 'GetService', times: 2 });
    const accepted = await fireAlert(t);
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback?.state).toBe('succeeded');
    expect(steps(status).filter((step) => step === 'google_retry')).toHaveLength(2);
    expect(trafficOf(CHECKOUT)).toEqual({ 'checkout-00001-abc': 100 });
  });

  it('records a failed operation as a failed rollback and leaves traffic alone', async () => {
    emulator.faults.inject({
      kind: 'fail-next-operation',
      method: 'UpdateService',
      message: 'quota exceeded',
    });
    const accepted = await fireAlert(t);
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback).toMatchObject({
      state: 'failed',
      errorCode: 'OPERATION_FAILED',
      toRevision: 'checkout-00001-abc',
    });
    expect(status.rollback?.errorMessage).toContain('quota exceeded');
    expect(trafficOf(CHECKOUT)).toEqual({ 'checkout-00002-xyz': 100 });
    // An ERROR in Cloud Logging, an event in Error Reporting, and found by its decision's label.
    const failedLine = t.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => entry.message === 'rollback failed');
    expect(failedLine).toMatchObject({
      severity: 'ERROR',
      '@type': REPORTED_ERROR_EVENT,
      serviceContext: { service: 'lastgood' },
      [LOG_LABELS_KEY]: { decisionId: accepted.decisionId, target: 'checkout' },
    });
  });

  it('gives up on a Google API that stays down, with a terminal state', async () => {
    emulator.faults.inject({ kind: 'unavailable', method: 'GetService', times: 'until-cleared' });
    const accepted = await fireAlert(t);
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback).toMatchObject({ state: 'failed', errorCode: 'GOOGLE_API_ERROR' });
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('does nothing in dry-run mode but records that it would have rolled back', async () => {
    const before = trafficOf(PAYMENTS);
    const accepted = await fireAlert(t, { service: 'payments', target: 'payments' });
    expect(accepted.reason).toBe('DRY_RUN');
    const status = await t.store.getStatus(accepted.decisionId);
    expect(status?.decision.wouldRollback).toBe(true);
    expect(status?.rollback).toBeNull();
    await sleep(200);
    expect(emulator.calls.count('UpdateService')).toBe(0);
    expect(trafficOf(PAYMENTS)).toEqual(before);
  });

  it('rolls back to a named revision on a manual request, recording who asked', async () => {
    const accepted = await requestManualRollback(t, 'checkout', 'checkout-00001-abc');
    expect(accepted.statusCode).toBe(202);
    const status = await waitForRollback(t.store, accepted.json().decisionId);
    expect(status.decision).toMatchObject({ reason: 'MANUAL', requestedBy: 'alice' });
    expect(status.rollback).toMatchObject({
      state: 'succeeded',
      lkgRule: 'requested',
      toRevision: 'checkout-00001-abc',
    });
    expect(trafficOf(CHECKOUT)).toEqual({ 'checkout-00001-abc': 100 });
  });

  it.each([
    ['a missing revision', 'checkout-00099-zzz', 'not_found'],
    ['a revision that is not Ready', 'payments-00009-wqd', 'not_ready'],
  ])('refuses a manual rollback to %s with 409', async (_name, revision, problem) => {
    const service = revision.startsWith('payments') ? 'payments' : 'checkout';
    const response = await requestManualRollback(t, service, revision);
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({
      code: 'LASTGOOD_ERR_REVISION_UNUSABLE',
      details: { revision, problem },
    });
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });
});

describe('GET /rollback/metrics after real rollbacks', () => {
  it('reports the success rate and p50/p95 time to rollback that the timelines show', async () => {
    const automatic = await fireAlert(t);
    const manual = await requestManualRollback(t, 'payments', 'payments-00007-kpm');
    expect(manual.statusCode).toBe(202);
    const statuses = await Promise.all(
      [automatic.decisionId, manual.json().decisionId].map((id) => waitForRollback(t.store, id)),
    );
    expect(statuses.map((status) => status.rollback?.state)).toEqual(['succeeded', 'succeeded']);
    expect(trafficOf(CHECKOUT)).toEqual({ 'checkout-00001-abc': 100 });
    expect(trafficOf(PAYMENTS)).toEqual({ 'payments-00007-kpm': 100 });
    // From the alert's arrival, or from the decision for a manual request, which has no alert, to success.
    const [shorter, longer] = statuses
      .map((status) => {
        const end = status.timeline.find((event) => event.step === 'succeeded');
        return (end?.at.getTime() ?? Number.NaN) - (status.timeline[0]?.at.getTime() ?? Number.NaN);
      })
      .sort((a, b) => a - b);

    const response = await t.app.server.inject({
      method: 'GET',
      url: '/rollback/metrics',
      headers: bearer(VIEWER_TOKEN),
    });

    expect(response.statusCode).toBe(200);
    const { rollbacks } = response.json();
    expect(rollbacks).toMatchObject({ total: 2, byState: { succeeded: 2 }, successRate: 1 });
    // Nearest rank over two values: the median is the shorter, the 95th percentile the longer.
    expect(rollbacks.timeToRollbackMs).toEqual({ count: 2, p50: shorter, p95: longer });
    expect(rollbacks.timeToRollbackMs.p50).toBeGreaterThan(0);
    expect(rollbacks.timeToRollbackMs.p50).toBeLessThanOrEqual(rollbacks.timeToRollbackMs.p95);
  });
});

describe('Cloud Run rollback with no last known good revision', () => {
  it('records NO_LKG, escalates it as critical and leaves traffic alone', async () => {
    const onlyBadReady = await startEmulator({
      adminPort: null,
      fixture: {
        cloudRun: {
          services: [
            {
              name: CHECKOUT,
              revisions: [
                { name: 'checkout-00001-abc', createTime: '2025-06-02T09:00:00Z', ready: false },
                // Deployed minutes before the alert: the change timing blames it, so only the lack of a revision
                // to go back to stops the rollback.
                { name: 'checkout-00002-xyz', createTime: '-5m' },
              ],
              traffic: [{ revision: 'checkout-00002-xyz', percent: 100 }],
            },
          ],
        },
      },
    });
    const app = await startTestApp({ emulatorHost: onlyBadReady.host });
    try {
      const accepted = await fireAlert(app);
      const status = await waitForRollback(app.store, accepted.decisionId);
      expect(status.rollback).toMatchObject({
        state: 'no_lkg',
        errorCode: 'NO_LKG',
        fromRevision: 'checkout-00002-xyz',
      });
      expect(steps(status)).toContain('no_lkg');
      expect(onlyBadReady.calls.count('UpdateService')).toBe(0);
      expect(trafficOf(CHECKOUT, onlyBadReady)).toEqual({ 'checkout-00002-xyz': 100 });
      // The rest of the flood waits out the cooldown instead of each alert trying (and paging) again.
      const next = await fireAlert(app, { incidentId: '0.still-burning' });
      expect(next).toMatchObject({ reason: 'COOLDOWN' });
      const audit = await app.app.server.inject({
        method: 'GET',
        url: '/v1/audit',
        headers: bearer(VIEWER_TOKEN),
      });
      expect(audit.statusCode).toBe(200);
      expect(
        audit.json().items.filter((event: { type: string }) => event.type === 'rollback_no_lkg'),
      ).toEqual([
        expect.objectContaining({
          severity: 'critical',
          decisionId: accepted.decisionId,
          target: 'checkout',
          data: expect.objectContaining({ errorCode: 'NO_LKG', fromRevision: 'checkout-00002-xyz' }),
        }),
      ]);
    } finally {
      await app.close();
      await onlyBadReady.stop();
    }
  });
});
