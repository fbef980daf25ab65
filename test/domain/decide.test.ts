import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, decideManual } from '../../src/domain/decide.ts';
import type {
  PastRollback,
  Policy,
  Reason,
  RollbackState,
  Signal,
  TargetHistory,
} from '../../src/domain/types.ts';

const NOW = new Date('2026-11-23T12:00:00Z');
const MINUTE = 60_000;

const errorRatioPolicy: Policy = {
  mode: 'auto',
  errorRateThreshold: 0.01,
  minConfidence: 0.8,
  maxRollbacksPerHour: 3,
  cooldownMs: 30 * MINUTE,
  maxAlertAgeMs: 15 * MINUTE,
  signal: { kind: 'error_ratio' },
};

const burnPolicy: Policy = { ...errorRatioPolicy, signal: { kind: 'burn_rate', sloGoal: 0.999 } };

function signal(overrides: Partial<Signal> = {}): Signal {
  return {
    source: 'cloud-monitoring',
    incidentId: 'inc-1',
    state: 'open',
    isTest: false,
    policyName: 'checkout errors',
    conditionName: 'error ratio',
    observedValue: 0.05,
    thresholdValue: 0.01,
    conditionDurationMs: 0,
    startedAt: new Date(NOW.getTime() - MINUTE),
    endedAt: null,
    targetLabel: 'checkout',
    serviceName: 'checkout',
    summary: '',
    url: null,
    ...overrides,
  };
}

function rollbackAt(
  minutesAgo: number,
  state: RollbackState = 'succeeded',
  id = `dec-${minutesAgo}`,
): PastRollback {
  return { decisionId: id, decidedAt: new Date(NOW.getTime() - minutesAgo * MINUTE), state };
}

const none: TargetHistory = { rollbacks: [] };
const blocked = (why: 'rollback_failed' | 'not_healed'): TargetHistory => ({
  rollbacks: [rollbackAt(20, why === 'rollback_failed' ? 'failed' : 'succeeded', 'dec-bad')],
  blockedBy: { decisionId: 'dec-bad', why },
});
const on = { target: 'checkout', enabled: true };

interface Case {
  name: string;
  signal?: Partial<Signal>;
  policy?: Policy | null;
  history?: TargetHistory;
  deployment?: { target: string | null; enabled: boolean };
  reason: Reason;
  action?: 'rollback' | 'none';
}

const cases: Case[] = [
  { name: 'rolls back a 5% error ratio', reason: 'ROLLBACK', action: 'rollback' },
  { name: 'never acts on a test notification', signal: { isTest: true }, reason: 'TEST_NOTIFICATION' },
  {
    name: 'refuses an alert for no configured target',
    policy: null,
    deployment: { target: null, enabled: true },
    reason: 'UNKNOWN_TARGET',
  },
  {
    name: 'refuses when the kill switch is off',
    deployment: { target: 'checkout', enabled: false },
    reason: 'DISABLED',
  },
  {
    name: 'refuses when the target mode is off',
    policy: { ...errorRatioPolicy, mode: 'off' },
    reason: 'DISABLED',
  },
  { name: 'records a closed incident as recovery', signal: { state: 'closed' }, reason: 'INCIDENT_CLOSED' },
  {
    name: 'needs a person after a rollback that failed',
    history: blocked('rollback_failed'),
    reason: 'NEEDS_PERSON',
  },
  {
    name: 'needs a person after a rollback that did not heal',
    history: blocked('not_healed'),
    reason: 'NEEDS_PERSON',
  },
  {
    name: 'still records a closed incident on a target that needs a person',
    signal: { state: 'closed' },
    history: blocked('not_healed'),
    reason: 'INCIDENT_CLOSED',
  },
  {
    name: 'says a person is needed before looking at the alert age',
    signal: { startedAt: new Date(NOW.getTime() - 16 * MINUTE) },
    history: blocked('rollback_failed'),
    reason: 'NEEDS_PERSON',
  },
  {
    name: 'obeys the kill switch before a block',
    deployment: { target: 'checkout', enabled: false },
    history: blocked('rollback_failed'),
    reason: 'DISABLED',
  },
  {
    name: 'rolls back again once the block is cleared',
    history: { rollbacks: [rollbackAt(40, 'failed')], blockedBy: null },
    reason: 'ROLLBACK',
    action: 'rollback',
  },
  {
    name: 'refuses an alert older than maxAlertAge',
    signal: { startedAt: new Date(NOW.getTime() - 16 * MINUTE) },
    reason: 'STALE_ALERT',
  },
  { name: 'refuses an alert without a value', signal: { observedValue: null }, reason: 'MISSING_VALUE' },
  {
    name: 'refuses an error rate at the threshold',
    signal: { observedValue: 0.01 },
    reason: 'BELOW_THRESHOLD',
  },
  {
    name: 'refuses a fourth rollback within an hour',
    history: { rollbacks: [rollbackAt(40), rollbackAt(50), rollbackAt(59)] },
    reason: 'RATE_LIMITED',
  },
  {
    name: 'refuses within the cooldown of the last rollback',
    history: { rollbacks: [rollbackAt(10)] },
    reason: 'COOLDOWN',
  },
  {
    name: 'refuses a barely-over-threshold error ratio for low confidence',
    signal: { observedValue: 0.015 },
    reason: 'LOW_CONFIDENCE',
  },
  {
    name: 'refuses while another rollback is still running',
    history: { rollbacks: [rollbackAt(45, 'running')] },
    reason: 'IN_PROGRESS',
  },
  {
    name: 'records "would roll back" in dry-run mode',
    policy: { ...errorRatioPolicy, mode: 'dry-run' },
    reason: 'DRY_RUN',
  },
  {
    name: 'only notifies in notify mode',
    policy: { ...errorRatioPolicy, mode: 'notify' },
    reason: 'NOTIFY_ONLY',
  },
  {
    name: 'rolls back after the cooldown has passed',
    history: { rollbacks: [rollbackAt(31)] },
    reason: 'ROLLBACK',
    action: 'rollback',
  },
  {
    name: 'cools down after a rollback that found no last known good revision',
    history: { rollbacks: [rollbackAt(5, 'no_lkg')] },
    reason: 'COOLDOWN',
  },
  {
    name: 'cools down after a rollback that was skipped',
    history: { rollbacks: [rollbackAt(5, 'skipped')] },
    reason: 'COOLDOWN',
  },
  {
    name: 'judges again at once after a hold: a hold starts no cooldown',
    history: { rollbacks: [rollbackAt(1, 'held')] },
    reason: 'ROLLBACK',
    action: 'rollback',
  },
  {
    name: 'still cools down after the rollback before a hold',
    history: { rollbacks: [rollbackAt(1, 'held'), rollbackAt(5)] },
    reason: 'COOLDOWN',
  },
  {
    name: 'still cools down after a rollback hours before a hold that is over an hour old',
    policy: { ...errorRatioPolicy, cooldownMs: 6 * 60 * MINUTE },
    history: { rollbacks: [rollbackAt(120, 'held'), rollbackAt(180)] },
    reason: 'COOLDOWN',
  },
  {
    name: 'does not count holds toward the hourly limit',
    policy: { ...errorRatioPolicy, cooldownMs: 60_000, maxRollbacksPerHour: 1 },
    history: { rollbacks: [rollbackAt(1, 'held'), rollbackAt(2, 'held')] },
    reason: 'ROLLBACK',
    action: 'rollback',
  },
  {
    name: 'does not count rollbacks that changed nothing toward the hourly limit',
    policy: { ...errorRatioPolicy, cooldownMs: 60_000 },
    history: {
      rollbacks: [rollbackAt(10, 'no_lkg'), rollbackAt(20, 'skipped'), rollbackAt(30), rollbackAt(40)],
    },
    reason: 'ROLLBACK',
    action: 'rollback',
  },
];

describe('decide', () => {
  it.each(cases)('$name', (testCase) => {
    const decision = decide(
      signal(testCase.signal),
      testCase.policy === undefined ? errorRatioPolicy : testCase.policy,
      testCase.history ?? none,
      testCase.deployment ?? on,
      NOW,
    );
    expect(decision.reason).toBe(testCase.reason);
    expect(decision.action).toBe(testCase.action ?? 'none');
    expect(decision.factors.length).toBeGreaterThan(0);
  });

  it('names the blocking rollback and how to clear the block', () => {
    const decision = decide(signal(), errorRatioPolicy, blocked('not_healed'), on, NOW);
    expect(decision.factors.at(-1)).toEqual({
      name: 'needs_person',
      value: 'dec-bad',
      effect: expect.stringContaining('POST /v1/targets/checkout/resume'),
    });
    expect(decision.factors.at(-1)?.effect).toContain('did not heal');
  });

  it('says when a cooled-down target becomes eligible again', () => {
    const decision = decide(signal(), errorRatioPolicy, { rollbacks: [rollbackAt(10)] }, on, NOW);
    expect(decision.nextEligibleAt).toEqual(new Date(NOW.getTime() + 20 * MINUTE));
  });

  it('says when a rate-limited target becomes eligible again', () => {
    const policy = { ...errorRatioPolicy, cooldownMs: 0 };
    const history = { rollbacks: [rollbackAt(10), rollbackAt(20), rollbackAt(50)] };
    const decision = decide(signal(), policy, history, on, NOW);
    expect(decision.reason).toBe('RATE_LIMITED');
    expect(decision.nextEligibleAt).toEqual(new Date(NOW.getTime() + 10 * MINUTE));
  });

  it('marks dry-run decisions as would-roll-back with their confidence', () => {
    const decision = decide(signal(), { ...errorRatioPolicy, mode: 'dry-run' }, none, on, NOW);
    expect(decision.wouldRollback).toBe(true);
    expect(decision.confidence).toBeCloseTo(0.95);
  });
});

describe('decide on burn-rate alerts', () => {
  it('rolls back the standard 14.4x fast burn on a 99.9% SLO', () => {
    const decision = decide(signal({ observedValue: 14.4, thresholdValue: 14.4 }), burnPolicy, none, on, NOW);
    expect(decision.reason).toBe('ROLLBACK');
    expect(decision.confidence).toBeGreaterThanOrEqual(0.8);
    expect(decision.factors.find((f) => f.name === 'error_rate')?.value).toBeCloseTo(0.0144);
  });

  it('refuses a 1x slow burn on a 99.9% SLO', () => {
    const decision = decide(signal({ observedValue: 1, thresholdValue: 1 }), burnPolicy, none, on, NOW);
    expect(decision.action).toBe('none');
    expect(decision.reason).toBe('BELOW_THRESHOLD');
  });

  it('refuses a 1x burn even where the SLO budget is above the error threshold', () => {
    const loose: Policy = { ...burnPolicy, signal: { kind: 'burn_rate', sloGoal: 0.95 } };
    const decision = decide(signal({ observedValue: 1 }), loose, none, on, NOW);
    expect(decision.reason).toBe('BELOW_THRESHOLD');
  });

  it('refuses a 6x slow-burn page on a 99.9% SLO (0.6% errors)', () => {
    const decision = decide(signal({ observedValue: 6 }), burnPolicy, none, on, NOW);
    expect(decision.reason).toBe('BELOW_THRESHOLD');
  });
});

describe('the worked examples of docs/decisions.md', () => {
  it.each([
    [14.4, 0, 0.844, 'ROLLBACK'],
    [18.2, 5, 0.907, 'ROLLBACK'],
    [6, 0, 0, 'BELOW_THRESHOLD'],
    [1, 0, 0, 'BELOW_THRESHOLD'],
    [12, 0, 0.803, 'ROLLBACK'],
    [11, 0, 0.786, 'LOW_CONFIDENCE'],
  ])('a %sx burn held %s min scores %s: %s', (burn, heldMinutes, confidence, reason) => {
    const decision = decide(
      signal({ observedValue: burn, startedAt: new Date(NOW.getTime() - heldMinutes * MINUTE) }),
      burnPolicy,
      none,
      on,
      NOW,
    );
    expect(decision.reason).toBe(reason);
    expect(decision.confidence).toBeCloseTo(confidence, 3);
  });
});

describe('decideManual', () => {
  it('rolls back without looking at confidence or cooldown', () => {
    const decision = decideManual('alice', errorRatioPolicy, { rollbacks: [rollbackAt(1)] }, on);
    expect(decision).toMatchObject({ action: 'rollback', reason: 'MANUAL' });
  });
  it('still obeys the kill switch', () => {
    expect(decideManual('alice', errorRatioPolicy, none, { target: 'checkout', enabled: false }).reason).toBe(
      'DISABLED',
    );
  });
  it('is not blocked by a rollback that needs a person: a person is asking', () => {
    expect(decideManual('alice', errorRatioPolicy, blocked('not_healed'), on)).toMatchObject({
      action: 'rollback',
      reason: 'MANUAL',
    });
  });
  it('refuses while a rollback is in progress', () => {
    expect(decideManual('alice', errorRatioPolicy, { rollbacks: [rollbackAt(1, 'queued')] }, on).reason).toBe(
      'IN_PROGRESS',
    );
  });
});

describe('decide properties', () => {
  const policyArb = fc.record({
    maxRollbacksPerHour: fc.integer({ min: 1, max: 6 }),
    cooldownMinutes: fc.integer({ min: 0, max: 90 }),
    burn: fc.boolean(),
  });
  const alertsArb = fc.array(
    fc.record({
      gapSeconds: fc.integer({ min: 0, max: 30 * 60 }),
      errorRate: fc.double({ min: 0, max: 0.5, noNaN: true }),
    }),
    { minLength: 1, maxLength: 120 },
  );

  /** Feeds alerts through decide the way the store does, recording each rollback in the history. */
  function simulate(
    p: { maxRollbacksPerHour: number; cooldownMinutes: number; burn: boolean },
    alerts: { gapSeconds: number; errorRate: number }[],
  ) {
    const policy: Policy = {
      ...errorRatioPolicy,
      maxRollbacksPerHour: p.maxRollbacksPerHour,
      cooldownMs: p.cooldownMinutes * MINUTE,
      signal: p.burn ? { kind: 'burn_rate', sloGoal: 0.999 } : { kind: 'error_ratio' },
    };
    let now = NOW.getTime();
    const rollbacks: PastRollback[] = [];
    for (const [index, alert] of alerts.entries()) {
      now += alert.gapSeconds * 1000;
      const observed = p.burn ? alert.errorRate / 0.001 : alert.errorRate;
      const decision = decide(
        signal({ incidentId: `i${index}`, observedValue: observed, startedAt: new Date(now) }),
        policy,
        { rollbacks },
        on,
        new Date(now),
      );
      // Rollbacks finish quickly in this model so IN_PROGRESS does not hide the limits under test.
      if (decision.action === 'rollback') {
        rollbacks.unshift({ decisionId: `d${index}`, decidedAt: new Date(now), state: 'succeeded' });
      }
    }
    return { policy, times: rollbacks.map((r) => r.decidedAt.getTime()).reverse() };
  }

  it('never yields more than maxRollbacksPerHour rollbacks in any 60-minute window', () => {
    fc.assert(
      fc.property(policyArb, alertsArb, (p, alerts) => {
        const { times } = simulate(p, alerts);
        for (let i = 0; i < times.length; i++) {
          const inWindow = times.filter((t) => t >= times[i]! && t < times[i]! + 60 * MINUTE).length;
          expect(inWindow).toBeLessThanOrEqual(p.maxRollbacksPerHour);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never rolls back twice within the cooldown', () => {
    fc.assert(
      fc.property(policyArb, alertsArb, (p, alerts) => {
        const { policy, times } = simulate(p, alerts);
        for (let i = 1; i < times.length; i++) {
          expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(policy.cooldownMs);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never rolls a target back automatically while it needs a person', () => {
    fc.assert(
      fc.property(
        policyArb,
        alertsArb,
        fc.constantFrom('rollback_failed' as const, 'not_healed' as const),
        (p, alerts, why) => {
          const policy: Policy = { ...errorRatioPolicy, maxRollbacksPerHour: p.maxRollbacksPerHour };
          for (const [index, alert] of alerts.entries()) {
            const decision = decide(
              signal({ incidentId: `i${index}`, observedValue: alert.errorRate }),
              policy,
              { rollbacks: [], blockedBy: { decisionId: 'dec-bad', why } },
              on,
              NOW,
            );
            expect(decision.action).toBe('none');
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps confidence within [0, 0.95] and non-decreasing in the error rate', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.boolean(),
        fc.integer({ min: 0, max: 14 * 60 }),
        (a, b, burn, ageSeconds) => {
          const policy: Policy = {
            ...errorRatioPolicy,
            minConfidence: 0,
            signal: burn ? { kind: 'burn_rate', sloGoal: 0.999 } : { kind: 'error_ratio' },
          };
          const [low, high] = a <= b ? [a, b] : [b, a];
          const startedAt = new Date(NOW.getTime() - ageSeconds * 1000);
          const scale = burn ? 1000 : 1;
          const lowDecision = decide(
            signal({ observedValue: low * scale, startedAt }),
            policy,
            none,
            on,
            NOW,
          );
          const highDecision = decide(
            signal({ observedValue: high * scale, startedAt }),
            policy,
            none,
            on,
            NOW,
          );
          for (const decision of [lowDecision, highDecision]) {
            expect(decision.confidence).toBeGreaterThanOrEqual(0);
            expect(decision.confidence).toBeLessThanOrEqual(0.95);
          }
          expect(highDecision.confidence).toBeGreaterThanOrEqual(lowDecision.confidence);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('decide is total over non-finite input', () => {
  /** Every numeric input decide reads, each as a way to put one bad number into an otherwise rolling-back case. */
  type Inputs = { signal: Signal; policy: Policy; history: TargetHistory; now: Date };
  const SETTERS: Record<string, (inputs: Inputs, bad: number) => void> = {
    observedValue: (i, bad) => {
      i.signal.observedValue = bad;
    },
    thresholdValue: (i, bad) => {
      i.signal.thresholdValue = bad;
    },
    conditionDurationMs: (i, bad) => {
      i.signal.conditionDurationMs = bad;
    },
    startedAt: (i, bad) => {
      i.signal.startedAt = new Date(bad);
    },
    now: (i, bad) => {
      i.now = new Date(bad);
    },
    errorRateThreshold: (i, bad) => {
      i.policy.errorRateThreshold = bad;
    },
    minConfidence: (i, bad) => {
      i.policy.minConfidence = bad;
    },
    maxRollbacksPerHour: (i, bad) => {
      i.policy.maxRollbacksPerHour = bad;
    },
    cooldownMs: (i, bad) => {
      i.policy.cooldownMs = bad;
    },
    maxAlertAgeMs: (i, bad) => {
      i.policy.maxAlertAgeMs = bad;
    },
    sloGoal: (i, bad) => {
      i.policy.signal = { kind: 'burn_rate', sloGoal: bad };
    },
    pastRollbackDecidedAt: (i, bad) => {
      i.history = { rollbacks: [{ decisionId: 'dec-old', decidedAt: new Date(bad), state: 'succeeded' }] };
    },
  };

  /** A case that rolls back as it stands: 5% errors (or an 18x burn), a minute old, an old rollback in history. */
  function rollingBack(burn: boolean): Inputs {
    return {
      signal: signal({ observedValue: burn ? 18 : 0.05 }),
      policy: { ...(burn ? burnPolicy : errorRatioPolicy) },
      history: { rollbacks: [rollbackAt(120)] },
      now: NOW,
    };
  }

  it.each([false, true])('rolls back the unspoilt case (burn rate: %s)', (burn) => {
    const inputs = rollingBack(burn);
    expect(decide(inputs.signal, inputs.policy, inputs.history, on, inputs.now).action).toBe('rollback');
  });

  it('never rolls back when any numeric input is NaN or infinite, and never scores NaN', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(SETTERS)),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
        fc.boolean(),
        (field, bad, burn) => {
          const inputs = rollingBack(burn);
          SETTERS[field]!(inputs, bad);
          const decision = decide(inputs.signal, inputs.policy, inputs.history, on, inputs.now);
          expect(decision.action, `${field} = ${bad}`).toBe('none');
          expect(Number.isFinite(decision.confidence), `${field} = ${bad}`).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('names the bad input as a factor', () => {
    const inputs = rollingBack(false);
    inputs.signal.startedAt = new Date(8_640_000_000_001 * 1000);
    const decision = decide(inputs.signal, inputs.policy, inputs.history, on, inputs.now);
    expect(decision.reason).toBe('INVALID_INPUT');
    expect(decision.factors).toContainEqual(expect.objectContaining({ name: 'started_at', value: null }));
  });
});

describe('an alert that starts in the future', () => {
  it('is stale beyond the allowed clock skew, so a date a year ahead never "would roll back"', () => {
    const yearAhead = new Date(NOW.getTime() + 365 * 24 * 60 * MINUTE);
    const decision = decide(signal({ startedAt: yearAhead }), errorRatioPolicy, none, on, NOW);
    expect(decision).toMatchObject({ action: 'none', reason: 'STALE_ALERT', wouldRollback: false });
    expect(decision.factors).toContainEqual(expect.objectContaining({ name: 'alert_age_seconds' }));
  });

  it('is decided as usual within the allowed clock skew', () => {
    const slightlyAhead = new Date(NOW.getTime() + 2 * MINUTE);
    expect(decide(signal({ startedAt: slightlyAhead }), errorRatioPolicy, none, on, NOW).reason).toBe(
      'ROLLBACK',
    );
  });
});
