import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/emulator.ts';
import type { EmulatorFixture } from '../../src/emulator/fixture.ts';
import { rolloutIdFor } from '../../src/targets/cloud-deploy.ts';
import { createCloudDeployClient } from '../../src/targets/google-clients.ts';
import {
  bearer,
  EXAMPLE_POLICY,
  fireAlert,
  OPERATOR_TOKEN,
  requestManualRollback,
  startTestApp,
  type TestApp,
  VIEWER_TOKEN,
  waitForRollback,
} from '../helpers/app.ts';
import { PIPELINE, REL_002_ROLLOUT, useExampleEmulator } from '../helpers/emulator.ts';
import { sleep } from '../helpers/poll.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const TIMINGS = { operationDelayMs: 10, rolloutPhaseDelayMs: 20 };

type PipelineFixture = NonNullable<NonNullable<EmulatorFixture['cloudDeploy']>['pipelines']>[number];
type ReleaseFixture = NonNullable<PipelineFixture['releases']>[number];

let fixture: EmulatorFixture;
let emulator: Emulator;
let t: TestApp | undefined;

useExampleEmulator((started, seed) => {
  emulator = started;
  fixture = seed;
}, TIMINGS);
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function pipeline(on: Emulator = emulator) {
  const snapshot = on.state.cloudDeploy.pipeline(PIPELINE);
  if (!snapshot) throw new Error('the fixture has no storefront pipeline');
  return snapshot;
}

function production(on: Emulator = emulator) {
  return pipeline(on).targets.find((target) => target.targetId === 'production')!;
}

function rolloutsOf(release: string, on: Emulator = emulator) {
  return pipeline(on).releases.find((entry) => entry.name.endsWith(`/releases/${release}`))?.rollouts ?? [];
}

/**
 * Runs `body` against an emulator of its own, seeded with the example fixture's storefront releases as `edit`
 * leaves them; the app `body` starts is closed before that emulator stops.
 */
async function withReleases(
  edit: (releases: ReleaseFixture[]) => ReleaseFixture[],
  body: (other: Emulator) => Promise<void>,
): Promise<void> {
  const changed = structuredClone(fixture);
  const storefront = changed.cloudDeploy!.pipelines![0]!;
  storefront.releases = edit(storefront.releases ?? []);
  const other = await startEmulator({ fixture: changed, adminPort: null, ...TIMINGS });
  try {
    await body(other);
  } finally {
    await t?.close();
    t = undefined;
    await other.stop();
  }
}

/** A storefront release rolled out to production at `at`, in `state`. */
function productionRelease(
  id: string,
  at: string,
  state: 'SUCCEEDED' | 'FAILED' | 'IN_PROGRESS',
): ReleaseFixture {
  return {
    id,
    createTime: at,
    images: { storefront: `us-docker.pkg.dev/demo-project/apps/storefront:${id}` },
    rollouts: [{ id: `${id}-to-production-0001`, target: 'production', createTime: at, state }],
  };
}

function unfreeze(app: TestApp, target = 'storefront') {
  return app.app.server.inject({
    method: 'POST',
    url: `/v1/targets/${target}/unfreeze`,
    headers: bearer(OPERATOR_TOKEN),
  });
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
      rolloutToRollBack: REL_002_ROLLOUT,
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

    const unfrozen = await unfreeze(t);
    expect(unfrozen.statusCode).toBe(200);
    expect(unfrozen.json()).toMatchObject({ target: 'storefront', suspended: false, unfrozenBy: 'alice' });
    expect(pipeline().suspended).toBe(false);
  });

  it('finishes the same rollout after a crash between sending RollbackTarget and recording it', async () => {
    // The first process decides and is about to act, but has no worker: it "dies" right after sending the call.
    const first = await startTestApp({ env: { LASTGOOD_JOB_LEASE: '200ms' } });
    const accepted = await fireAlert(first, STOREFRONT_ALERT);
    const job = (await first.store.claimJob('doomed-worker', new Date(), 200))!;
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
      rolloutToRollBack: REL_002_ROLLOUT,
    });
    await client.close();
    await first.close({ keepData: true });
    expect(job.takenOverFrom).toBeNull();

    // A new process on the same store takes the expired job over.
    await sleep(250);
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

  describe('when the rollback rollout does not succeed', () => {
    let pagerDuty: Receiver;
    beforeEach(async () => {
      pagerDuty = await startReceiver('/v2/enqueue');
    });
    afterEach(async () => {
      await pagerDuty.close();
    });

    it('records a FAILED rollout as a failed rollback, pages, and holds the target for a person', async () => {
      emulator.faults.inject({ kind: 'fail-next-rollout', targetId: 'production' });
      t = await startTestApp({
        emulatorHost: emulator.host,
        env: {
          LASTGOOD_PAGERDUTY_ROUTING_KEY: 'R0UTING-KEY-CLOUD-DEPLOY',
          LASTGOOD_PAGERDUTY_URL: pagerDuty.url,
        },
      });
      const accepted = await fireAlert(t, STOREFRONT_ALERT);
      const status = await waitForRollback(t.store, accepted.decisionId);
      expect(status.rollback).toMatchObject({
        state: 'failed',
        errorCode: 'ROLLOUT_FAILED',
        toRevision: 'rel-001',
      });
      expect(status.timeline.map((event) => event.step)).toContain('rollout_state');
      expect(pipeline().suspended).toBe(false);
      expect(t.logs.some((line) => line.includes('"level":50') && line.includes('rollback failed'))).toBe(
        true,
      );

      const [page] = await pagerDuty.waitFor(1);
      expect(page!.json).toMatchObject({
        event_action: 'trigger',
        dedup_key: `lastgood-${accepted.decisionId}`,
        payload: { severity: 'critical', class: 'rollback_failed', component: 'storefront' },
      });
      const audit = await t.store.listAudit(null, 50);
      expect(audit.find((event) => event.type === 'rollback_failed')).toMatchObject({
        severity: 'critical',
        target: 'storefront',
        decisionId: accepted.decisionId,
        data: { errorCode: 'ROLLOUT_FAILED', toRevision: 'rel-001' },
      });
      const controls = await t.app.server.inject({
        method: 'GET',
        url: '/v1/kill-switch',
        headers: bearer(VIEWER_TOKEN),
      });
      expect(controls.json().targets).toContainEqual(
        expect.objectContaining({
          name: 'storefront',
          blockedBy: { decisionId: accepted.decisionId, why: 'rollback_failed' },
        }),
      );
      // Until a person resumes the target, a fresh alert is held rather than retried against the pipeline.
      expect((await fireAlert(t, STOREFRONT_ALERT)).reason).toBe('NEEDS_PERSON');
    });

    it('records a HALTED rollout as a failed rollback with the terminal state in its status', async () => {
      emulator.faults.inject({
        kind: 'fail-next-rollout',
        targetId: 'production',
        state: 'HALTED',
        message: 'Injected fault: the rollout was halted.',
      });
      t = await startTestApp({ emulatorHost: emulator.host });
      const accepted = await fireAlert(t, STOREFRONT_ALERT);
      await waitForRollback(t.store, accepted.decisionId);

      const response = await t.app.server.inject({
        method: 'GET',
        url: `/v1/rollback/status/${accepted.decisionId}`,
        headers: bearer(VIEWER_TOKEN),
      });
      expect(response.statusCode).toBe(200);
      const status = response.json();
      const rolloutName = `${PIPELINE}/releases/rel-001/rollouts/${rolloutIdFor(accepted.decisionId)}`;
      expect(status.rollback).toMatchObject({
        state: 'failed',
        error: { code: 'ROLLOUT_FAILED', message: expect.stringContaining('ended HALTED') },
        fromRevision: 'rel-002',
        toRevision: 'rel-001',
      });
      expect(status.timeline).toContainEqual(
        expect.objectContaining({ step: 'rollout_state', detail: { rollout: rolloutName, state: 'HALTED' } }),
      );
      expect(rolloutsOf('rel-001').find((rollout) => rollout.name === rolloutName)?.state).toBe('HALTED');
      expect(production().currentRelease).toMatch(/rel-002$/);
      expect(pipeline().suspended).toBe(false);
    });
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
    expect(emulator.calls.count('UpdateDeliveryPipeline')).toBe(0);
    expect(production().currentRelease).toMatch(/rel-002$/);
    expect(pipeline().suspended).toBe(true);
  });

  it('records NO_LKG when no earlier release succeeded on the target', async () => {
    await withReleases(
      (releases) => releases.filter((release) => release.id === 'rel-002'),
      async (other) => {
        t = await startTestApp({ emulatorHost: other.host });
        const accepted = await fireAlert(t, STOREFRONT_ALERT);
        const status = await waitForRollback(t.store, accepted.decisionId);
        expect(status.rollback).toMatchObject({
          state: 'no_lkg',
          errorCode: 'NO_LKG',
          fromRevision: 'rel-002',
        });
        expect(other.calls.count('RollbackTarget')).toBe(0);
      },
    );
  });

  it('leaves the pipeline running after a rollback when the target does not freeze', async () => {
    t = await startTestApp({
      emulatorHost: emulator.host,
      policy: EXAMPLE_POLICY.replace(
        '    target: production\n',
        '    target: production\n    freezeAfterRollback: false\n',
      ),
    });
    expect(t.config.targets.get('storefront')?.execution.freezeAfterRollback).toBe(false);
    const accepted = await fireAlert(t, STOREFRONT_ALERT);
    const status = await waitForRollback(t.store, accepted.decisionId);
    expect(status.rollback).toMatchObject({ state: 'succeeded', toRevision: 'rel-001' });
    expect(production().currentRelease).toMatch(/rel-001$/);
    expect(pipeline().suspended).toBe(false);
    expect(emulator.calls.count('UpdateDeliveryPipeline')).toBe(0);
    expect(status.timeline.map((event) => event.step)).not.toContain('pipeline_frozen');
  });

  it('rolls back by hand to a named earlier release rather than the previous one', async () => {
    await withReleases(
      (releases) => [...releases, productionRelease('rel-003', '-2m', 'SUCCEEDED')],
      async (other) => {
        t = await startTestApp({ emulatorHost: other.host });
        const response = await requestManualRollback(t, 'storefront', 'rel-001');
        expect(response.statusCode).toBe(202);
        expect(response.json()).toMatchObject({
          target: 'storefront',
          requestedRevision: 'rel-001',
          requestedBy: 'alice',
          action: 'rollback',
          reason: 'MANUAL',
        });
        const { decisionId } = response.json();
        const status = await waitForRollback(t.store, decisionId);
        expect(status.rollback).toMatchObject({
          state: 'succeeded',
          fromRevision: 'rel-003',
          toRevision: 'rel-001',
          lkgRule: 'requested',
        });
        const created = rolloutsOf('rel-001', other).find((rollout) =>
          rollout.name.endsWith(`/rollouts/${rolloutIdFor(decisionId)}`),
        );
        expect(created).toMatchObject({
          targetId: 'production',
          state: 'SUCCEEDED',
          rollbackOfRollout: `${PIPELINE}/releases/rel-003/rollouts/rel-003-to-production-0001`,
        });
        expect(production(other).currentRelease).toMatch(/rel-001$/);
      },
    );
  });

  it('refuses a manual rollback to a release that does not exist with 409 and calls nothing', async () => {
    t = await startTestApp({ emulatorHost: emulator.host });
    const response = await requestManualRollback(t, 'storefront', 'rel-099');
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({
      code: 'LASTGOOD_ERR_REVISION_UNUSABLE',
      details: { release: 'rel-099', problem: 'never_succeeded_on_target' },
    });
    expect(emulator.calls.count('RollbackTarget')).toBe(0);
    expect(production().currentRelease).toMatch(/rel-002$/);
  });

  it('rolls back what is deployed, not a newer release whose rollout failed', async () => {
    await withReleases(
      (releases) => [...releases, productionRelease('rel-003', '-2m', 'FAILED')],
      async (other) => {
        t = await startTestApp({ emulatorHost: other.host });
        const accepted = await fireAlert(t, STOREFRONT_ALERT);
        const status = await waitForRollback(t.store, accepted.decisionId);
        expect(status.rollback).toMatchObject({
          state: 'succeeded',
          fromRevision: 'rel-002',
          toRevision: 'rel-001',
        });
        expect(other.calls.list({ method: 'RollbackTarget' }).at(-1)?.request).toMatchObject({
          releaseId: 'rel-001',
          rolloutToRollBack: REL_002_ROLLOUT,
        });
        expect(production(other).currentRelease).toMatch(/rel-001$/);
      },
    );
  });

  it('steps back past a release it already rolled back, never onto it', async () => {
    await withReleases(
      (releases) => [...releases, productionRelease('rel-003', '-2m', 'SUCCEEDED')],
      async (other) => {
        t = await startTestApp({ emulatorHost: other.host });
        const first = await fireAlert(t, STOREFRONT_ALERT);
        expect((await waitForRollback(t.store, first.decisionId)).rollback).toMatchObject({
          state: 'succeeded',
          fromRevision: 'rel-003',
          toRevision: 'rel-002',
        });
        expect((await unfreeze(t)).statusCode).toBe(200);

        // rel-003's rollout succeeded too, and is newer than rel-001's; only the rollback marks it bad.
        const second = await requestManualRollback(t, 'storefront');
        expect(second.statusCode).toBe(202);
        expect((await waitForRollback(t.store, second.json().decisionId)).rollback).toMatchObject({
          state: 'succeeded',
          fromRevision: 'rel-002',
          toRevision: 'rel-001',
          lkgRule: 'previous_succeeded',
        });
        expect(production(other).currentRelease).toMatch(/rel-001$/);
      },
    );
  });

  it('refuses to race a rollout still in progress on the target, and pages', async () => {
    await withReleases(
      (releases) => [...releases, productionRelease('rel-003', '-2m', 'IN_PROGRESS')],
      async (other) => {
        t = await startTestApp({ emulatorHost: other.host });
        const accepted = await fireAlert(t, STOREFRONT_ALERT);
        const status = await waitForRollback(t.store, accepted.decisionId);
        expect(status.rollback).toMatchObject({
          state: 'skipped',
          errorCode: 'DEPLOY_IN_PROGRESS',
          errorMessage: expect.stringContaining('rel-003-to-production-0001'),
        });
        const audit = await t.store.listAudit(null, 50);
        expect(audit.find((event) => event.type === 'rollback_skipped')).toMatchObject({
          severity: 'critical',
          decisionId: accepted.decisionId,
        });
        expect(other.calls.count('RollbackTarget')).toBe(0);
        expect(other.calls.count('UpdateDeliveryPipeline')).toBe(0);
        expect(rolloutsOf('rel-003', other).map((rollout) => rollout.state)).toEqual(['IN_PROGRESS']);
      },
    );
  });

  it('refuses to unfreeze a target that is not a Cloud Deploy target', async () => {
    t = await startTestApp({ emulatorHost: emulator.host });
    const response = await unfreeze(t, 'checkout');
    expect(response.statusCode).toBe(400);
  });
});
