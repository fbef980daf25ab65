import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/emulator.ts';
import { FixtureError } from '../../src/emulator/fixture.ts';
import { createCloudRunClients } from '../../src/targets/google-clients.ts';
import { CHECKOUT, EXAMPLE_FIXTURE_PATH, startExampleEmulator } from '../helpers/emulator.ts';
import { until } from '../helpers/poll.ts';

describe('emulator admin endpoint', () => {
  let emu: Emulator;

  beforeAll(async () => {
    emu = await startExampleEmulator();
  });
  afterAll(() => emu.stop());
  beforeEach(() => emu.reset());

  const admin = (path: string, init?: RequestInit) => fetch(`${emu.adminUrl}${path}`, init);
  const postJson = (path: string, body: unknown) =>
    admin(path, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });

  it('serves the state, including every fixture service and pipeline', async () => {
    const response = await admin('/state');
    const state = (await response.json()) as {
      cloudRun: { services: { name: string }[] };
      cloudDeploy: { pipelines: { name: string }[] };
    };

    expect(response.status).toBe(200);
    expect(state.cloudRun.services.map((service) => service.name)).toContain(CHECKOUT);
    expect(state.cloudDeploy.pipelines.map((pipeline) => pipeline.name)).toEqual([
      'projects/demo-project/locations/us-central1/deliveryPipelines/storefront-pipeline',
    ]);
  });

  it('arms faults that the real client then meets, and lists the calls it made', async () => {
    const armed = await postJson('/faults', [{ kind: 'unavailable', method: 'GetService' }]);
    expect(armed.status).toBe(201);
    const run = createCloudRunClients(emu.host);
    try {
      await expect(run.services.getService({ name: CHECKOUT }, { retry: null })).rejects.toMatchObject({
        code: 14,
      });
    } finally {
      await run.close();
    }

    const calls = (await (await admin('/calls?method=GetService')).json()) as {
      method: string;
      code: number;
    }[];
    expect(calls).toEqual([expect.objectContaining({ method: 'GetService', code: 14 })]);
    expect(await (await admin('/faults')).json()).toEqual([]);
  });

  it('refuses a fault for a method it does not serve, naming the ones it does', async () => {
    const response = await postJson('/faults', { kind: 'unavailable', method: 'UpdateServic' });

    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toContain('UpdateService');
  });

  it('refuses a concurrent change to a service that does not exist', async () => {
    const response = await postJson('/faults', {
      kind: 'concurrent-traffic-change',
      service: `${CHECKOUT}-x`,
    });

    expect(response.status).toBe(400);
  });

  it('resets the state to the fixture and clears faults and calls', async () => {
    await postJson('/faults', { kind: 'latency', ms: 1 });
    emu.faults.inject({ kind: 'concurrent-traffic-change', service: CHECKOUT });
    await createCloudRunClients(emu.host).services.getService({ name: CHECKOUT });

    const response = await admin('/reset', { method: 'POST' });

    expect(response.status).toBe(204);
    expect(emu.faults.active()).toEqual([]);
    expect(emu.calls.list()).toEqual([]);
  });

  it('answers 404 on an unknown route and 400 on a body that is not JSON', async () => {
    expect((await admin('/nope')).status).toBe(404);
    expect((await admin('/faults', { method: 'POST', body: '{' })).status).toBe(400);
  });
});

describe('emulator warm-up', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startExampleEmulator();
  });
  afterAll(() => emu.stop());

  it('answers the reads it has logged again and sends, logs and changes nothing, mutations left out', async () => {
    const run = createCloudRunClients(emu.host);
    try {
      await run.services.getService({ name: CHECKOUT });
      await expect(
        run.services.getService({ name: `${CHECKOUT}-gone` }, { retry: null }),
      ).rejects.toMatchObject({ code: 5 });
      const [operation] = await run.services.updateService({
        service: {
          name: CHECKOUT,
          traffic: [
            { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION', revision: 'checkout-00001-abc', percent: 100 },
          ],
        },
        updateMask: { paths: ['traffic'] },
      });
      await operation.promise();
    } finally {
      await run.close();
    }
    const before = { calls: emu.calls.list(), state: emu.state.snapshot() };

    // A refused read (the NOT_FOUND) is refused again without failing the warm-up.
    await emu.warm(3);

    expect(emu.calls.list()).toEqual(before.calls);
    // UpdateService replayed would have made an operation and a new generation of the service.
    expect(emu.state.snapshot()).toEqual(before.state);
  });
});

describe('emulator fixture', () => {
  const service = (
    traffic: unknown[],
    revisions: unknown[] = [{ name: 'web-00001-aaa', createTime: '2025-01-01T00:00:00Z' }],
  ) => ({
    cloudRun: { services: [{ name: 'projects/p/locations/r/services/web', revisions, traffic }] },
  });

  const withRequests = (row: unknown) => ({
    cloudRun: {
      services: [
        {
          name: 'projects/p/locations/r/services/web',
          revisions: [{ name: 'web-00001-aaa', createTime: '-2h' }],
          traffic: [{ percent: 100 }],
          requests: [row],
        },
      ],
    },
  });

  it.each([
    ['traffic to a revision the service lacks', service([{ revision: 'web-00009-zzz', percent: 100 }])],
    ['percents that do not add up to 100', service([{ revision: 'web-00001-aaa', percent: 40 }])],
    [
      'a revision named after another service',
      service([{ percent: 100 }], [{ name: 'api-00001-a', createTime: '2025-01-01T00:00:00Z' }]),
    ],
    [
      'traffic to a revision that is not ready',
      service(
        [{ revision: 'web-00001-aaa', percent: 100 }],
        [{ name: 'web-00001-aaa', createTime: '2025-01-01T00:00:00Z', ready: false }],
      ),
    ],
    ['an unknown key', { cloudRun: { services: [], extra: true } }],
    [
      'a pipeline stage without its target',
      {
        cloudDeploy: {
          pipelines: [{ name: 'projects/p/locations/r/deliveryPipelines/d', stages: ['prod'] }],
        },
      },
    ],
    [
      'a rollout to a target that is not a stage',
      {
        cloudDeploy: {
          targets: [{ name: 'projects/p/locations/r/targets/prod', run: 'projects/p/locations/r' }],
          pipelines: [
            {
              name: 'projects/p/locations/r/deliveryPipelines/d',
              stages: ['prod'],
              releases: [
                {
                  id: 'rel-1',
                  createTime: '2025-01-01T00:00:00Z',
                  rollouts: [{ id: 'ro-1', target: 'qa', createTime: '2025-01-01T00:00:00Z' }],
                },
              ],
            },
          ],
        },
      },
    ],
    [
      'a create time that is not a timestamp',
      service([{ percent: 100 }], [{ name: 'web-00001-a', createTime: 'yesterday' }]),
    ],
    [
      'requests of a revision the service lacks',
      withRequests({ revision: 'web-00009-zzz', from: '-1h', perMinute: { '2xx': 1 } }),
    ],
    [
      'a request row that ends before it starts',
      withRequests({ revision: 'web-00001-aaa', from: '-1h', to: '-2h', perMinute: { '2xx': 1 } }),
    ],
    [
      'a request count without a response code class',
      withRequests({ revision: 'web-00001-aaa', from: '-1h', perMinute: { '200': 1 } }),
    ],
  ])('refuses a fixture with %s', async (_case, fixture) => {
    await expect(startEmulator({ fixture: fixture as never, adminPort: null })).rejects.toBeInstanceOf(
      FixtureError,
    );
  });
});

describe('npm run emulator', () => {
  it('prints its addresses, serves the fixture and exits 0 on SIGTERM', async () => {
    const nodeBinary = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
    const child = spawn(nodeBinary, ['src/emulator/main.ts', EXAMPLE_FIXTURE_PATH], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, LASTGOOD_EMULATOR_PORT: '0', LASTGOOD_EMULATOR_ADMIN_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const exited = once(child, 'exit');
    try {
      await until(
        () => {
          if (child.exitCode !== null) throw new Error(`emulator exited early: ${output}`);
          return output.includes('CLOUD_RUN_EMULATOR_HOST=');
        },
        'the emulator to print its host',
        { timeoutMs: 20_000, everyMs: 20 },
      );
      const adminUrl = /admin on (http:\/\/\S+)/.exec(output)?.[1];
      const state = (await (await fetch(`${adminUrl}/state`)).json()) as {
        cloudRun: { services: unknown[] };
      };
      expect(state.cloudRun.services).toHaveLength(3);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await exited;
    expect(code).toBe(0);
  });
});
