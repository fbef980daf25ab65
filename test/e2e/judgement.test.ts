import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/emulator.ts';
import type { EmulatorFixture } from '../../src/emulator/fixture.ts';
import type { StatusView } from '../../src/store/store.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import {
  bearer,
  fireAlert,
  ManualClock,
  OPERATOR_TOKEN,
  type TestApp,
  type TestAppOptions,
  useTestApps,
  waitForRollback,
  webhookUrl,
} from '../helpers/app.ts';
import { servingSplit } from '../helpers/emulator.ts';

/**
 * The "Must show" of issue 18, end to end: the real clients against one emulator whose services each tell one story
 * in relative times (minutes before the emulator seeds, which it does again before every test). Each alert starts
 * now, so its burn-rate lookback (1 h) and the change window (1 h) reach back over the fixture's rows.
 */

const PROJECT = 'demo-project';
const REGION = 'us-central1';
const serviceName = (service: string) => `projects/${PROJECT}/locations/${REGION}/services/${service}`;

/** A healthy old revision's rate: about 1% 5xx, enough requests a minute for every comparison to count. */
const HEALTHY = { '2xx': 120, '5xx': 1 };
/** A failing minute: one request in four a 5xx. */
const FAILING = { '2xx': 90, '5xx': 30 };

type ServiceFixture = NonNullable<NonNullable<EmulatorFixture['cloudRun']>['services']>[number];

/** A service serving a days-old revision that begins to fail (with the older one reachable only as a rollback). */
function steadyService(service: string): ServiceFixture {
  return {
    name: serviceName(service),
    revisions: [
      { name: `${service}-00001-old`, createTime: '-10d' },
      { name: `${service}-00002-cur`, createTime: '-4d' },
    ],
    traffic: [{ revision: `${service}-00002-cur`, percent: 100 }],
    requests: [
      { revision: `${service}-00002-cur`, from: '-3h', to: '-5m', perMinute: HEALTHY },
      { revision: `${service}-00002-cur`, from: '-5m', perMinute: FAILING },
    ],
  };
}

/** A full cutover to a revision created 6 minutes ago that has failed since it took all traffic 5 minutes ago. */
function badDeployService(service: string): ServiceFixture {
  return {
    name: serviceName(service),
    revisions: [
      { name: `${service}-00001-old`, createTime: '-4d' },
      { name: `${service}-00002-new`, createTime: '-6m' },
    ],
    traffic: [{ revision: `${service}-00002-new`, percent: 100 }],
    requests: [
      { revision: `${service}-00001-old`, from: '-3h', to: '-5m', perMinute: HEALTHY },
      { revision: `${service}-00002-new`, from: '-5m', perMinute: FAILING },
    ],
  };
}

/** A canary taking 25% for 5 minutes beside a days-old baseline; `baselineFails` says whether both fail alike. */
function canaryService(service: string, baselineFails: boolean): ServiceFixture {
  const baseline = `${service}-00001-base`;
  const canary = `${service}-00002-can`;
  return {
    name: serviceName(service),
    revisions: [
      { name: baseline, createTime: '-4d' },
      { name: canary, createTime: '-5m' },
    ],
    traffic: [
      { revision: baseline, percent: 75, tag: 'stable' },
      { revision: canary, percent: 25, tag: 'canary' },
    ],
    requests: [
      { revision: baseline, from: '-3h', to: '-5m', perMinute: { '2xx': 400, '5xx': 1 } },
      {
        revision: baseline,
        from: '-5m',
        perMinute: baselineFails ? { '2xx': 210, '5xx': 90 } : { '2xx': 300, '5xx': 1 },
      },
      { revision: canary, from: '-5m', perMinute: { '2xx': 70, '5xx': 30 } },
    ],
  };
}

const FIXTURE: EmulatorFixture = {
  cloudRun: {
    services: [
      badDeployService('deploy'),
      steadyService('steady'),
      canaryService('alike', true),
      canaryService('canary', false),
      {
        // A week-old revision failing since 20 minutes ago; a hotfix took all traffic 3 minutes ago, failing too.
        name: serviceName('hotfix'),
        revisions: [
          { name: 'hotfix-00001-old', createTime: '-7d' },
          { name: 'hotfix-00002-fix', createTime: '-4m' },
        ],
        traffic: [{ revision: 'hotfix-00002-fix', percent: 100 }],
        requests: [
          { revision: 'hotfix-00001-old', from: '-3h', to: '-3m', perMinute: HEALTHY },
          { revision: 'hotfix-00001-old', from: '-20m', to: '-3m', perMinute: { '5xx': 40 } },
          { revision: 'hotfix-00002-fix', from: '-3m', perMinute: { '2xx': 120, '5xx': 40 } },
        ],
      },
      // A region in trouble: two services unchanged for days and one deployed at the onset, all failing alike.
      steadyService('region-a'),
      steadyService('region-b'),
      badDeployService('region-c'),
      badDeployService('blind'),
    ],
  },
};

const TARGETS = [
  'deploy',
  'steady',
  'alike',
  'canary',
  'hotfix',
  'region-a',
  'region-b',
  'region-c',
  'blind',
];

const POLICY = [
  'defaults:',
  '  mode: auto',
  '  errorRateThreshold: 0.01',
  '  minConfidence: 0.8',
  '  maxRollbacksPerHour: 3',
  '  cooldown: 30m',
  '  maxAlertAge: 15m',
  '  signal: burn_rate',
  '  sloGoal: 0.999',
  'targets:',
  ...TARGETS.flatMap((service) => [
    `  ${service}:`,
    '    kind: cloud-run',
    `    project: ${PROJECT}`,
    `    region: ${REGION}`,
    `    service: ${service}`,
  ]),
].join('\n');

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ adminPort: null, operationDelayMs: 20, fixture: FIXTURE });
});
afterAll(async () => {
  await emulator.stop();
});
beforeEach(() => {
  emulator.reset();
});

const startApp = useTestApps();
const start = (options: TestAppOptions = {}) =>
  startApp({ emulatorHost: emulator.host, policy: POLICY, ...options });

function trafficOf(service: string): Record<string, number> {
  return servingSplit(emulator, serviceName(service));
}

/** The `judged` step's detail; undefined when the rollback was not judged. */
function judged(status: StatusView): Record<string, unknown> | undefined {
  return status.timeline.find((event) => event.step === 'judged')?.detail;
}

function factor(status: StatusView, name: string): unknown {
  const factors = (judged(status)?.factors ?? []) as { name: string; value: unknown }[];
  return factors.find((one) => one.name === name)?.value;
}

/** Fires an alert for `target` (its own service) that lastgood decides to act on, and waits for the job's end. */
async function alertAndWait(t: TestApp, target: string, incidentId?: string): Promise<StatusView> {
  const accepted = await fireAlert(t, { service: target, target, ...(incidentId ? { incidentId } : {}) });
  expect(accepted).toMatchObject({ action: 'rollback', reason: 'ROLLBACK', duplicate: false });
  return waitForRollback(t.store, accepted.decisionId);
}

describe('lastgood judges the evidence before an automatic rollback', () => {
  it('rolls back a bad deploy: a new revision failing far above its predecessor since it took traffic', async () => {
    const t = await start();
    const status = await alertAndWait(t, 'deploy');
    expect(status.rollback).toMatchObject({
      state: 'succeeded',
      errorCode: null,
      fromRevision: 'deploy-00002-new',
      toRevision: 'deploy-00001-old',
    });
    expect(judged(status)).toMatchObject({ verdict: 'rollback', reason: 'ROLLBACK' });
    // 30 of every 120 requests since the cutover, against 1 in 121 for the previous revision before it.
    expect(factor(status, 'suspect_error_ratio')).toBeCloseTo(0.25, 2);
    expect(factor(status, 'baseline_error_ratio')).toBeCloseTo(1 / 121, 3);
    expect(factor(status, 'revision_specific')).toBe(true);
    expect(trafficOf('deploy')).toEqual({ 'deploy-00001-old': 100 });
    expect(emulator.calls.count('UpdateService')).toBe(1);
  });

  it('holds when nothing changed recently: the serving revision is days old', async () => {
    const t = await start();
    const status = await alertAndWait(t, 'steady');
    expect(status.rollback).toMatchObject({
      state: 'held',
      errorCode: 'NO_RECENT_CHANGE',
      fromRevision: 'steady-00002-cur',
    });
    expect(judged(status)).toMatchObject({ verdict: 'hold', reason: 'NO_RECENT_CHANGE' });
    expect(trafficOf('steady')).toEqual({ 'steady-00002-cur': 100 });
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('holds when the baseline fails too: the canary and the revision beside it fail alike', async () => {
    const t = await start();
    const status = await alertAndWait(t, 'alike');
    expect(status.rollback).toMatchObject({
      state: 'held',
      errorCode: 'NOT_REVISION_SPECIFIC',
      fromRevision: 'alike-00002-can',
    });
    expect(judged(status)).toMatchObject({ verdict: 'hold', reason: 'NOT_REVISION_SPECIFIC' });
    // Over the same minutes, 30% of each revision's requests fail.
    expect(factor(status, 'suspect_error_ratio')).toBeCloseTo(0.3, 2);
    expect(factor(status, 'baseline_error_ratio')).toBeCloseTo(0.3, 2);
    expect(factor(status, 'revision_specific')).toBe(false);
    expect(trafficOf('alike')).toEqual({ 'alike-00001-base': 75, 'alike-00002-can': 25 });
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('holds for a deploy during an incident: the new revision started serving after the errors began', async () => {
    const t = await start();
    const status = await alertAndWait(t, 'hotfix');
    expect(status.rollback).toMatchObject({
      state: 'held',
      errorCode: 'CHANGE_AFTER_ONSET',
      fromRevision: 'hotfix-00002-fix',
    });
    expect(judged(status)).toMatchObject({ verdict: 'hold', reason: 'CHANGE_AFTER_ONSET' });
    expect(trafficOf('hotfix')).toEqual({ 'hotfix-00002-fix': 100 });
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('holds when several targets burn at once, the others unchanged for days', async () => {
    const t = await start();
    const others = await Promise.all(['region-a', 'region-b'].map((target) => alertAndWait(t, target)));
    expect(others.map((status) => status.rollback?.errorCode)).toEqual([
      'NO_RECENT_CHANGE',
      'NO_RECENT_CHANGE',
    ]);
    // region-c deployed at the onset: alone, that would be rolled back (the bad-deploy story).
    const status = await alertAndWait(t, 'region-c');
    expect(status.rollback).toMatchObject({ state: 'held', errorCode: 'CORRELATED_OUTAGE' });
    expect(judged(status)).toMatchObject({ verdict: 'hold', reason: 'CORRELATED_OUTAGE' });
    expect(factor(status, 'correlated_targets')).toBe(2);
    expect(trafficOf('region-c')).toEqual({ 'region-c-00002-new': 100 });
    expect(trafficOf('region-a')).toEqual({ 'region-a-00002-cur': 100 });
    expect(trafficOf('region-b')).toEqual({ 'region-b-00002-cur': 100 });
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('rolls a bad 25% canary back onto its 75% baseline', async () => {
    const t = await start();
    const status = await alertAndWait(t, 'canary');
    expect(status.rollback).toMatchObject({
      state: 'succeeded',
      fromRevision: 'canary-00002-can',
      toRevision: 'canary-00001-base',
      lkgRule: 'split_baseline',
    });
    expect(judged(status)).toMatchObject({
      verdict: 'rollback',
      reason: 'ROLLBACK',
      summary: expect.objectContaining({ split: true, rollbackTo: 'canary-00001-base' }),
    });
    expect(trafficOf('canary')).toEqual({ 'canary-00001-base': 100 });
    expect(emulator.calls.count('UpdateService')).toBe(1);
  });

  it.each([
    ['answers UNAVAILABLE', { kind: 'unavailable', method: 'ListTimeSeries', times: 'until-cleared' }],
    // Past the evidence read's 2 s deadline, twice (one retry): about 4 s before the judgement goes on without it.
    ['hangs past the deadline', { kind: 'latency', method: 'ListTimeSeries', ms: 2_500 }],
  ] as const)(
    'still rolls back a recent bad deploy while Monitoring %s',
    async (_name, fault) => {
      emulator.faults.inject(fault);
      const t = await start();
      const status = await alertAndWait(t, 'blind');
      expect(status.rollback).toMatchObject({
        state: 'succeeded',
        fromRevision: 'blind-00002-new',
        toRevision: 'blind-00001-old',
      });
      expect(judged(status)).toMatchObject({
        verdict: 'rollback',
        reason: 'ROLLBACK',
        summary: expect.objectContaining({ telemetry: expect.objectContaining({ status: 'unavailable' }) }),
      });
      expect(factor(status, 'evidence_unavailable')).toBe('unavailable');
      expect(trafficOf('blind')).toEqual({ 'blind-00001-old': 100 });
      expect(emulator.calls.count('UpdateService')).toBe(1);
      expect(emulator.calls.count('ListTimeSeries')).toBe(2);
    },
    15_000,
  );
});

describe('holds are told once, start no cooldown, and manual rollbacks are not judged', () => {
  /** The held rollbacks the outbox will notify about, read from the store's own file. */
  function heldNotifications(t: TestApp): number {
    const db = new DatabaseSync(join(t.dataDir, 'lastgood.db'), { readOnly: true });
    try {
      const row = db
        .prepare(
          "SELECT count(*) AS n FROM outbox JOIN audit_log ON audit_log.seq = outbox.audit_seq WHERE audit_log.type = 'rollback_held'",
        )
        .get() as { n: number };
      return Number(row.n);
    } finally {
      db.close();
    }
  }

  it('notifies a hold once per incident: a redelivery is a duplicate, a later re-judgement is held in silence', async () => {
    const clock = new ManualClock();
    const t = await start({ clock });
    const startedAt = clock.now();
    const first = await fireAlert(t, {
      service: 'steady',
      target: 'steady',
      incidentId: '0.steady-1',
      startedAt,
    });
    const held = await waitForRollback(t.store, first.decisionId);
    expect(held.rollback).toMatchObject({ state: 'held', errorCode: 'NO_RECENT_CHANGE' });

    clock.advance(20_000);
    const again = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert({ service: 'steady', target: 'steady', incidentId: '0.steady-1', startedAt }),
    });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ duplicate: true, decisionId: first.decisionId });

    // A renotification of the open incident minutes later is judged afresh, and held again without a new message.
    clock.advance(60_000);
    const later = await fireAlert(t, {
      service: 'steady',
      target: 'steady',
      incidentId: '0.steady-1',
      startedAt,
    });
    expect(later).toMatchObject({ duplicate: false, reason: 'ROLLBACK' });
    const rejudged = await waitForRollback(t.store, later.decisionId);
    expect(rejudged.rollback).toMatchObject({ state: 'held', errorCode: 'NO_RECENT_CHANGE' });
    expect(judged(rejudged)).toMatchObject({ reason: 'NO_RECENT_CHANGE' });

    expect(heldNotifications(t)).toBe(1);
    expect(trafficOf('steady')).toEqual({ 'steady-00002-cur': 100 });
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('does not start the cooldown: another incident on the same target is judged again', async () => {
    const t = await start();
    const first = await alertAndWait(t, 'steady', '0.steady-first');
    expect(first.rollback).toMatchObject({ state: 'held', errorCode: 'NO_RECENT_CHANGE' });

    const next = await alertAndWait(t, 'steady', '0.steady-second');
    expect(next.rollback).toMatchObject({ state: 'held', errorCode: 'NO_RECENT_CHANGE' });
    expect(judged(next)).toMatchObject({ verdict: 'hold', reason: 'NO_RECENT_CHANGE' });
    expect(heldNotifications(t)).toBe(2);
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });

  it('skips the judgement for a manual rollback, which a person judged', async () => {
    const t = await start();
    const accepted = await t.app.server.inject({
      method: 'POST',
      url: '/rollback/manual/steady?target_revision=steady-00001-old',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(accepted.statusCode).toBe(202);
    const status = await waitForRollback(t.store, accepted.json().decisionId);
    expect(status.rollback).toMatchObject({ state: 'succeeded', lkgRule: 'requested' });
    expect(judged(status)).toBeUndefined();
    expect(status.timeline.map((event) => event.step)).toContain('verified');
    expect(trafficOf('steady')).toEqual({ 'steady-00001-old': 100 });
    expect(emulator.calls.count('UpdateService')).toBe(1);
    expect(emulator.calls.count('ListTimeSeries')).toBe(0);
  });
});
