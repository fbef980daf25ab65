import type { v1 } from '@google-cloud/deploy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RollbackOutcome } from '../../src/domain/rollback.ts';
import type { TargetConfig } from '../../src/domain/target.ts';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { isLastgoodError } from '../../src/errors.ts';
import { CloudDeployExecutor, rolloutIdFor } from '../../src/targets/cloud-deploy.ts';
import { LeaseLostError } from '../../src/targets/executor.ts';
import { createCloudDeployClient } from '../../src/targets/google-clients.ts';
import { PIPELINE, useExampleEmulator } from '../helpers/emulator.ts';
import { lastgoodRollouts, mutatingCalls } from '../replicas/support.ts';
import { exampleTarget, type FakeContext, fakeContext, fastPolicy } from './execution-context.ts';

const storefront = exampleTarget('storefront');
/** storefront without the freeze after a rollback, so a second rollback can follow the first. */
const unfrozen: TargetConfig = {
  ...storefront,
  execution: { ...storefront.execution, freezeAfterRollback: false },
};
const PLAN = { fromRevision: 'rel-002', toRevision: 'rel-001', lkgRule: 'previous_succeeded' };
/** Rollouts stay PENDING, then IN_PROGRESS, this long each: long enough to race, short enough to wait for. */
const ROLLOUT_PHASE_MS = 100;

let emulator: Emulator;
let client: v1.CloudDeployClient;
let executor: CloudDeployExecutor;

useExampleEmulator(
  (started) => {
    emulator = started;
  },
  { rolloutPhaseDelayMs: ROLLOUT_PHASE_MS },
);
beforeAll(() => {
  client = createCloudDeployClient(emulator.host);
  executor = new CloudDeployExecutor(client, fastPolicy());
});
afterAll(async () => {
  await client.close();
});

/** The steps, leaving out the rollout's state changes, whose number depends on timing. */
function stepsBesidesPolling(fake: FakeContext): string[] {
  return fake.names().filter((step) => step !== 'rollout_state');
}

function rolloutNameFor(fake: FakeContext, release = 'rel-001'): string {
  return `${PIPELINE}/releases/${release}/rollouts/${rolloutIdFor(fake.context.decisionId)}`;
}

function pipelineSuspended(): boolean | undefined {
  return emulator.state.cloudDeploy.pipeline(PIPELINE)?.suspended;
}

describe('CloudDeployExecutor against the emulator, with a fake execution context', () => {
  it('rolls the target back under its derived rollout id, follows the rollout, and freezes the pipeline', async () => {
    const fake = fakeContext(storefront);
    const outcome = await executor.execute(fake.context);
    expect(outcome).toEqual({ state: 'succeeded', ...PLAN, errorCode: null, errorMessage: null });
    expect(stepsBesidesPolling(fake)).toEqual([
      'lkg_selected',
      'rollback_validated',
      'api_call_issued',
      'rollout_created',
      'pipeline_frozen',
    ]);
    expect(fake.steps.filter((step) => step.step === 'rollout_state').at(-1)?.detail.state).toBe('SUCCEEDED');
    expect(fake.learnt).toEqual(PLAN);
    expect(lastgoodRollouts(emulator)).toEqual([
      expect.objectContaining({ name: rolloutNameFor(fake), state: 'SUCCEEDED' }),
    ]);
    expect(pipelineSuspended()).toBe(true);
  });

  it('on takeover, finds the rollout the earlier attempt created and follows it: one rollout', async () => {
    const died = new Error('the first worker died right after Google accepted the rollback');
    const first = fakeContext(storefront, {
      onStep: ({ step }) => {
        if (step === 'rollout_created') throw died;
      },
    });
    await expect(executor.execute(first.context)).rejects.toBe(died);
    const second = fakeContext(storefront, { decisionId: first.context.decisionId, previous: first.learnt });
    const outcome = await executor.execute(second.context);
    expect(outcome).toEqual({ state: 'succeeded', ...PLAN, errorCode: null, errorMessage: null });
    expect(stepsBesidesPolling(second)).toEqual(['rollout_found', 'pipeline_frozen']);
    expect(mutatingCalls(emulator, 'RollbackTarget')).toHaveLength(1);
    expect(lastgoodRollouts(emulator)).toEqual([
      expect.objectContaining({ name: rolloutNameFor(first), state: 'SUCCEEDED' }),
    ]);
  });

  it('when the answer was lost, its retry meets ALREADY_EXISTS and follows the rollout: one rollout', async () => {
    emulator.faults.inject({
      kind: 'hold-response',
      method: 'RollbackTarget',
      ms: 20,
      answer: 'unavailable',
    });
    const fake = fakeContext(storefront);
    const outcome = await executor.execute(fake.context);
    expect(outcome.state).toBe('succeeded');
    expect(fake.names()).toContain('google_retry');
    expect(fake.names()).toContain('rollout_already_exists');
    expect(lastgoodRollouts(emulator)).toHaveLength(1);
  });

  it('stops before RollbackTarget when the lease is lost: no rollout reaches the emulator', async () => {
    const fake = fakeContext(storefront, { holdsLease: false });
    const error = await executor.execute(fake.context).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(fake.names()).not.toContain('api_call_issued');
    expect(mutatingCalls(emulator, 'RollbackTarget')).toHaveLength(0);
    expect(lastgoodRollouts(emulator)).toEqual([]);
    expect(pipelineSuspended()).toBe(false);
  });

  it('skips with PIPELINE_SUSPENDED once an earlier rollback froze the pipeline', async () => {
    await executor.execute(fakeContext(storefront).context);
    const fake = fakeContext(storefront);
    const outcome = await executor.execute(fake.context);
    expect(outcome).toMatchObject({ state: 'skipped', errorCode: 'PIPELINE_SUSPENDED' });
    expect(fake.names()).toEqual(['pipeline_suspended']);
    expect(mutatingCalls(emulator, 'RollbackTarget')).toHaveLength(1);
  });

  it('skips with DEPLOY_IN_PROGRESS while another rollout to the target is under way', async () => {
    let raced: RollbackOutcome | null = null;
    const other = fakeContext(unfrozen);
    const first = fakeContext(unfrozen, {
      onStep: async ({ step }) => {
        if (step === 'rollout_created') raced = await executor.execute(other.context);
      },
    });
    expect((await executor.execute(first.context)).state).toBe('succeeded');
    expect(raced).toMatchObject({ state: 'skipped', errorCode: 'DEPLOY_IN_PROGRESS' });
    expect(other.names()).toEqual(['deploy_in_progress']);
    expect(lastgoodRollouts(emulator)).toHaveLength(1);
  });

  it('ends NO_LKG when the only earlier release was already rolled back off the target', async () => {
    await executor.execute(fakeContext(unfrozen).context);
    const fake = fakeContext(unfrozen);
    const outcome = await executor.execute(fake.context);
    expect(outcome).toMatchObject({
      state: 'no_lkg',
      errorCode: 'NO_LKG',
      fromRevision: 'rel-001',
      toRevision: null,
    });
    expect(fake.names()).toEqual(['no_lkg']);
    expect(mutatingCalls(emulator, 'RollbackTarget')).toHaveLength(1);
  });

  it('ends ROLLOUT_FAILED when the rollback rollout fails', async () => {
    emulator.faults.inject({ kind: 'fail-next-rollout', targetId: 'production' });
    const fake = fakeContext(storefront);
    const outcome = await executor.execute(fake.context);
    expect(outcome).toMatchObject({ state: 'failed', errorCode: 'ROLLOUT_FAILED', ...PLAN });
    expect(lastgoodRollouts(emulator)).toEqual([expect.objectContaining({ state: 'FAILED' })]);
    expect(pipelineSuspended()).toBe(false);
  });

  it('ends VERIFY_TIMEOUT when the rollout does not finish within the completion timeout', async () => {
    const impatient = new CloudDeployExecutor(
      client,
      // The timeout bounds the whole job, planning included: enough to plan, too little for two rollout phases.
      fastPolicy({ completionTimeoutMs: ROLLOUT_PHASE_MS * 1.5 }),
    );
    const fake = fakeContext(storefront);
    const outcome = await impatient.execute(fake.context);
    expect(outcome).toMatchObject({ state: 'failed', errorCode: 'VERIFY_TIMEOUT', ...PLAN });
    expect(outcome.errorMessage).toContain('did not finish');
    expect(pipelineSuspended()).toBe(false);
  });

  it('refuses a requested release that never succeeded on the target with LASTGOOD_ERR_REVISION_UNUSABLE', async () => {
    const fake = fakeContext(storefront, { requestedRevision: 'rel-999' });
    const error = await executor.execute(fake.context).catch((caught: unknown) => caught);
    expect(isLastgoodError(error) && error.code).toBe('LASTGOOD_ERR_REVISION_UNUSABLE');
    expect(mutatingCalls(emulator, 'RollbackTarget')).toHaveLength(0);
  });

  it('raises LASTGOOD_ERR_GOOGLE_API once the retries of UNAVAILABLE run out, creating nothing', async () => {
    emulator.faults.inject({ kind: 'unavailable', method: 'GetDeliveryPipeline', times: 'until-cleared' });
    const fake = fakeContext(storefront);
    const error = await executor.execute(fake.context).catch((caught: unknown) => caught);
    expect(isLastgoodError(error) && error.code).toBe('LASTGOOD_ERR_GOOGLE_API');
    expect(fake.names()).toEqual(['google_retry', 'google_retry', 'google_retry']);
    expect(lastgoodRollouts(emulator)).toEqual([]);
  });
});
