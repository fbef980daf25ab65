import type { v1 } from '@google-cloud/deploy';
import type { v3 } from '@google-cloud/monitoring';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import {
  type CloudRunClients,
  createCloudDeployClient,
  createCloudRunClients,
  createMonitoringClient,
} from '../../src/targets/google-clients.ts';
import {
  CHECKOUT,
  deployRelease,
  type EmulatorAdmin,
  emulatorAdmin,
  PAYMENTS,
  PIPELINE,
  REL_002_ROLLOUT,
  startCanary,
  startExampleEmulator,
} from '../helpers/emulator.ts';

const MINUTE = 60_000;

let emu: Emulator;
let admin: EmulatorAdmin;
let run: CloudRunClients;
let deploy: v1.CloudDeployClient;
let monitoring: v3.MetricServiceClient;

beforeAll(async () => {
  emu = await startExampleEmulator({ rolloutPhaseDelayMs: 20 });
  admin = emulatorAdmin(emu.adminUrl ?? '');
  run = createCloudRunClients(emu.host);
  deploy = createCloudDeployClient(emu.host);
  monitoring = createMonitoringClient(emu.host);
});

afterAll(async () => {
  await Promise.all([run.close(), deploy.close(), monitoring.close()]);
  await emu.stop();
});

beforeEach(() => emu.reset());

const seconds = (epochMs: number) => Math.floor(epochMs / 1000);
const ageMs = (timestamp: { seconds?: unknown } | null | undefined) =>
  Date.now() - Number(timestamp?.seconds) * 1000;

/** checkout's requests over the last hour, summed per revision and class into one point each. */
async function checkoutCounts(): Promise<Record<string, number>> {
  const now = Date.now();
  const [series] = await monitoring.listTimeSeries({
    name: 'projects/demo-project',
    filter:
      'metric.type="run.googleapis.com/request_count" AND resource.labels.service_name="checkout" AND ' +
      'resource.labels.location="us-central1"',
    interval: { startTime: { seconds: seconds(now - 60 * MINUTE) }, endTime: { seconds: seconds(now) } },
    aggregation: {
      alignmentPeriod: { seconds: 3600 },
      perSeriesAligner: 'ALIGN_DELTA',
      crossSeriesReducer: 'REDUCE_SUM',
      groupByFields: ['resource.labels.revision_name', 'metric.labels.response_code_class'],
    },
  });
  return Object.fromEntries(
    series.map((one) => [
      `${one.resource?.labels?.revision_name}/${one.metric?.labels?.response_code_class}`,
      Number(one.points?.[0]?.value?.int64Value),
    ]),
  );
}

describe('times the fixture gives, through the real clients', () => {
  it('serves revision create times relative to the seed as Revision.create_time', async () => {
    const [bad] = await run.revisions.getRevision({ name: `${CHECKOUT}/revisions/checkout-00002-xyz` });
    const [good] = await run.revisions.getRevision({ name: `${CHECKOUT}/revisions/checkout-00001-abc` });

    expect(ageMs(bad.createTime)).toBeGreaterThanOrEqual(6 * MINUTE - 1_000);
    expect(ageMs(bad.createTime)).toBeLessThan(7 * MINUTE);
    expect(Math.round(ageMs(good.createTime) / (24 * 60 * MINUTE))).toBe(4);
  });

  it("serves a rollout's deploy start and end times", async () => {
    const [rollout] = await deploy.getRollout({ name: REL_002_ROLLOUT });

    // The fixture: started 8m40s and ended 5m20s before the emulator started.
    expect(Number(rollout.deployEndTime?.seconds) - Number(rollout.deployStartTime?.seconds)).toBe(200);
    expect(ageMs(rollout.deployEndTime)).toBeGreaterThanOrEqual(5 * MINUTE + 20_000 - 1_000);
    expect(ageMs(rollout.deployEndTime)).toBeLessThan(6 * MINUTE + 20_000);
  });
});

describe('control calls: Cloud Deploy', () => {
  it('deploys a newer release mid-rollback over the admin endpoint, IN_PROGRESS then SUCCEEDED', async () => {
    const created = await admin.createRelease({
      pipeline: PIPELINE,
      release: { id: 'rel-003', createTime: '-2m', images: { storefront: 'storefront:2.9.0' } },
    });
    expect(created.status).toBe(201);
    const rollout = await admin.createRollout({
      release: `${PIPELINE}/releases/rel-003`,
      rollout: {
        id: 'rel-003-to-production-0001',
        target: 'production',
        state: 'IN_PROGRESS',
        createTime: '-1m',
        deployStartTime: '-50s',
        cloudRun: { service: CHECKOUT, revision: 'checkout-00003-new' },
      },
    });
    expect(rollout).toMatchObject({ status: 201, body: { state: 'IN_PROGRESS', deployEndTime: null } });
    const name = `${PIPELINE}/releases/rel-003/rollouts/rel-003-to-production-0001`;

    const [inProgress] = await deploy.getRollout({ name });
    expect(inProgress).toMatchObject({ state: 'IN_PROGRESS', deployEndTime: null });
    expect(inProgress.metadata?.cloudRun).toMatchObject({
      service: CHECKOUT,
      revision: 'checkout-00003-new',
    });
    expect(ageMs(inProgress.deployStartTime)).toBeGreaterThanOrEqual(49_000);
    // A rollback that names the rollout it read as the latest now races a newer deploy, and is refused.
    await expect(
      deploy.rollbackTarget({
        name: PIPELINE,
        targetId: 'production',
        rolloutId: 'lastgood-rollback-1',
        releaseId: 'rel-001',
        rolloutToRollBack: REL_002_ROLLOUT,
      }),
    ).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });

    const finished = await admin.setRolloutState({ rollout: name, state: 'SUCCEEDED' });
    expect(finished).toMatchObject({ status: 200, body: { state: 'SUCCEEDED' } });
    const [succeeded] = await deploy.getRollout({ name });
    expect(succeeded.state).toBe('SUCCEEDED');
    expect(ageMs(succeeded.deployEndTime)).toBeLessThan(5_000);
    const [releases] = await deploy.listReleases({ parent: PIPELINE });
    expect(releases.map((release) => release.name?.split('/').at(-1))).toEqual([
      'rel-003',
      'rel-002',
      'rel-001',
    ]);
    expect(emu.state.cloudDeploy.pipeline(PIPELINE)?.targets.at(-1)?.currentRelease).toBe(
      `${PIPELINE}/releases/rel-003`,
    );
  });

  it('deploys a release in one call with the helper', () => {
    const rollout = deployRelease(emu.control, {
      pipeline: PIPELINE,
      releaseId: 'rel-003',
      target: 'production',
    });

    const release = emu.state.cloudDeploy.pipeline(PIPELINE)?.releases[0];
    expect(release?.rollouts).toEqual([expect.objectContaining({ name: rollout, state: 'IN_PROGRESS' })]);
  });

  it('refuses a release id in use, a rollout to a target that is not a stage, and an unknown rollout', async () => {
    const again = await admin.createRelease({
      pipeline: PIPELINE,
      release: { id: 'rel-002', createTime: 'now' },
    });
    const offStage = await admin.createRollout({
      release: `${PIPELINE}/releases/rel-002`,
      rollout: { id: 'rel-002-to-qa', target: 'qa', createTime: 'now' },
    });
    const unknown = await admin.setRolloutState({ rollout: `${REL_002_ROLLOUT}x`, state: 'FAILED' });
    const badTime = await admin.createRelease({
      pipeline: PIPELINE,
      release: { id: 'rel-009', createTime: 'soon' },
    });

    expect([again.status, offStage.status, unknown.status, badTime.status]).toEqual([400, 400, 400, 400]);
    expect(again.body).toMatchObject({ error: expect.stringContaining('already exists') });
    expect(emu.state.cloudDeploy.pipeline(PIPELINE)?.releases).toHaveLength(2);
  });
});

describe('control calls: Cloud Run', () => {
  it('creates a canary revision created minutes ago and splits traffic to it', async () => {
    const before = emu.state.cloudRun.service(PAYMENTS)?.etag;
    const created = await admin.createRevision({
      service: PAYMENTS,
      revision: { name: 'payments-00010-new', createTime: '-3m', image: 'payments:3.10.0' },
    });
    expect(created.status).toBe(201);
    const split = await admin.setTraffic({
      service: PAYMENTS,
      traffic: [
        { revision: 'payments-00007-kpm', percent: 80, tag: 'stable' },
        { revision: 'payments-00010-new', percent: 20, tag: 'canary' },
      ],
    });
    expect(split.status).toBe(200);

    const [revision] = await run.revisions.getRevision({ name: `${PAYMENTS}/revisions/payments-00010-new` });
    expect(ageMs(revision.createTime)).toBeGreaterThanOrEqual(3 * MINUTE - 1_000);
    expect(ageMs(revision.createTime)).toBeLessThan(4 * MINUTE);
    const [service] = await run.services.getService({ name: PAYMENTS });
    expect(service.trafficStatuses?.map((target) => [target.revision, target.percent, target.tag])).toEqual([
      ['payments-00007-kpm', 80, 'stable'],
      ['payments-00010-new', 20, 'canary'],
    ]);
    expect(service.latestCreatedRevision).toBe(`${PAYMENTS}/revisions/payments-00010-new`);
    expect(service.etag).not.toBe(before);
  });

  it('starts a canary in one call with the helper', () => {
    startCanary(emu.control, {
      service: CHECKOUT,
      revision: 'checkout-00003-can',
      stable: 'checkout-00001-abc',
      percent: 10,
    });

    expect(emu.state.cloudRun.service(CHECKOUT)?.trafficStatuses).toEqual([
      expect.objectContaining({ revision: 'checkout-00001-abc', percent: 90, tag: 'stable' }),
      expect.objectContaining({ revision: 'checkout-00003-can', percent: 10, tag: 'canary' }),
    ]);
  });

  it('refuses a revision of another service, a repeated one, and traffic to one that does not exist', async () => {
    const foreign = await admin.createRevision({
      service: PAYMENTS,
      revision: { name: 'web-00001-a', createTime: 'now' },
    });
    const repeated = await admin.createRevision({
      service: PAYMENTS,
      revision: { name: 'payments-00007-kpm', createTime: 'now' },
    });
    const unknown = await admin.setTraffic({
      service: PAYMENTS,
      traffic: [{ revision: 'payments-00099-zzz', percent: 100 }],
    });

    expect([foreign.status, repeated.status, unknown.status]).toEqual([400, 400, 400]);
    expect(emu.state.cloudRun.service(PAYMENTS)?.revisions).toHaveLength(3);
  });
});

describe('control calls: Cloud Monitoring', () => {
  it("replaces a service's request rows, then appends to them, as ListTimeSeries then answers", async () => {
    const replaced = await admin.replaceRequests({
      service: CHECKOUT,
      rows: [{ revision: 'checkout-00001-abc', from: '-10m', to: '-5m', perMinute: { '2xx': 10 } }],
    });
    expect(replaced).toMatchObject({
      status: 200,
      body: [{ revision: 'checkout-00001-abc', perMinute: { '2xx': 10 } }],
    });
    expect(await checkoutCounts()).toEqual({ 'checkout-00001-abc/2xx': 50 });

    const appended = await admin.appendRequests({
      service: CHECKOUT,
      rows: [{ revision: 'checkout-00001-abc', from: '-10m', to: '-5m', perMinute: { '2xx': 1, '5xx': 2 } }],
    });
    expect(appended.status).toBe(201);
    expect(await checkoutCounts()).toEqual({ 'checkout-00001-abc/2xx': 55, 'checkout-00001-abc/5xx': 10 });
    expect(emu.state.monitoring.requests().filter((row) => row.service === CHECKOUT)).toHaveLength(2);
  });

  it('refuses rows for a revision the service lacks', async () => {
    const response = await admin.appendRequests({
      service: CHECKOUT,
      rows: [{ revision: 'payments-00007-kpm', from: '-10m', perMinute: { '5xx': 1 } }],
    });

    expect(response.status).toBe(400);
  });
});
