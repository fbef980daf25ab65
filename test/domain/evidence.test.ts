import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  detectOnset,
  parseLookbackMs,
  reviveEvidence,
  selectSuspect,
  serviceMinutes,
  servingSince,
  significantlyAbove,
  windowRatio,
} from '../../src/domain/evidence.ts';
import { judge } from '../../src/domain/judge.ts';
import { DEFAULT_JUDGEMENT_POLICY } from '../../src/domain/judgement-policy.ts';
import { at, evidenceOf, minutes } from './evidence-builder.ts';

const thresholds = { ratioMultiple: 2, minRatioIncrease: 0.005 };

describe('parseLookbackMs', () => {
  const cases: [string | null, number | null][] = [
    ['select_slo_burn_rate("projects/p/services/s/serviceLevelObjectives/o", "3600s")', 3_600_000],
    ["select_slo_burn_rate('projects/p/services/s/serviceLevelObjectives/o', '21600s')", 21_600_000],
    ['select_slo_burn_rate( "projects/p/services/s/serviceLevelObjectives/o" ,"300s" ) > 14.4', 300_000],
    ['select_slo_burn_rate("projects/p/services/s/serviceLevelObjectives/o", "0s")', null],
    ['metric.type="run.googleapis.com/request_count"', null],
    ['select_slo_burn_rate("projects/p/services/s/serviceLevelObjectives/o", "1h")', null],
    [null, null],
  ];
  for (const [filter, expected] of cases) {
    it(`reads ${expected} from ${filter}`, () => expect(parseLookbackMs(filter)).toBe(expected));
  }
});

describe('windowRatio', () => {
  const series = minutes([{ from: -10, to: 0, rpm: 30, errorRate: 0.1 }]);

  it('pools the minutes in [from, to)', () => {
    expect(windowRatio(series, at(-10), at(-5), 100)).toEqual({
      from: at(-10),
      to: at(-5),
      requests: 150,
      errors: 15,
      ratio: 0.1,
    });
  });

  it('is inconclusive below the minimum number of requests, not a failure', () => {
    expect(windowRatio(series, at(-3), at(0), 100)).toMatchObject({ requests: 90, errors: 9, ratio: null });
  });

  it('is inconclusive with no requests at all, even with no minimum', () => {
    expect(windowRatio([], at(-3), at(0), 0).ratio).toBeNull();
  });
});

describe('detectOnset', () => {
  it('finds the minute a step rise began', () => {
    const series = minutes([
      { from: -60, to: -12, rpm: 800, errorRate: 0.002 },
      { from: -12, to: 0, rpm: 800, errorRate: 0.06 },
    ]);
    expect(detectOnset(series, 100, thresholds)).toMatchObject({ kind: 'rise', at: at(-12) });
  });

  it('is not fooled by a single noisy minute before the rise', () => {
    const series = minutes(
      [
        { from: -60, to: -12, rpm: 800, errorRate: 0.002 },
        { from: -12, to: 0, rpm: 800, errorRate: 0.06 },
      ],
      { [-30]: [790, 60] },
    );
    expect(detectOnset(series, 100, thresholds)).toMatchObject({ kind: 'rise', at: at(-12) });
  });

  it('dates a slow ramp near where it began, not where it ends', () => {
    const ramp = Array.from({ length: 60 }, (_, i) => ({
      from: -60 + i,
      to: -59 + i,
      rpm: 1000,
      errorRate: 0.001 * i,
    }));
    const series = minutes([{ from: -120, to: -60, rpm: 1000, errorRate: 0.001 }, ...ramp]);
    const onset = detectOnset(series, 100, thresholds);
    expect(onset.kind).toBe('rise');
    if (onset.kind === 'rise') expect(onset.at.getTime()).toBeLessThanOrEqual(at(-40).getTime());
  });

  it('dates the episode under way, passing over an earlier one that recovered', () => {
    const series = minutes([
      { from: -120, to: -70, rpm: 600, errorRate: 0.001 },
      { from: -70, to: -50, rpm: 600, errorRate: 0.09 },
      { from: -50, to: -9, rpm: 600, errorRate: 0.001 },
      { from: -9, to: 0, rpm: 600, errorRate: 0.09 },
    ]);
    expect(detectOnset(series, 100, thresholds)).toMatchObject({ kind: 'rise', at: at(-9) });
  });

  it('sees no onset when the errors have recovered', () => {
    const series = minutes([
      { from: -60, to: -30, rpm: 600, errorRate: 0.001 },
      { from: -30, to: -15, rpm: 600, errorRate: 0.09 },
      { from: -15, to: 0, rpm: 600, errorRate: 0.001 },
    ]);
    expect(detectOnset(series, 100, thresholds).kind).toBe('none');
  });

  it('finds a low-traffic rise where it happened, from few requests', () => {
    const series = minutes([
      { from: -120, to: -8, rpm: 4, errorRate: 0 },
      { from: -8, to: 0, rpm: 4, errorRate: 0.5 },
    ]);
    expect(detectOnset(series, 100, thresholds)).toMatchObject({ kind: 'rise', at: at(-8) });
  });

  it('sees no onset in a flat series, and reports its level', () => {
    const series = minutes([{ from: -60, to: 0, rpm: 800, errorRate: 0.05 }]);
    expect(detectOnset(series, 100, thresholds)).toEqual({ kind: 'none', earliestRatio: 0.05 });
  });

  it('sees no onset in a rise too small to be clear', () => {
    const series = minutes([
      { from: -60, to: -10, rpm: 800, errorRate: 0.001 },
      { from: -10, to: 0, rpm: 800, errorRate: 0.003 },
    ]);
    expect(detectOnset(series, 100, thresholds).kind).toBe('none');
  });

  it('never dates an onset after the last minute of a rise it reports', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -100, max: -3 }),
        fc.integer({ min: 50, max: 5000 }),
        fc.double({ min: 0, max: 0.01, noNaN: true }),
        fc.double({ min: 0.03, max: 1, noNaN: true }),
        (step, rpm, before, after) => {
          const series = minutes([
            { from: -120, to: step, rpm, errorRate: before },
            { from: step, to: 0, rpm, errorRate: after },
          ]);
          const onset = detectOnset(series, 100, thresholds);
          if (onset.kind === 'rise') expect(onset.at.getTime()).toBeLessThanOrEqual(at(step).getTime());
        },
      ),
    );
  });
});

describe('significantlyAbove', () => {
  const cases: [string, number, number, number, boolean][] = [
    ['3.7x a 0.1% baseline over 9k requests', 34, 9264, 0.00104, true],
    ['about the baseline', 56, 32295, 0.0019, false],
    ['two errors in twenty requests', 2, 20, 0.001, false],
    ['a hair above in a huge sample', 1300, 1_000_000, 0.001, false],
    ['any clear excess over a baseline without errors', 12, 400, 0, true],
    ['no errors at all', 0, 500, 0, false],
  ];
  for (const [name, errors, requests, reference, expected] of cases) {
    it(`${expected ? 'counts' : 'does not count'} ${name}`, () =>
      expect(significantlyAbove(errors, requests, reference, 2)).toBe(expected));
  }
});

describe('serviceMinutes', () => {
  it('sums every revision per minute, oldest first', () => {
    const series = {
      a: minutes([{ from: -2, to: 0, rpm: 10, errorRate: 0.1 }]),
      b: minutes([{ from: -3, to: -1, rpm: 20, errorRate: 0.5 }]),
    };
    expect(serviceMinutes(series)).toEqual([
      { minuteStart: at(-3), total: 20, errors: 10 },
      { minuteStart: at(-2), total: 30, errors: 11 },
      { minuteStart: at(-1), total: 10, errors: 1 },
    ]);
  });
});

describe('servingSince', () => {
  const revisions = [
    { name: 'old', createdAt: -5000 },
    { name: 'new', createdAt: -300 },
  ];

  it('takes the first minute Monitoring saw requests, not create_time', () => {
    const evidence = evidenceOf({
      startedAt: -5,
      revisions,
      traffic: { new: 100 },
      series: { new: minutes([{ from: -20, to: 0, rpm: 50, errorRate: 0 }]) },
    });
    expect(servingSince('new', evidence)).toEqual({ at: at(-20), source: 'monitoring' });
  });

  it('falls back to create_time when the revision served from the first minute of the series', () => {
    const evidence = evidenceOf({
      startedAt: -5,
      revisions,
      traffic: { new: 100 },
      series: { new: minutes([{ from: -120, to: 0, rpm: 50, errorRate: 0 }]) },
    });
    expect(servingSince('new', evidence)).toEqual({ at: at(-300), source: 'create_time' });
  });

  it('starts no earlier than lastgood last saw another revision serving 100%', () => {
    const evidence = evidenceOf({
      startedAt: -5,
      revisions,
      traffic: { new: 100 },
      series: 'unavailable',
      records: [
        { observedAt: at(-200), fullRevision: 'old' },
        { observedAt: at(-30), fullRevision: 'old' },
        { observedAt: at(-2), fullRevision: 'new' },
      ],
    });
    expect(servingSince('new', evidence)).toEqual({ at: at(-30), source: 'traffic_records' });
  });

  it('is unknown for a revision nobody knows', () => {
    expect(servingSince('ghost', evidenceOf({ startedAt: -5, revisions, traffic: {} }))).toBeNull();
  });
});

describe('selectSuspect', () => {
  const split = (canaryFrom: number) =>
    evidenceOf({
      startedAt: -5,
      revisions: [
        { name: 'stable', createdAt: -5000 },
        { name: 'canary', createdAt: canaryFrom - 1 },
      ],
      traffic: { stable: 75, canary: 25 },
      series: {
        stable: minutes([{ from: -120, to: 0, rpm: 600, errorRate: 0.002 }]),
        canary: minutes([{ from: canaryFrom, to: 0, rpm: 200, errorRate: 0.1 }]),
      },
    });

  it('suspects the newest revision that gained traffic before the onset, not the largest share', () => {
    expect(selectSuspect(split(-15), at(-15), 120_000)).toMatchObject({
      suspect: 'canary',
      baseline: 'stable',
      split: true,
      changeTime: { at: at(-15), source: 'monitoring' },
    });
  });

  it('passes over a canary that gained traffic only after the onset', () => {
    expect(selectSuspect(split(-10), at(-30), 120_000)).toMatchObject({
      suspect: 'stable',
      baseline: 'canary',
    });
  });

  it('compares a full cutover with the last known good', () => {
    const evidence = evidenceOf({
      startedAt: -5,
      revisions: [
        { name: 'a', createdAt: -5000 },
        { name: 'b', createdAt: -3000 },
        { name: 'c', createdAt: -10 },
      ],
      traffic: { c: 100 },
      lastKnownGood: 'a',
    });
    expect(selectSuspect(evidence, null, 0)).toMatchObject({ suspect: 'c', baseline: 'a', split: false });
    delete evidence.lastKnownGood;
    expect(selectSuspect(evidence, null, 0)).toMatchObject({ suspect: 'c', baseline: 'b' });
  });

  it("dates a Cloud Deploy change by the rollout's deploy end", () => {
    const evidence = evidenceOf({
      startedAt: -5,
      revisions: [],
      traffic: {},
      rollout: { deployEnd: -12, revision: 'svc-00009-xyz' },
    });
    expect(selectSuspect(evidence, null, 0)).toMatchObject({
      suspect: 'svc-00009-xyz',
      split: false,
      changeTime: { at: at(-12), source: 'deploy_end_time' },
    });
  });
});

describe('servingSince with a preview tag', () => {
  it('dates a tagged revision from when it took a real share of traffic, not its first preview request', () => {
    const evidence = evidenceOf({
      startedAt: -5,
      revisions: [
        { name: 'stable', createdAt: -5000 },
        { name: 'tagged', createdAt: -400 },
      ],
      traffic: { stable: 70, tagged: 30 },
      series: {
        stable: minutes([
          { from: -120, to: -12, rpm: 1000, errorRate: 0 },
          { from: -12, to: 0, rpm: 700, errorRate: 0 },
        ]),
        tagged: minutes([
          { from: -120, to: -12, rpm: 2, errorRate: 0 },
          { from: -12, to: 0, rpm: 300, errorRate: 0 },
        ]),
      },
    });
    expect(servingSince('tagged', evidence)).toEqual({ at: at(-12), source: 'monitoring' });
  });
});

describe('reviveEvidence', () => {
  it('gives back, from its JSON, the evidence that was recorded, judged alike', () => {
    const evidence = evidenceOf({
      startedAt: -5,
      revisions: [
        { name: 'a', createdAt: -600 },
        { name: 'b', createdAt: -12 },
      ],
      traffic: { b: 100 },
      series: {
        a: minutes([{ from: -120, to: -10, rpm: 500, errorRate: 0.002 }]),
        b: minutes([{ from: -10, to: -1, rpm: 500, errorRate: 0.1 }]),
      },
      records: [{ observedAt: at(-30), fullRevision: 'a' }],
      rollout: { deployEnd: -10, revision: 'b' },
      correlated: [{ target: 'other', startedAt: at(-4), changedRecently: 'unknown' }],
      lastKnownGood: 'a',
    });
    const revived = reviveEvidence(JSON.parse(JSON.stringify(evidence)));
    expect(revived).toEqual(evidence);
    expect(judge(revived, DEFAULT_JUDGEMENT_POLICY)).toEqual(judge(evidence, DEFAULT_JUDGEMENT_POLICY));
  });

  it('turns a time that does not parse into a hold, never a rollback', () => {
    const stored = JSON.parse(JSON.stringify(evidenceOf({ startedAt: -5, revisions: [], traffic: {} })));
    stored.incident.startedAt = 'yesterday-ish';
    expect(judge(reviveEvidence(stored), DEFAULT_JUDGEMENT_POLICY).reason).toBe('INVALID_EVIDENCE');
  });
});
