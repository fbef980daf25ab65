import type { v1 } from '@google-cloud/deploy';
import { status } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import {
  type CloudRunClients,
  createCloudDeployClient,
  createCloudRunClients,
} from '../../src/targets/google-clients.ts';
import {
  CHECKOUT,
  GOOD_REVISION,
  PIPELINE,
  REL_001,
  REL_002_ROLLOUT,
  shiftCheckoutTo,
  useExampleEmulator,
} from '../helpers/emulator.ts';
import { sleep, until } from '../helpers/poll.ts';

let emu: Emulator;
let run: CloudRunClients;
let deploy: v1.CloudDeployClient;

useExampleEmulator(
  (started) => {
    emu = started;
    run = createCloudRunClients(emu.host);
    deploy = createCloudDeployClient(emu.host);
  },
  // The last test arms a fault through the admin endpoint.
  { adminPort: 0, rolloutPhaseDelayMs: 30 },
);
afterAll(async () => {
  await run.close();
  await deploy.close();
});

function checkoutTraffic(): string[] {
  return (emu.state.cloudRun.service(CHECKOUT)?.traffic ?? []).map((target) => target.revision);
}

describe('hold-response fault: the call lands, its answer waits', () => {
  it('applies UpdateService at once but answers only when the hold ends, the call still open meanwhile', async () => {
    emu.faults.inject({ kind: 'hold-response', method: 'UpdateService', ms: 30_000 });
    let answered = false;
    const pending = shiftCheckoutTo(run, GOOD_REVISION, { retry: null }).finally(() => {
      answered = true;
    });

    await until(() => checkoutTraffic()[0] === GOOD_REVISION, 'the update to land');
    expect(emu.calls.list({ method: 'UpdateService' })).toEqual([expect.objectContaining({ code: null })]);
    expect(emu.faults.active()).toEqual([]);
    await sleep(50);
    expect(answered).toBe(false);

    // Clearing the faults releases the held answer, so a test never leaves a call hanging.
    emu.faults.clear();
    const { operation } = await pending;
    expect(operation.name).toMatch(/operations\//);
    expect(emu.calls.list({ method: 'UpdateService' })).toEqual([
      expect.objectContaining({ code: status.OK }),
    ]);
  });

  it('answers after the given time when nothing releases it earlier', async () => {
    emu.faults.inject({ kind: 'hold-response', method: 'UpdateService', ms: 120 });
    const started = performance.now();

    await shiftCheckoutTo(run, GOOD_REVISION, { retry: null });

    expect(performance.now() - started).toBeGreaterThanOrEqual(115);
    expect(checkoutTraffic()).toEqual([GOOD_REVISION]);
  });

  it('loses the answer as UNAVAILABLE after applying the call, so the caller cannot tell it landed', async () => {
    emu.faults.inject({ kind: 'hold-response', method: 'UpdateService', ms: 10, answer: 'unavailable' });

    await expect(shiftCheckoutTo(run, GOOD_REVISION, { retry: null })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });

    expect(emu.state.cloudRun.service(CHECKOUT)?.generation).toBe(2);
    expect(checkoutTraffic()).toEqual([GOOD_REVISION]);
    expect(emu.calls.list({ method: 'UpdateService' }).map((call) => call.code)).toEqual([
      status.UNAVAILABLE,
    ]);
  });

  it('lets validate_only calls through and loses the real RollbackTarget, whose retry meets ALREADY_EXISTS', async () => {
    emu.faults.inject({ kind: 'hold-response', method: 'RollbackTarget', ms: 10, answer: 'unavailable' });
    const request = {
      name: PIPELINE,
      targetId: 'production',
      rolloutId: 'lastgood-rb-1',
      releaseId: 'rel-001',
      rolloutToRollBack: REL_002_ROLLOUT,
    };

    await deploy.rollbackTarget({ ...request, validateOnly: true }, { retry: null });
    expect(emu.faults.active()).toEqual([expect.objectContaining({ kind: 'hold-response' })]);
    await expect(deploy.rollbackTarget(request, { retry: null })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
    await expect(deploy.rollbackTarget(request, { retry: null })).rejects.toMatchObject({
      code: status.ALREADY_EXISTS,
    });

    const created = emu.state.cloudDeploy
      .pipeline(PIPELINE)
      ?.releases.flatMap((release) => release.rollouts)
      .filter((rollout) => rollout.name.endsWith('/rollouts/lastgood-rb-1'));
    expect(created?.map((rollout) => rollout.name)).toEqual([`${REL_001}/rollouts/lastgood-rb-1`]);
  });

  it('leaves a call that fails unheld, keeping the fault armed for the next one that lands', async () => {
    emu.faults.inject({ kind: 'hold-response', method: 'GetService', ms: 10_000 });

    await expect(
      run.services.getService({ name: `${CHECKOUT}-nope` }, { retry: null }),
    ).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
    expect(emu.faults.active()).toEqual([
      expect.objectContaining({ kind: 'hold-response', method: 'GetService' }),
    ]);
  });

  it('is armed and refused through the admin endpoint like every other fault', async () => {
    const post = (body: unknown) =>
      fetch(`${emu.adminUrl}/faults`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });

    const armed = await post({ kind: 'hold-response', method: 'RollbackTarget', ms: 500 });
    expect(armed.status).toBe(201);
    expect(await armed.json()).toEqual([
      { kind: 'hold-response', method: 'RollbackTarget', ms: 500, answer: 'response' },
    ]);
    const noTime = await post({ kind: 'hold-response', method: 'UpdateService' });
    expect(noTime.status).toBe(400);
    expect(((await noTime.json()) as { error: string }).error).toMatch(/ms/);
    const badAnswer = await post({ kind: 'hold-response', ms: 10, answer: 'maybe' });
    expect(badAnswer.status).toBe(400);
    expect(((await badAnswer.json()) as { error: string }).error).toMatch(/answer/);
    const unknownMethod = await post({ kind: 'hold-response', method: 'DeleteService', ms: 10 });
    expect(unknownMethod.status).toBe(400);
  });
});
