import { afterEach, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/emulator.ts';
import type { EmulatorFixture } from '../../src/emulator/fixture.ts';
import { rolloutIdFor } from '../../src/targets/cloud-deploy.ts';
import { createCloudDeployClient } from '../../src/targets/google-clients.ts';
import {
  bearer,
  fireAlert,
  OPERATOR_TOKEN,
  startTestApp,
  type TestApp,
  waitForRollback,
} from '../helpers/app.ts';
import { useExampleEmulator } from '../helpers/emulator.ts';

const PIPELINE = 'projects/demo-project/locations/us-central1/deliveryPipelines/storefront-pipeline';

const TIMINGS = { operationDelayMs: 10, rolloutPhaseDelayMs: 20 };

let fixture: EmulatorFixture;
let emulator: Emulator;
let t: TestApp;

useExampleEmulator((started, seed) => {
  emulator = started;
  fixture = seed;
}, TIMINGS);
afterEach(async () => {
  await t?.close();
});

function pipeline() {
  const snapshot = emulator.state.cloudDeploy.pipeline(PIPELINE);
  if (!snapshot) throw new Error('the fixture has no storefront pipeline');
  return snapshot;
}

function production() {
  return pipeline().targets.find((target) => target.targetId === 'production')!;
}

function rolloutsOf(release: string) {
  return pipeline().releases.find((entry) => entry.name.endsWith(`/releases/${release}`))?.rollouts ?? [];
}

/** A storefront alert: 30x burn, well above the threshold. */
const STOREFRONT_ALERT = { target: 'storefront', service: 'storefront', burnRate: 30 };

describe('Cloud Deploy rollback through rollbackTarget', () => {
  it('rolls the target back to the last good release with the guard, freezes the pipeline, and unfreezes on request', async () => {
    t = await startTestApp({ emulatorHost: emulator.host });
    expect(production().currentRelease).toMatch(/rel-002$/);
    const accepted = await fireAlert(t, STOREFRONT_ALERT);
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback).toMatchObject({
      state: 'succeeded',
      fromRevision: 'rel-002',
      toRevision: 'rel-001',
      lkgRule: 'previous_succeeded',
    });
    expect(production().currentRelease).toMatch(/rel-001$/);
    const created = rolloutsOf('rel-001').filter((rollout) =>
      rollout.name.endsWith(rolloutIdFor(accepted.decisionId)),
    );
    expect(created).toHaveLength(1);
    const sent = emulator.calls
      .list({ method: 'RollbackTarget' })
      .map((call) => call.request as Record<string, unknown>);
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({ validateOnly: true });
    expect(sent[1]).toMatchObject({
      rolloutId: rolloutIdFor(accepted.decisionId),
      releaseId: 'rel-001',
      rolloutToRollBack: `${PIPELINE}/releases/rel-002/rollouts/rel-002-to-production-0001`,
    });
    expect(pipeline().suspended).toBe(true);
    expect(status.timeline.map((event) => event.step)).toEqual(
      expect.arrayContaining([
        'lkg_selected',
        'rollback_validated',
        'api_call_issued',
        'rollout_created',
        'pipeline_frozen',
      ]),
    );

    const unfrozen = await t.app.server.inject({
      method: 'POST',
      url: '/v1/targets/storefront/unfreeze',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(unfrozen.statusCode).toBe(200);
    expect(unfrozen.json()).toMatchObject({ target: 'storefront', suspended: false, unfrozenBy: 'alice' });
    expect(pipeline().suspended).toBe(false);
  });

  it('finishes the same rollout after a crash between sending RollbackTarget and recording it', async () => {
    // The first process decides and is about to act, but has no worker: it "dies" right after sending the call.
    const first = await startTestApp({ env: { LASTGOOD_JOB_LEASE: '200ms' } });
    const accepted = await fireAlert(first, STOREFRONT_ALERT);
    const job = (await first.store.claimJob('doomed-worker', new Date(), 200))!;
    const rolloutToRollBack = `${PIPELINE}/releases/rel-002/rollouts/rel-002-to-production-0001`;
    await first.store.recordProgress(
      accepted.decisionId,
      { fromRevision: 'rel-002', toRevision: 'rel-001', lkgRule: 'previous_succeeded' },
      [
        { at: new Date(), step: 'lkg_selected', detail: { release: 'rel-001' } },
        { at: new Date(), step: 'api_call_issued', detail: { method: 'RollbackTarget' } },
      ],
    );
    const client = createCloudDeployClient(emulator.host);
    await client.rollbackTarget({
      name: PIPELINE,
      targetId: 'production',
      rolloutId: rolloutIdFor(accepted.decisionId),
      releaseId: 'rel-001',
      rolloutToRollBack,
    });
    await client.close();
    await first.close({ keepData: true });
    expect(job.takenOverFrom).toBeNull();

    // A new process on the same store takes the expired job over.
    await new Promise((resolve) => setTimeout(resolve, 250));
    t = await startTestApp({ emulatorHost: emulator.host, dataDir: first.dataDir });
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback).toMatchObject({ state: 'succeeded', toRevision: 'rel-001' });
    const steps = status.timeline.map((event) => event.step);
    expect(steps).toContain('job_taken_over');
    expect(steps).toContain('rollout_found');
    expect(
      rolloutsOf('rel-001').filter((rollout) => rollout.name.endsWith(rolloutIdFor(accepted.decisionId))),
    ).toHaveLength(1);
    expect(emulator.calls.count('RollbackTarget')).toBe(1);
    expect(production().currentRelease).toMatch(/rel-001$/);
  });

  it('records a FAILED rollout as a failed rollback and leaves the pipeline unfrozen', async () => {
    emulator.faults.inject({ kind: 'fail-next-rollout', targetId: 'production' });
    t = await startTestApp({ emulatorHost: emulator.host });
    const accepted = await fireAlert(t, STOREFRONT_ALERT);
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback).toMatchObject({
      state: 'failed',
      errorCode: 'ROLLOUT_FAILED',
      toRevision: 'rel-001',
    });
    expect(status.timeline.map((event) => event.step)).toContain('rollout_state');
    expect(pipeline().suspended).toBe(false);
    expect(t.logs.some((line) => line.includes('"level":50') && line.includes('rollback failed'))).toBe(true);
  });

  it('refuses to act on a suspended pipeline and calls nothing that changes it', async () => {
    const client = createCloudDeployClient(emulator.host);
    const [operation] = await client.updateDeliveryPipeline({
      deliveryPipeline: { name: PIPELINE, suspended: true },
      updateMask: { paths: ['suspended'] },
    });
    await operation.promise();
    await client.close();
    emulator.calls.clear();
    t = await startTestApp({ emulatorHost: emulator.host });
    const accepted = await fireAlert(t, STOREFRONT_ALERT);
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback).toMatchObject({ state: 'skipped', errorCode: 'PIPELINE_SUSPENDED' });
    expect(emulator.calls.count('RollbackTarget')).toBe(0);
    expect(production().currentRelease).toMatch(/rel-002$/);
  });

  it('records NO_LKG when no earlier release succeeded on the target', async () => {
    const onlyBad = structuredClone(fixture);
    const pipelines = onlyBad.cloudDeploy?.pipelines ?? [];
    pipelines[0]!.releases = pipelines[0]!.releases!.filter((release) => release.id === 'rel-002');
    const withoutGoodRelease = await startEmulator({ fixture: onlyBad, adminPort: null, ...TIMINGS });
    try {
      t = await startTestApp({ emulatorHost: withoutGoodRelease.host });
      const accepted = await fireAlert(t, STOREFRONT_ALERT);
      const status = await waitForRollback(t.store, accepted.decisionId);
      expect(status.rollback).toMatchObject({
        state: 'no_lkg',
        errorCode: 'NO_LKG',
        fromRevision: 'rel-002',
      });
      expect(withoutGoodRelease.calls.count('RollbackTarget')).toBe(0);
    } finally {
      await t.close();
      await withoutGoodRelease.stop();
    }
  });

  it('refuses to unfreeze a target that is not a Cloud Deploy target', async () => {
    t = await startTestApp({ emulatorHost: emulator.host });
    const response = await t.app.server.inject({
      method: 'POST',
      url: '/v1/targets/checkout/unfreeze',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(response.statusCode).toBe(400);
  });
});
