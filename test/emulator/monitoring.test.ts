import type { v3 } from '@google-cloud/monitoring';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/emulator.ts';
import { createMonitoringClient } from '../../src/targets/google-clients.ts';

const MINUTE = 60_000;
/** A whole minute half an hour ago: every minute the fixture fills is over, whatever the time now. */
const T0 = Math.floor(Date.now() / MINUTE) * MINUTE - 30 * MINUTE;
const at = (minutes: number) => new Date(T0 + minutes * MINUTE).toISOString();
const seconds = (minutes: number) => ({ seconds: (T0 + minutes * MINUTE) / 1000 });

const WEB_FILTER =
  'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" AND ' +
  'resource.labels.service_name="web" AND resource.labels.location="us-central1"';
const BY_REVISION_AND_CLASS = ['resource.labels.revision_name', 'metric.labels.response_code_class'];

let emu: Emulator;
let monitoring: v3.MetricServiceClient;

beforeAll(async () => {
  const service = (location: string, id: string, revisions: string[]) => ({
    name: `projects/p/locations/${location}/services/${id}`,
    revisions: revisions.map((name, index) => ({ name, createTime: at(index * 20) })),
    traffic: [{ percent: 100 }],
  });
  emu = await startEmulator({
    adminPort: null,
    fixture: {
      cloudRun: {
        services: [
          {
            ...service('us-central1', 'web', ['web-00001-aaa', 'web-00002-bbb']),
            requests: [
              { revision: 'web-00001-aaa', from: at(0), to: at(20), perMinute: { '2xx': 100, '5xx': 1 } },
              { revision: 'web-00002-bbb', from: at(20), to: at(30), perMinute: { '2xx': 50, '5xx': 10 } },
              { revision: 'web-00002-bbb', from: at(25), to: at(30), perMinute: { '5xx': 5 } },
            ],
          },
          {
            ...service('us-central1', 'other', ['other-00001-aaa']),
            requests: [{ revision: 'other-00001-aaa', from: at(0), perMinute: { '2xx': 7 } }],
          },
          {
            ...service('europe-west1', 'web', ['web-00001-eu']),
            requests: [{ revision: 'web-00001-eu', from: at(0), perMinute: { '2xx': 3 } }],
          },
        ],
      },
    },
  });
  monitoring = createMonitoringClient(emu.host);
});

afterAll(async () => {
  await monitoring.close();
  await emu.stop();
});

beforeEach(() => emu.reset());

/** ListTimeSeries as the evidence reader asks it: per revision and response code class, summed per period. */
async function requestCounts(from: number, to: number, periodMinutes: number, filter = WEB_FILTER) {
  const [series] = await monitoring.listTimeSeries(
    {
      name: 'projects/p',
      filter,
      interval: { startTime: seconds(from), endTime: seconds(to) },
      aggregation: {
        alignmentPeriod: { seconds: periodMinutes * 60 },
        perSeriesAligner: 'ALIGN_DELTA',
        crossSeriesReducer: 'REDUCE_SUM',
        groupByFields: BY_REVISION_AND_CLASS,
      },
    },
    { retry: null },
  );
  return series;
}

/** `revision/class` -> the values of its points, newest first. */
function countsOf(series: Awaited<ReturnType<typeof requestCounts>>) {
  return Object.fromEntries(
    series.map((one) => [
      `${one.resource?.labels?.revision_name}/${one.metric?.labels?.response_code_class}`,
      one.points?.map((point) => Number(point.value?.int64Value)),
    ]),
  );
}

describe('Cloud Monitoring ListTimeSeries through the real v3.MetricServiceClient', () => {
  it('answers per-minute request counts per revision and response code class, newest point first', async () => {
    const series = await requestCounts(0, 30, 1);

    expect(countsOf(series)).toEqual({
      'web-00001-aaa/2xx': Array(20).fill(100),
      'web-00001-aaa/5xx': Array(20).fill(1),
      'web-00002-bbb/2xx': Array(10).fill(50),
      'web-00002-bbb/5xx': [...Array(5).fill(15), ...Array(5).fill(10)],
    });
    const newest = series.find((one) => one.resource?.labels?.revision_name === 'web-00002-bbb');
    expect(newest).toMatchObject({
      metric: { type: 'run.googleapis.com/request_count', labels: { response_code_class: '2xx' } },
      resource: { type: 'cloud_run_revision', labels: { revision_name: 'web-00002-bbb' } },
      metricKind: 'DELTA',
      valueType: 'INT64',
    });
    expect(newest?.points?.[0]?.interval).toMatchObject({
      startTime: { seconds: String(seconds(29).seconds) },
      endTime: { seconds: String(seconds(30).seconds) },
    });
  });

  it('answers only the minutes that end inside the window', async () => {
    expect(countsOf(await requestCounts(18, 22, 1))).toEqual({
      'web-00001-aaa/2xx': [100, 100],
      'web-00001-aaa/5xx': [1, 1],
      'web-00002-bbb/2xx': [50, 50],
      'web-00002-bbb/5xx': [10, 10],
    });
  });

  it('sums the whole window into one point per series when the alignment period spans it', async () => {
    const series = await requestCounts(0, 30, 30);

    expect(countsOf(series)).toEqual({
      'web-00001-aaa/2xx': [2000],
      'web-00001-aaa/5xx': [20],
      'web-00002-bbb/2xx': [500],
      'web-00002-bbb/5xx': [125],
    });
    expect(series[0]?.points?.[0]?.interval).toMatchObject({
      startTime: { seconds: String(seconds(0).seconds) },
      endTime: { seconds: String(seconds(30).seconds) },
    });
  });

  it('narrows to one revision, and sums across every series when nothing is grouped', async () => {
    const oneRevision = await requestCounts(
      0,
      30,
      30,
      `${WEB_FILTER} AND resource.labels.revision_name="web-00002-bbb"`,
    );
    expect(countsOf(oneRevision)).toEqual({ 'web-00002-bbb/2xx': [500], 'web-00002-bbb/5xx': [125] });

    const [total] = await monitoring.listTimeSeries({
      name: 'projects/p',
      filter: WEB_FILTER,
      interval: { startTime: seconds(0), endTime: seconds(30) },
      aggregation: {
        alignmentPeriod: { seconds: 1800 },
        perSeriesAligner: 'ALIGN_DELTA',
        crossSeriesReducer: 'REDUCE_SUM',
      },
    });
    expect(total.map((one) => one.points?.map((point) => point.value?.int64Value))).toEqual([['2645']]);
    expect(total[0]?.resource?.labels).toEqual({});
  });

  it('answers raw per-minute points with every label of the revision when there is no aggregation', async () => {
    const [series] = await monitoring.listTimeSeries({
      name: 'projects/p',
      filter: `${WEB_FILTER} AND metric.labels.response_code_class="5xx"`,
      interval: { startTime: seconds(27), endTime: seconds(30) },
    });

    expect(series).toHaveLength(1);
    expect(series[0]?.resource?.labels).toEqual({
      project_id: 'p',
      service_name: 'web',
      revision_name: 'web-00002-bbb',
      location: 'us-central1',
      configuration_name: 'web',
    });
    expect(series[0]?.points?.map((point) => point.value?.int64Value)).toEqual(['15', '15', '15']);
  });

  it.each([
    ['an OR', `${WEB_FILTER} OR resource.labels.service_name="other"`],
    ['a != term', 'metric.type="run.googleapis.com/request_count" AND resource.labels.service_name!="web"'],
    ['another metric', 'metric.type="run.googleapis.com/request_latencies"'],
    ['no metric type', 'resource.labels.service_name="web"'],
    ['a label the emulator does not know', `${WEB_FILTER} AND metric.labels.route="/"`],
  ])('refuses a filter with %s as INVALID_ARGUMENT', async (_case, filter) => {
    await expect(requestCounts(0, 30, 1, filter)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('refuses an aligner it does not emulate rather than guessing', async () => {
    const request = {
      name: 'projects/p',
      filter: WEB_FILTER,
      interval: { startTime: seconds(0), endTime: seconds(30) },
      aggregation: { alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_RATE' as const },
    };
    await expect(monitoring.listTimeSeries(request, { retry: null })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('ALIGN_RATE'),
    });
  });

  it('meets the injected faults: an error code, an outage, and an answer slower than the deadline', async () => {
    emu.faults.inject({ kind: 'error', method: 'ListTimeSeries', code: status.PERMISSION_DENIED });
    await expect(requestCounts(0, 30, 1)).rejects.toMatchObject({ code: status.PERMISSION_DENIED });

    emu.faults.inject({ kind: 'unavailable', method: 'ListTimeSeries' });
    await expect(requestCounts(0, 30, 1)).rejects.toMatchObject({ code: status.UNAVAILABLE });

    emu.faults.inject({ kind: 'latency', method: 'ListTimeSeries', ms: 1_000 });
    const slow = monitoring.listTimeSeries(
      { name: 'projects/p', filter: WEB_FILTER, interval: { startTime: seconds(0), endTime: seconds(30) } },
      { retry: null, timeout: 100 },
    );
    await expect(slow).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    expect(emu.calls.list({ method: 'ListTimeSeries' }).map((call) => call.code)).toEqual([
      status.PERMISSION_DENIED,
      status.UNAVAILABLE,
      null,
    ]);
  });
});

describe('relative request rows', () => {
  it('count from the moment the fixture is seeded, and keep serving without an end', async () => {
    const relative = await startEmulator({
      adminPort: null,
      fixture: {
        cloudRun: {
          services: [
            {
              name: 'projects/p/locations/us-central1/services/web',
              revisions: [{ name: 'web-00001-aaa', createTime: '-1h' }],
              traffic: [{ percent: 100 }],
              requests: [{ revision: 'web-00001-aaa', from: '-5m', perMinute: { '2xx': 9 } }],
            },
          ],
        },
      },
    });
    const client = createMonitoringClient(relative.host);
    try {
      const now = Math.floor(Date.now() / 1000);
      const [series] = await client.listTimeSeries({
        name: 'projects/p',
        filter: WEB_FILTER,
        interval: { startTime: { seconds: now - 3600 }, endTime: { seconds: now } },
      });
      const counts = series[0]?.points?.map((point) => Number(point.value?.int64Value)) ?? [];
      // Five minutes back from the seed: four or five whole minutes are over, depending on where in a minute it is.
      expect(counts.length).toBeGreaterThanOrEqual(4);
      expect(counts.length).toBeLessThanOrEqual(5);
      expect(new Set(counts)).toEqual(new Set([9]));
    } finally {
      await client.close();
      await relative.stop();
    }
  });
});
