import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/emulator.ts';
import { loadFixtureFile } from '../../src/emulator/fixture.ts';
import { createCloudRunClients, createMonitoringClient } from '../../src/targets/google-clients.ts';
import { BAD_REVISION, CHECKOUT, EXAMPLE_FIXTURE_PATH, GOOD_REVISION } from '../helpers/emulator.ts';

const OUTAGE_FIXTURE_PATH = fileURLToPath(
  new URL('../../examples/emulator-fixture-dependency-outage.yaml', import.meta.url),
);
const MINUTE = 60_000;
/** Checkout in both fixtures: the revision serving now, and the one before it. */
const SERVING = BAD_REVISION;
const OLD = GOOD_REVISION;

interface Minute {
  end: number;
  counts: Record<string, number>;
}

/** What the evidence reader sees of a fixture's checkout: revision ages, and per-minute counts per revision. */
async function observe(fixturePath: string, lookbackMs: number) {
  const emulator = await startEmulator({ adminPort: null, fixture: await loadFixtureFile(fixturePath) });
  const run = createCloudRunClients(emulator.host);
  const monitoring = createMonitoringClient(emulator.host);
  try {
    const now = Date.now();
    const [revisions] = await run.revisions.listRevisions({ parent: CHECKOUT });
    const [series] = await monitoring.listTimeSeries({
      name: 'projects/demo-project',
      filter:
        'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" AND ' +
        'resource.labels.service_name="checkout" AND resource.labels.location="us-central1"',
      interval: {
        startTime: { seconds: Math.floor((now - lookbackMs) / 1000) },
        endTime: { seconds: Math.floor(now / 1000) },
      },
      aggregation: {
        alignmentPeriod: { seconds: 60 },
        perSeriesAligner: 'ALIGN_DELTA',
        crossSeriesReducer: 'REDUCE_SUM',
        groupByFields: ['resource.labels.revision_name', 'metric.labels.response_code_class'],
      },
    });
    const minutes = new Map<string, Map<number, Minute>>();
    for (const one of series) {
      const revision = String(one.resource?.labels?.revision_name);
      const byEnd = minutes.get(revision) ?? new Map<number, Minute>();
      minutes.set(revision, byEnd);
      for (const point of one.points ?? []) {
        const end = Number(point.interval?.endTime?.seconds) * 1000;
        const minute = byEnd.get(end) ?? { end, counts: {} };
        minute.counts[String(one.metric?.labels?.response_code_class)] = Number(point.value?.int64Value);
        byEnd.set(end, minute);
      }
    }
    const ageOf = (name: string) => {
      const revision = revisions.find((candidate) => candidate.name?.endsWith(`/${name}`));
      return now - Number(revision?.createTime?.seconds) * 1000;
    };
    const minutesOf = (revision: string) => [...(minutes.get(revision)?.values() ?? [])];
    return { now, ageOf, minutesOf };
  } finally {
    await Promise.all([run.close(), monitoring.close()]);
    await emulator.stop();
  }
}

function errorRatio(minutes: readonly Minute[]): number {
  let errors = 0;
  let total = 0;
  for (const { counts } of minutes) {
    for (const [codeClass, count] of Object.entries(counts)) {
      total += count;
      if (codeClass === '5xx') errors += count;
    }
  }
  return total === 0 ? Number.NaN : errors / total;
}

describe('examples/emulator-fixture.yaml: a bad deploy minutes ago', () => {
  it('has checkout-00002 created minutes ago, failing far more than checkout-00001 did alone before it', async () => {
    const { ageOf, minutesOf } = await observe(EXAMPLE_FIXTURE_PATH, 60 * MINUTE);

    expect(ageOf(SERVING)).toBeGreaterThan(3 * MINUTE);
    expect(ageOf(SERVING)).toBeLessThan(10 * MINUTE);
    const serving = minutesOf(SERVING);
    const old = minutesOf(OLD);
    const startedServing = Math.min(...serving.map((minute) => minute.end));
    expect(serving.length).toBeGreaterThanOrEqual(3);
    // checkout-00001 served alone until checkout-00002 took over.
    expect(old.every((minute) => minute.end < startedServing)).toBe(true);
    expect(old.length).toBeGreaterThan(30);
    expect(errorRatio(serving)).toBeGreaterThan(0.1);
    expect(errorRatio(serving)).toBeGreaterThan(10 * errorRatio(old));
  });
});

describe('examples/emulator-fixture-dependency-outage.yaml: a dependency outage', () => {
  it('has the serving revision 4 days old, and both revisions failing alike for the last 10 minutes', async () => {
    const { now, ageOf, minutesOf } = await observe(OUTAGE_FIXTURE_PATH, 60 * MINUTE);

    expect(Math.round(ageOf(SERVING) / (24 * 60 * MINUTE))).toBe(4);
    const recent = (revision: string) =>
      minutesOf(revision).filter((minute) => minute.end > now - 10 * MINUTE);
    const earlier = (revision: string) =>
      minutesOf(revision).filter((minute) => minute.end <= now - 11 * MINUTE);
    expect(recent(SERVING).length).toBeGreaterThanOrEqual(8);
    expect(recent(OLD).length).toBeGreaterThanOrEqual(8);
    expect(errorRatio(recent(SERVING))).toBeGreaterThan(0.4);
    expect(Math.abs(errorRatio(recent(SERVING)) - errorRatio(recent(OLD)))).toBeLessThan(0.05);
    expect(errorRatio(earlier(SERVING))).toBeLessThan(0.02);
    expect(errorRatio(earlier(OLD))).toBe(0);
  });
});
