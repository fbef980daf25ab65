import type { v1 } from '@google-cloud/deploy';
import { status } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { createCloudDeployClient } from '../../src/targets/google-clients.ts';
import {
  FAST_POLLING,
  PIPELINE,
  REL_001,
  REL_002,
  REL_002_ROLLOUT,
  useExampleEmulator,
} from '../helpers/emulator.ts';
import { eventually } from '../helpers/poll.ts';

const PRODUCTION = 'projects/demo-project/locations/us-central1/targets/production';
const GOOD_ROLLOUT = `${REL_001}/rollouts/rel-001-to-production-0001`;

let emu: Emulator;
let deploy: v1.CloudDeployClient;

useExampleEmulator(
  (started) => {
    emu = started;
    deploy = createCloudDeployClient(emu.host);
  },
  // Long enough that a loaded runner still sees each phase: at 30 ms, CI once saw a rollback's rollout only from
  // IN_PROGRESS on, its PENDING over before the first GetRollout arrived.
  { rolloutPhaseDelayMs: 250 },
);
afterAll(() => deploy.close());

function currentReleaseOnProduction(): string | undefined {
  return emu.state.cloudDeploy.pipeline(PIPELINE)?.targets.find((target) => target.targetId === 'production')
    ?.currentRelease;
}

/** Polls GetRollout until it leaves PENDING and IN_PROGRESS, returning every state it was seen in. */
async function watchRollout(name: string): Promise<string[]> {
  const seen: string[] = [];
  return eventually(
    async () => {
      const [rollout] = await deploy.getRollout({ name });
      const state = String(rollout.state);
      if (seen.at(-1) !== state) seen.push(state);
      return state !== 'PENDING' && state !== 'IN_PROGRESS' ? seen : undefined;
    },
    () => `rollout ${name} to finish: ${seen.join(' -> ')}`,
  );
}

async function suspendPipeline(suspended: boolean) {
  const [operation] = await deploy.updateDeliveryPipeline(
    { deliveryPipeline: { name: PIPELINE, suspended }, updateMask: { paths: ['suspended'] } },
    FAST_POLLING,
  );
  return operation;
}

describe('Cloud Deploy v1 emulator through the real @google-cloud/deploy client', () => {
  it('answers the delivery pipeline with its stages, and the production target', async () => {
    const [pipeline] = await deploy.getDeliveryPipeline({ name: PIPELINE });
    const [target] = await deploy.getTarget({ name: PRODUCTION });

    expect(pipeline.suspended).toBe(false);
    expect(pipeline.serialPipeline?.stages?.map((stage) => stage.targetId)).toEqual([
      'staging',
      'production',
    ]);
    expect(target).toMatchObject({
      targetId: 'production',
      run: { location: 'projects/demo-project/locations/us-central1' },
    });
  });

  it('lists releases and their rollouts newest first', async () => {
    const [releases] = await deploy.listReleases({ parent: PIPELINE });
    const [rollouts] = await deploy.listRollouts({ parent: REL_002 });

    expect(releases.map((release) => release.name)).toEqual([REL_002, REL_001]);
    expect(releases[0]?.buildArtifacts?.[0]?.tag).toContain('storefront:2.8.0');
    expect(rollouts.map((rollout) => [rollout.targetId, rollout.state])).toEqual([
      ['production', 'SUCCEEDED'],
      ['staging', 'SUCCEEDED'],
    ]);
  });

  it('answers NOT_FOUND for a release or rollout that does not exist', async () => {
    await expect(deploy.getRelease({ name: `${PIPELINE}/releases/rel-999` })).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
    await expect(deploy.getRollout({ name: `${REL_001}/rollouts/nope` })).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
  });

  it('rolls production back to the previous successful release, which then runs there', async () => {
    const [response] = await deploy.rollbackTarget({
      name: PIPELINE,
      targetId: 'production',
      rolloutId: 'lastgood-rollback-1',
      rolloutToRollBack: REL_002_ROLLOUT,
    });

    const rollout = response.rollbackConfig?.rollout;
    expect(rollout).toMatchObject({
      name: `${REL_001}/rollouts/lastgood-rollback-1`,
      state: 'PENDING',
      targetId: 'production',
      rollbackOfRollout: REL_002_ROLLOUT,
    });
    expect(await watchRollout(rollout?.name ?? '')).toEqual(['PENDING', 'IN_PROGRESS', 'SUCCEEDED']);
    expect(currentReleaseOnProduction()).toBe(REL_001);
    const [rolledBack] = await deploy.getRollout({ name: REL_002_ROLLOUT });
    expect(rolledBack.rolledBackByRollouts).toEqual([rollout?.name]);
  });

  it('answers ALREADY_EXISTS when the same rollout id is sent again for the same release', async () => {
    const request = {
      name: PIPELINE,
      targetId: 'production',
      rolloutId: 'lastgood-rollback-1',
      releaseId: 'rel-001',
      rolloutToRollBack: REL_002_ROLLOUT,
    };
    await deploy.rollbackTarget(request);

    await expect(deploy.rollbackTarget(request)).rejects.toMatchObject({ code: status.ALREADY_EXISTS });
    const [rollouts] = await deploy.listRollouts({ parent: REL_001 });
    expect(rollouts.filter((rollout) => rollout.name?.endsWith('/lastgood-rollback-1'))).toHaveLength(1);
  });

  it('creates a second rollout when a retry leaves the release to be resolved again after the first landed', async () => {
    const [first] = await deploy.rollbackTarget({
      name: PIPELINE,
      targetId: 'production',
      rolloutId: 'retry-1',
    });
    await watchRollout(first.rollbackConfig?.rollout?.name ?? '');

    const [second] = await deploy.rollbackTarget({
      name: PIPELINE,
      targetId: 'production',
      rolloutId: 'retry-1',
    });

    expect(second.rollbackConfig?.rollout?.name).toBe(`${REL_002}/rollouts/retry-1`);
  });

  it.each([
    ['an upper-case rollout id', { rolloutId: 'Rollback-1' }],
    ['a rollout id ending in -', { rolloutId: 'rollback-' }],
    ['a rollout id of 64 characters', { rolloutId: `r${'a'.repeat(63)}` }],
    ['no rollout id', { rolloutId: '' }],
    ['a target that is not a stage', { targetId: 'qa' }],
  ])('refuses %s with INVALID_ARGUMENT', async (_case, override) => {
    await expect(
      deploy.rollbackTarget({ name: PIPELINE, targetId: 'production', rolloutId: 'ok-1', ...override }),
    ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('refuses FAILED_PRECONDITION when rollout_to_roll_back is not the latest rollout on the target', async () => {
    await expect(
      deploy.rollbackTarget({
        name: PIPELINE,
        targetId: 'production',
        rolloutId: 'lastgood-rollback-1',
        rolloutToRollBack: GOOD_ROLLOUT,
      }),
    ).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    expect(currentReleaseOnProduction()).toBe(REL_002);
  });

  it('answers NOT_FOUND for a release_id that does not exist', async () => {
    await expect(
      deploy.rollbackTarget({
        name: PIPELINE,
        targetId: 'production',
        rolloutId: 'rb-1',
        releaseId: 'rel-404',
      }),
    ).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('checks a validate_only rollback without creating anything', async () => {
    const [response] = await deploy.rollbackTarget({
      name: PIPELINE,
      targetId: 'production',
      rolloutId: 'lastgood-dry-run',
      validateOnly: true,
    });

    expect(response.rollbackConfig?.rollout?.name).toBe(`${REL_001}/rollouts/lastgood-dry-run`);
    const [rollouts] = await deploy.listRollouts({ parent: REL_001 });
    expect(rollouts.map((rollout) => rollout.name)).not.toContain(`${REL_001}/rollouts/lastgood-dry-run`);
  });

  it('suspends the pipeline through an operation, after which rollbacks are refused', async () => {
    const operation = await suspendPipeline(true);
    expect(operation.done).toBe(false);
    const [pipeline] = await operation.promise();
    expect(pipeline.suspended).toBe(true);

    await expect(
      deploy.rollbackTarget({ name: PIPELINE, targetId: 'production', rolloutId: 'lastgood-rollback-1' }),
    ).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });

    await (await suspendPipeline(false)).promise();
    const [response] = await deploy.rollbackTarget({
      name: PIPELINE,
      targetId: 'production',
      rolloutId: 'lastgood-rollback-1',
    });
    expect(response.rollbackConfig?.rollout).toMatchObject({
      name: `${REL_001}/rollouts/lastgood-rollback-1`,
      rollbackOfRollout: REL_002_ROLLOUT,
    });
    const [rollouts] = await deploy.listRollouts({ parent: REL_001 });
    expect(rollouts.map((rollout) => rollout.name)).toContain(`${REL_001}/rollouts/lastgood-rollback-1`);
  });

  it('refuses a pipeline update with a stale etag as ABORTED', async () => {
    const [before] = await deploy.getDeliveryPipeline({ name: PIPELINE });
    await (await suspendPipeline(true)).promise();

    await expect(
      deploy.updateDeliveryPipeline({
        deliveryPipeline: { name: PIPELINE, suspended: false, etag: before.etag ?? null },
        updateMask: { paths: ['suspended'] },
      }),
    ).rejects.toMatchObject({ code: status.ABORTED });
  });

  it('fails the next rollout when told to, leaving the bad release on the target', async () => {
    emu.faults.inject({ kind: 'fail-next-rollout', targetId: 'production', message: 'deploy job exited 1' });

    const [response] = await deploy.rollbackTarget({
      name: PIPELINE,
      targetId: 'production',
      rolloutId: 'rb-1',
    });

    const name = response.rollbackConfig?.rollout?.name ?? '';
    expect(await watchRollout(name)).toEqual(['PENDING', 'IN_PROGRESS', 'FAILED']);
    const [rollout] = await deploy.getRollout({ name });
    expect(rollout).toMatchObject({
      failureReason: 'deploy job exited 1',
      deployFailureCause: 'EXECUTION_FAILED',
    });
    expect(currentReleaseOnProduction()).toBe(REL_002);
  });

  it('fails the next UpdateDeliveryPipeline operation when told to, leaving the pipeline as it was', async () => {
    emu.faults.inject({
      kind: 'fail-next-operation',
      method: 'UpdateDeliveryPipeline',
      code: status.INTERNAL,
    });

    await expect((await suspendPipeline(true)).promise()).rejects.toMatchObject({ code: status.INTERNAL });
    expect(emu.state.cloudDeploy.pipeline(PIPELINE)?.suspended).toBe(false);
  });

  it('answers UNAVAILABLE to RollbackTarget when injected; gax does not retry it and nothing is created', async () => {
    emu.faults.inject({ kind: 'unavailable', method: 'RollbackTarget' });

    await expect(
      deploy.rollbackTarget({ name: PIPELINE, targetId: 'production', rolloutId: 'rb-1' }),
    ).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(emu.calls.count('RollbackTarget')).toBe(1);
    const [rollouts] = await deploy.listRollouts({ parent: REL_001 });
    expect(rollouts).toHaveLength(2);
  });
});
