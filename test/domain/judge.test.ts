import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Evidence, type MinuteCount, reviveEvidence } from '../../src/domain/evidence.ts';
import { judge, judgedStep, recordedEvidence } from '../../src/domain/judge.ts';
import {
  DEFAULT_JUDGEMENT_POLICY,
  type JudgementPolicy,
  type JudgementReason,
  monitoringWindow,
} from '../../src/domain/judgement-policy.ts';
import { at, type EvidenceSpec, evidenceOf, minutes } from './evidence-builder.ts';

const FOUR_DAYS = -4 * 24 * 60;
const OLD = { name: 'svc-00001-old', createdAt: FOUR_DAYS };
const NEW = { name: 'svc-00002-new', createdAt: -11 };

/** The old revision served alone, healthy, until `switchAt`; the new one takes over then. */
function cutover(
  switchAt: number,
  newRate: number,
  oldRate = 0.002,
  rpm = 800,
): Record<string, MinuteCount[]> {
  return {
    [OLD.name]: minutes([{ from: -120, to: switchAt, rpm, errorRate: oldRate }]),
    [NEW.name]: minutes([{ from: switchAt, to: -1, rpm, errorRate: newRate }]),
  };
}

const badCutover: EvidenceSpec = {
  startedAt: -7,
  revisions: [OLD, NEW],
  traffic: { [NEW.name]: 100 },
  series: cutover(-10, 0.08),
  to: -1,
  lastKnownGood: OLD.name,
};

const canary = (canaryRate: number, stableRate = 0.002): EvidenceSpec => ({
  startedAt: -8,
  revisions: [OLD, { name: NEW.name, createdAt: -16 }],
  traffic: { [OLD.name]: 75, [NEW.name]: 25 },
  series: {
    [OLD.name]: minutes([
      { from: -120, to: -15, rpm: 800, errorRate: 0.002 },
      { from: -15, to: -1, rpm: 600, errorRate: stableRate },
    ]),
    [NEW.name]: minutes([{ from: -15, to: -1, rpm: 200, errorRate: canaryRate }]),
  },
  to: -1,
  lastKnownGood: OLD.name,
});

interface Case {
  name: string;
  spec: EvidenceSpec;
  policy?: Partial<JudgementPolicy>;
  reason: JudgementReason;
  suspect?: string;
  rollbackTo?: string | null;
  factor?: string;
}

const cases: Case[] = [
  {
    name: 'rolls back a bad deploy with a full cutover',
    spec: badCutover,
    reason: 'ROLLBACK',
    suspect: NEW.name,
    rollbackTo: OLD.name,
  },
  {
    name: 'rolls a bad 25% canary back to its baseline, not the revision with the largest share',
    spec: canary(0.12),
    reason: 'ROLLBACK',
    suspect: NEW.name,
    rollbackTo: OLD.name,
  },
  {
    name: 'holds when a canary and its baseline fail alike',
    spec: canary(0.06, 0.05),
    reason: 'NOT_REVISION_SPECIFIC',
  },
  {
    name: 'holds when the serving revision is four days old',
    spec: {
      startedAt: -6,
      revisions: [OLD],
      traffic: { [OLD.name]: 100 },
      series: {
        [OLD.name]: minutes([
          { from: -120, to: -12, rpm: 800, errorRate: 0.002 },
          { from: -12, to: -1, rpm: 800, errorRate: 0.09 },
        ]),
      },
      to: -1,
      lastKnownGood: null,
    },
    reason: 'NO_RECENT_CHANGE',
  },
  {
    name: 'holds for a deploy during an incident',
    spec: {
      startedAt: -30,
      revisions: [OLD, { name: NEW.name, createdAt: -16 }],
      traffic: { [NEW.name]: 100 },
      series: {
        [OLD.name]: minutes([
          { from: -120, to: -40, rpm: 800, errorRate: 0.002 },
          { from: -40, to: -15, rpm: 800, errorRate: 0.07 },
        ]),
        [NEW.name]: minutes([{ from: -15, to: -1, rpm: 800, errorRate: 0.07 }]),
      },
      to: -1,
      lastKnownGood: OLD.name,
    },
    reason: 'CHANGE_AFTER_ONSET',
  },
  {
    name: 'holds for a change that started serving after the alert began, even without telemetry',
    spec: {
      startedAt: -6,
      revisions: [OLD, { name: NEW.name, createdAt: -3 }],
      traffic: { [NEW.name]: 100 },
      series: 'unavailable',
      lastKnownGood: OLD.name,
    },
    reason: 'CHANGE_AFTER_ONSET',
  },
  {
    name: 'holds when many unchanged targets burn at once',
    spec: {
      ...badCutover,
      correlated: [
        { target: 'orders', startedAt: at(-8), changedRecently: false },
        { target: 'billing', startedAt: at(-6), changedRecently: 'unknown' },
        { target: 'search', startedAt: at(-7), changedRecently: false },
      ],
    },
    reason: 'CORRELATED_OUTAGE',
  },
  {
    name: 'still rolls back when the other burning targets all deployed too (a fleet-wide bad release)',
    spec: {
      ...badCutover,
      correlated: [
        { target: 'orders', startedAt: at(-8), changedRecently: true },
        { target: 'billing', startedAt: at(-6), changedRecently: true },
      ],
    },
    reason: 'ROLLBACK',
  },
  {
    name: 'ignores other targets that alerted long before',
    spec: {
      ...badCutover,
      correlated: [
        { target: 'orders', startedAt: at(-200), changedRecently: false },
        { target: 'billing', startedAt: at(-180), changedRecently: false },
      ],
    },
    reason: 'ROLLBACK',
  },
  {
    name: 'rolls back a recent bad deploy while Monitoring is down, and says the evidence is missing',
    spec: { ...badCutover, series: 'unavailable' },
    reason: 'ROLLBACK',
    factor: 'evidence_unavailable',
  },
  {
    name: 'holds a recent deploy without telemetry when evidence is required',
    spec: { ...badCutover, series: 'unavailable' },
    policy: { evidence: 'required' },
    reason: 'INCONCLUSIVE',
  },
  {
    name: 'holds without telemetry when the change is not close enough to speak for itself',
    spec: {
      ...badCutover,
      startedAt: -2,
      revisions: [OLD, { name: NEW.name, createdAt: -45 }],
      series: 'no_data',
    },
    reason: 'INCONCLUSIVE',
  },
  {
    name: 'acts on the alert alone when evidence is off',
    spec: { ...badCutover, revisions: [OLD], traffic: { [OLD.name]: 100 } },
    policy: { evidence: 'off' },
    reason: 'ROLLBACK',
  },
  {
    name: 'rolls back a low-traffic service on change timing alone',
    spec: { ...badCutover, series: cutover(-10, 0.3, 0, 4) },
    reason: 'ROLLBACK',
    factor: 'comparison',
  },
  {
    name: 'holds when there is no revision to go back to',
    spec: { ...badCutover, lastKnownGood: null },
    reason: 'NO_LAST_KNOWN_GOOD',
  },
  {
    name: 'holds when the suspect served healthy traffic for a long time before the errors began',
    spec: {
      startedAt: -5,
      revisions: [OLD, { name: NEW.name, createdAt: -51 }],
      traffic: { [NEW.name]: 100 },
      series: {
        [OLD.name]: minutes([{ from: -120, to: -50, rpm: 800, errorRate: 0.002 }]),
        [NEW.name]: minutes([
          { from: -50, to: -12, rpm: 800, errorRate: 0.002 },
          { from: -12, to: -1, rpm: 800, errorRate: 0.06 },
        ]),
      },
      to: -1,
      lastKnownGood: OLD.name,
    },
    reason: 'HEALTHY_AFTER_CHANGE',
  },
  {
    name: 'holds when errors came with a traffic spike after a healthy start',
    spec: {
      startedAt: -3,
      revisions: [OLD, { name: NEW.name, createdAt: -15 }],
      traffic: { [NEW.name]: 100 },
      series: {
        [OLD.name]: minutes([{ from: -120, to: -14, rpm: 800, errorRate: 0.002 }]),
        [NEW.name]: minutes([
          { from: -14, to: -7, rpm: 800, errorRate: 0.002 },
          { from: -7, to: -1, rpm: 4000, errorRate: 0.05 },
        ]),
      },
      to: -1,
      lastKnownGood: OLD.name,
    },
    reason: 'TRAFFIC_SPIKE',
  },
  {
    name: 'rolls back a Cloud Deploy rollout that finished minutes before the alert',
    spec: {
      startedAt: -4,
      revisions: [],
      traffic: {},
      series: 'off',
      rollout: { deployEnd: -9, revision: null },
    },
    reason: 'ROLLBACK',
  },
  {
    name: 'holds a Cloud Deploy target whose rollout is days old',
    spec: {
      startedAt: -4,
      revisions: [],
      traffic: {},
      series: 'off',
      rollout: { deployEnd: FOUR_DAYS, revision: null },
    },
    reason: 'NO_RECENT_CHANGE',
  },
  {
    name: 'holds when no suspect can be named at all',
    spec: { startedAt: -4, revisions: [], traffic: {}, series: 'unavailable' },
    reason: 'INCONCLUSIVE',
  },
  {
    name: 'holds on a NaN request count',
    spec: {
      ...badCutover,
      series: { [NEW.name]: [{ minuteStart: at(-5), total: Number.NaN, errors: 3 }] },
    },
    reason: 'INVALID_EVIDENCE',
  },
];

describe('judge', () => {
  for (const testCase of cases) {
    it(testCase.name, () => {
      const result = judge(evidenceOf(testCase.spec), { ...DEFAULT_JUDGEMENT_POLICY, ...testCase.policy });
      expect(result.reason, JSON.stringify(result.factors, null, 1)).toBe(testCase.reason);
      expect(result.action).toBe(testCase.reason === 'ROLLBACK' ? 'rollback' : 'hold');
      if (testCase.suspect !== undefined) expect(result.summary.suspect).toBe(testCase.suspect);
      if (testCase.rollbackTo !== undefined) expect(result.summary.rollbackTo).toBe(testCase.rollbackTo);
      if (testCase.factor !== undefined)
        expect(result.factors.map((factor) => factor.name)).toContain(testCase.factor);
    });
  }

  it('shows the per-revision windows, change time and onset it used', () => {
    const result = judge(evidenceOf(canary(0.12)), DEFAULT_JUDGEMENT_POLICY);
    expect(result.summary.onset).toEqual(at(-15));
    expect(result.summary.change).toEqual({ at: at(-15), source: 'monitoring' });
    expect(result.summary.split).toBe(true);
    expect(result.summary.windows).toEqual([
      {
        revision: NEW.name,
        role: 'suspect',
        from: at(-15),
        to: at(-1),
        requests: 2800,
        errors: 336,
        ratio: 0.12,
      },
      {
        revision: OLD.name,
        role: 'baseline',
        from: at(-15),
        to: at(-1),
        requests: 8400,
        errors: 14,
        ratio: 14 / 8400,
      },
    ]);
  });
});

describe('judge properties', () => {
  const policy = DEFAULT_JUDGEMENT_POLICY;
  const numericPaths = [
    (e: Evidence) => {
      e.incident.conditionDurationMs = Number.NaN;
    },
    (e: Evidence) => {
      e.incident.lookbackMs = Number.POSITIVE_INFINITY;
    },
    (e: Evidence) => {
      e.incident.startedAt = new Date(Number.NaN);
    },
    (e: Evidence) => {
      (e.traffic as Record<string, number>)[NEW.name] = Number.NaN;
    },
    (e: Evidence) => {
      if (e.telemetry.status === 'ok')
        (e.telemetry.series[NEW.name] as MinuteCount[])[0]!.errors = Number.NaN;
    },
    (e: Evidence) => {
      if (e.telemetry.status === 'ok') e.telemetry.to = new Date(Number.NaN);
    },
  ];

  it('never acts on a NaN or an Infinity, in the evidence or the policy', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: numericPaths.length }),
        fc.constantFrom(
          ...(Object.keys(policy) as (keyof JudgementPolicy)[]).filter((k) => k !== 'evidence'),
        ),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
        (path, key, bad) => {
          const evidence = evidenceOf(badCutover);
          numericPaths[path]?.(evidence);
          const judged = judge(evidence, path < numericPaths.length ? policy : { ...policy, [key]: bad });
          expect(judged.action).toBe('hold');
        },
      ),
    );
  });

  it('never blames a change that started serving after the errors began', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -100, max: -20 }),
        fc.integer({ min: 3, max: 15 }),
        fc.integer({ min: 20, max: 3000 }),
        fc.double({ min: 0.02, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 0.004, noNaN: true }),
        fc.boolean(),
        (onset, lag, rpm, failing, healthy, telemetry) => {
          // The errors must show in the counts for the series to date them.
          fc.pre(rpm * failing >= 1.5);
          const change = onset + lag;
          const spec: EvidenceSpec = {
            // Without telemetry only the alert dates the errors, so there it began holding before the change.
            startedAt: telemetry ? Math.min(onset + 5, -1) : onset + 1,
            revisions: [OLD, { name: NEW.name, createdAt: change }],
            traffic: { [NEW.name]: 100 },
            series: telemetry
              ? {
                  [OLD.name]: minutes([
                    { from: -180, to: onset, rpm, errorRate: healthy },
                    { from: onset, to: change, rpm, errorRate: failing },
                  ]),
                  [NEW.name]: minutes([{ from: change, to: -1, rpm, errorRate: failing }]),
                }
              : 'unavailable',
            from: -180,
            to: -1,
            lastKnownGood: OLD.name,
          };
          expect(judge(evidenceOf(spec), policy).action).toBe('hold');
        },
      ),
    );
  });

  it('rolls back a clear full-cutover regression whatever the traffic level above the minimum', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -40, max: -6 }),
        fc.integer({ min: 60, max: 5000 }),
        fc.double({ min: 0.03, max: 1, noNaN: true }),
        (change, rpm, failing) => {
          const spec: EvidenceSpec = {
            ...badCutover,
            startedAt: Math.min(change + 3, -2),
            revisions: [OLD, { name: NEW.name, createdAt: change - 1 }],
            series: cutover(change, failing, 0.002, rpm),
          };
          expect(judge(evidenceOf(spec), policy).reason).toBe('ROLLBACK');
        },
      ),
    );
  });

  it('never blames a revision that fails no more than the one serving beside it, when the 5xx show the failure', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 200, max: 4000 }),
        fc.integer({ min: 5, max: 50 }),
        fc.double({ min: 0.01, max: 0.6, noNaN: true }),
        fc.double({ min: 0.8, max: 1.2, noNaN: true }),
        fc.integer({ min: -60, max: -8 }),
        (rpm, canaryPercent, stableRate, relative, canaryFrom) => {
          const canaryRpm = Math.round((rpm * canaryPercent) / 100);
          const spec: EvidenceSpec = {
            startedAt: -4,
            revisions: [OLD, { name: NEW.name, createdAt: canaryFrom - 1 }],
            traffic: { [OLD.name]: 100 - canaryPercent, [NEW.name]: canaryPercent },
            series: {
              [OLD.name]: minutes([
                { from: -120, to: -6, rpm, errorRate: 0.001 },
                { from: -6, to: -1, rpm: rpm - canaryRpm, errorRate: stableRate },
              ]),
              [NEW.name]: minutes([
                { from: canaryFrom, to: -6, rpm: canaryRpm, errorRate: 0.001 },
                { from: -6, to: -1, rpm: canaryRpm, errorRate: Math.min(1, stableRate * relative) },
              ]),
            },
            to: -1,
            lastKnownGood: OLD.name,
          };
          const evidence = evidenceOf(spec);
          const telemetry = evidence.telemetry;
          if (telemetry.status !== 'ok') return;
          // The counts are rounded per minute: state the property on the ratios actually served.
          const pooled = (revision: string) => {
            const since = telemetry.series[revision]!.filter((minute) => minute.minuteStart >= at(-6));
            const total = since.reduce((sum, minute) => sum + minute.total, 0);
            return since.reduce((sum, minute) => sum + minute.errors, 0) / Math.max(1, total);
          };
          // ... and on a failure the 5xx show: below that the comparison is inconclusive and timing decides.
          fc.pre(pooled(OLD.name) >= 0.01 && pooled(NEW.name) <= 1.5 * pooled(OLD.name));
          expect(judge(evidence, policy).action).toBe('hold');
        },
      ),
    );
  });

  it('never blames a change older than the change window before the errors', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 61, max: 10_000 }),
        fc.integer({ min: 0, max: 30 }),
        fc.boolean(),
        (age, errorsFor, telemetry) => {
          const onset = -2 - errorsFor;
          const change = onset - age - (telemetry ? 0 : 60);
          const spec: EvidenceSpec = {
            startedAt: -1,
            revisions: [
              { name: OLD.name, createdAt: change - 5000 },
              { name: NEW.name, createdAt: change },
            ],
            traffic: { [NEW.name]: 100 },
            series: telemetry
              ? {
                  [NEW.name]: minutes([
                    { from: -240, to: onset, rpm: 500, errorRate: 0.001 },
                    { from: onset, to: 0, rpm: 500, errorRate: 0.1 },
                  ]),
                }
              : 'unavailable',
            from: -240,
            lastKnownGood: OLD.name,
          };
          expect(judge(evidenceOf(spec), policy).reason).toBe('NO_RECENT_CHANGE');
        },
      ),
    );
  });
});

describe('judgedStep', () => {
  /** The step as the store gives it back. */
  const stored = (step: ReturnType<typeof judgedStep>) => JSON.parse(JSON.stringify(step));
  const judgedAgain = (evidence: Evidence) => {
    const judgement = judge(evidence, DEFAULT_JUDGEMENT_POLICY);
    const step = stored(judgedStep(judgement, evidence));
    const revived = reviveEvidence(recordedEvidence(step));
    expect(revived).toEqual(evidence);
    expect(judge(revived, DEFAULT_JUDGEMENT_POLICY)).toEqual(judgement);
    return step;
  };

  it('records the other targets burning once, in the summary, and gives them back to a replay', () => {
    const step = judgedAgain(
      evidenceOf({
        ...badCutover,
        correlated: [
          { target: 'orders', startedAt: at(-8), changedRecently: true },
          { target: 'billing', startedAt: at(-6), changedRecently: 'unknown' },
        ],
      }),
    );
    expect(step.summary.correlated.map((incident: { target: string }) => incident.target)).toEqual([
      'orders',
      'billing',
    ]);
    expect(step.evidence).not.toHaveProperty('correlated');
  });

  it('keeps the evidence its own list of other targets when the summary does not show all of them', () => {
    const step = judgedAgain(
      evidenceOf({
        ...badCutover,
        correlated: [{ target: 'orders', startedAt: at(-200), changedRecently: false }],
      }),
    );
    expect(step.summary.correlated).toEqual([]);
    expect(step.evidence.correlated).toHaveLength(1);
  });

  it('reads back a step recorded before, with the list in both places', () => {
    const evidence = evidenceOf({
      ...badCutover,
      correlated: [{ target: 'orders', startedAt: at(-8), changedRecently: false }],
    });
    const judgement = judge(evidence, DEFAULT_JUDGEMENT_POLICY);
    const before = JSON.parse(JSON.stringify({ ...judgedStep(judgement, evidence), evidence }));
    expect(reviveEvidence(recordedEvidence(before))).toEqual(evidence);
  });
});

describe('monitoringWindow', () => {
  it('reads from a change window before the earliest the errors can have begun, up to now', () => {
    const incident = { startedAt: at(-5), lookbackMs: 3_600_000, conditionDurationMs: 60_000 };
    expect(monitoringWindow(incident, DEFAULT_JUDGEMENT_POLICY, at(0))).toEqual({
      from: at(-126),
      to: at(0),
    });
  });

  it('assumes the default lookback when the condition has none', () => {
    const incident = { startedAt: at(-5), lookbackMs: null, conditionDurationMs: 0 };
    expect(monitoringWindow(incident, DEFAULT_JUDGEMENT_POLICY, at(0)).from).toEqual(at(-125));
  });
});
