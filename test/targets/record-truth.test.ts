import { setTimeout as sleep } from 'node:timers/promises';
import type { v1 } from '@google-cloud/deploy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { isLastgoodError } from '../../src/errors.ts';
import { CloudDeployExecutor } from '../../src/targets/cloud-deploy.ts';
import { CloudRunExecutor } from '../../src/targets/cloud-run.ts';
import {
  type CloudRunClients,
  createCloudDeployClient,
  createCloudRunClients,
} from '../../src/targets/google-clients.ts';
import {
  CHECKOUT,
  deployRelease,
  FAST_POLLING,
  GOOD_REVISION,
  PIPELINE,
  servingSplit,
  useExampleEmulator,
} from '../helpers/emulator.ts';
import { lastgoodRollouts } from '../replicas/support.ts';
import { exampleTarget, fakeContext, fastPolicy } from './execution-context.ts';

/** Short enough to keep the tests quick, long enough that a call slower than the deadline is plainly slower. */
const DEADLINE_MS = 200;
const ROLLBACK_TIMEOUT_MS = 1500;
const policy = fastPolicy({ deadlineMs: DEADLINE_MS, completionTimeoutMs: ROLLBACK_TIMEOUT_MS });

const checkout = exampleTarget('checkout');
const storefront = exampleTarget('storefront');

let emulator: Emulator;
let runClients: CloudRunClients;
let deployClient: v1.CloudDeployClient;

useExampleEmulator(
  (started) => {
    emulator = started;
  },
  { rolloutPhaseDelayMs: 30 },
);
beforeAll(async () => {
  runClients = createCloudRunClients(emulator.host);
  deployClient = createCloudDeployClient(emulator.host);
  // Connected before the first test, so connecting is not counted against its short deadline.
  await Promise.all([
    runClients.services.getService({ name: CHECKOUT }),
    deployClient.getDeliveryPipeline({ name: PIPELINE }),
  ]);
});
afterAll(async () => {
  await Promise.all([runClients.close(), deployClient.close()]);
});

/** Waits until the emulator has answered every call of `method`, so none lands in the next test's state. */
async function settled(method: string): Promise<void> {
  while (emulator.calls.list({ method }).some((call) => call.code === null)) await sleep(20);
}

function pipelineState() {
  return emulator.state.cloudDeploy.pipeline(PIPELINE)!;
}

function production() {
  return pipelineState().targets.find((target) => target.targetId === 'production')!;
}

/** Someone other than lastgood suspends the storefront pipeline, and the change lands. */
async function suspendPipelineAsSomeoneElse(): Promise<void> {
  const [operation] = await deployClient.updateDeliveryPipeline(
    { deliveryPipeline: { name: PIPELINE, suspended: true }, updateMask: { paths: ['suspended'] } },
    FAST_POLLING,
  );
  await operation.promise();
}

describe('Cloud Run: the recorded outcome is what Cloud Run shows, whatever Google did', () => {
  it('bounds a GetOperation slower than the deadline by the rollback timeout, then records the traffic it reads', async () => {
    emulator.faults.inject({ kind: 'latency', method: 'GetOperation', ms: 4000 });
    const executor = new CloudRunExecutor(runClients, policy);
    const fake = fakeContext(checkout);
    const startedAt = Date.now();
    const outcome = await executor.execute(fake.context);
    const tookMs = Date.now() - startedAt;
    expect(outcome).toMatchObject({ state: 'succeeded', toRevision: GOOD_REVISION });
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
    // The timeout, plus one bounded read of the truth, plus room for the test machine.
    expect(tookMs).toBeLessThan(ROLLBACK_TIMEOUT_MS + DEADLINE_MS + 700);
  });

  it('records success when an UpdateService given up at its deadline lands afterwards', async () => {
    emulator.faults.inject({ kind: 'latency', method: 'UpdateService', ms: 700 });
    const executor = new CloudRunExecutor(runClients, policy);
    const fake = fakeContext(checkout);
    const outcome = await executor.execute(fake.context).catch((error: unknown) => error);
    await settled('UpdateService');
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
    expect(outcome).toMatchObject({ state: 'succeeded', toRevision: GOOD_REVISION });
    expect(fake.names()).toContain('mutation_unanswered');
  });
});

describe('Cloud Deploy: the recorded outcome is what Cloud Deploy shows, whatever Google did', () => {
  it('keeps following a rollout through GetRollout timeouts, then records its success and freezes the pipeline', async () => {
    emulator.faults.inject({ kind: 'latency', method: 'GetRollout', ms: 3000 });
    const executor = new CloudDeployExecutor(deployClient, fastPolicy({ deadlineMs: DEADLINE_MS }));
    const fake = fakeContext(storefront, {
      onStep: ({ step }) => {
        // GetRollout recovers after well more than the four attempts one call gets.
        if (step === 'rollout_created') setTimeout(() => emulator.faults.clear(), 1200);
      },
    });
    const outcome = await executor.execute(fake.context).catch((error: unknown) => error);
    expect(lastgoodRollouts(emulator)).toEqual([expect.objectContaining({ state: 'SUCCEEDED' })]);
    expect(outcome).toMatchObject({ state: 'succeeded', toRevision: 'rel-001' });
    expect(pipelineState().suspended).toBe(true);
    expect(fake.names()).toContain('pipeline_frozen');
  });

  it('records no rollback when a newer release lands between validate_only and the real RollbackTarget', async () => {
    const executor = new CloudDeployExecutor(deployClient, policy);
    const fake = fakeContext(storefront, {
      onStep: ({ step }) => {
        // Someone promotes rel-003 to production right after lastgood's validate_only check passed.
        if (step === 'rollback_validated') {
          deployRelease(emulator.control, {
            pipeline: PIPELINE,
            releaseId: 'rel-003',
            target: 'production',
            state: 'SUCCEEDED',
          });
        }
      },
    });
    const outcome = await executor.execute(fake.context).catch((error: unknown) => error);
    await settled('RollbackTarget');
    // Cloud Deploy refused the rollback of a rollout that is no longer the latest: production runs rel-003, and
    // lastgood records someone else's change, which stands, not a failure that would page and block the target.
    expect(lastgoodRollouts(emulator)).toEqual([]);
    expect(production().currentRelease).toMatch(/rel-003$/);
    expect(outcome).toMatchObject({
      state: 'skipped',
      errorCode: 'CONCURRENT_CHANGE',
      errorMessage: expect.stringContaining('is not the latest rollout'),
    });
    expect(fake.names()).toContain('mutation_refused');
    expect(pipelineState().suspended).toBe(false);
  });

  it('takes over a rollback whose GetRollout hangs, follows the same rollout through the hang, and records its success', async () => {
    emulator.faults.inject({ kind: 'latency', method: 'GetRollout', ms: 3000 });
    const executor = new CloudDeployExecutor(deployClient, fastPolicy({ deadlineMs: DEADLINE_MS }));
    const died = new Error('the first worker died while GetRollout hung');
    const first = fakeContext(storefront, {
      onStep: ({ step }) => {
        if (step === 'poll_error') throw died;
      },
    });
    await expect(executor.execute(first.context)).rejects.toBe(died);
    // The replica that takes the job over meets the same hang, which lifts after a while.
    setTimeout(() => emulator.faults.clear(), 1200);
    const second = fakeContext(storefront, { decisionId: first.context.decisionId, previous: first.learnt });
    const outcome = await executor.execute(second.context);
    expect(outcome).toMatchObject({ state: 'succeeded', fromRevision: 'rel-002', toRevision: 'rel-001' });
    expect(second.names()).toContain('poll_error');
    expect(second.names()).not.toContain('api_call_issued');
    expect(lastgoodRollouts(emulator)).toEqual([expect.objectContaining({ state: 'SUCCEEDED' })]);
    expect(pipelineState().suspended).toBe(true);
  });

  it('does not take over a suspension someone else made, and refuses to lift it', async () => {
    const executor = new CloudDeployExecutor(deployClient, policy);
    const fake = fakeContext(storefront, {
      onStep: async ({ step }) => {
        if (step === 'rollout_created') await suspendPipelineAsSomeoneElse();
      },
    });
    const outcome = await executor.execute(fake.context);
    expect(outcome).toMatchObject({ state: 'succeeded', toRevision: 'rel-001' });
    expect(fake.names()).not.toContain('pipeline_frozen');
    expect(fake.names()).toContain('pipeline_already_suspended');

    const refused = await executor.unfreeze(storefront).catch((error: unknown) => error);
    expect(isLastgoodError(refused) && refused.code).toBe('LASTGOOD_ERR_FREEZE_NOT_OURS');
    expect(pipelineState().suspended).toBe(true);
  });

  it("guards its freeze with the etag: a suspension made between its read and its write stays the other party's", async () => {
    const executor = new CloudDeployExecutor(deployClient, policy);
    const fake = fakeContext(storefront, {
      onStep: ({ step }) => {
        // Armed after the first pipeline read, so it strikes at the freeze's read.
        if (step === 'rollout_created') {
          emulator.faults.inject({ kind: 'concurrent-pipeline-change', pipeline: PIPELINE, suspend: true });
        }
      },
    });
    const outcome = await executor.execute(fake.context);
    expect(outcome.state).toBe('succeeded');
    expect(emulator.calls.list({ method: 'UpdateDeliveryPipeline' }).map((call) => call.code)).toEqual([10]);
    expect(fake.names()).not.toContain('pipeline_frozen');
    expect(fake.steps.find((step) => step.step === 'pipeline_already_suspended')?.detail.by).toBeNull();
    expect(pipelineState()).toMatchObject({ suspended: true, annotations: {} });
  });

  it('lifts its own suspension, and only that', async () => {
    const executor = new CloudDeployExecutor(deployClient, policy);
    const fake = fakeContext(storefront);
    expect((await executor.execute(fake.context)).state).toBe('succeeded');
    expect(pipelineState().suspended).toBe(true);
    await executor.unfreeze(storefront);
    expect(pipelineState().suspended).toBe(false);
    expect(pipelineState().annotations).toEqual({});
  });
});
