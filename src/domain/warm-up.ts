import { effectiveControls } from './controls.ts';
import { decide, historyWindowMs } from './decide.ts';
import { findLastKnownGood, type LastKnownGood } from './last-known-good.ts';
import { routeSignal } from './routing.ts';
import type { Decision, Policy, Signal } from './types.ts';

const MINUTE_MS = 60_000;
/** A fixed time, far from any real alert: the warm-up reads no clock. */
const NOW = new Date(Date.UTC(2000, 0, 1, 12));
const TARGET = 'warm-up';

/** The defaults the policy file gives a burn-rate target. */
const POLICY: Policy = {
  mode: 'auto',
  errorRateThreshold: 0.01,
  minConfidence: 0.8,
  maxRollbacksPerHour: 3,
  cooldownMs: 30 * MINUTE_MS,
  maxAlertAgeMs: 15 * MINUTE_MS,
  signal: { kind: 'burn_rate', sloGoal: 0.999 },
};

/**
 * A burn-rate alert on `target` as Cloud Monitoring's intake makes it, well above the threshold and started a
 * minute before `at`: the made-up alert every warm-up decides or records.
 */
export function warmUpSignal(target: string, at: Date): Signal {
  return {
    source: 'cloud-monitoring',
    incidentId: '0.lastgood-warm-up',
    state: 'open',
    isTest: false,
    policyName: 'warm-up fast burn',
    conditionName: 'Burn rate above 14.4x over 3600s',
    observedValue: 18.2,
    thresholdValue: 14.4,
    conditionDurationMs: 0,
    lookbackMs: 60 * MINUTE_MS,
    startedAt: new Date(at.getTime() - MINUTE_MS),
    endedAt: null,
    targetLabel: target,
    serviceName: target,
    summary: 'warm-up',
    url: null,
  };
}

const SIGNAL = warmUpSignal(TARGET, NOW);

/**
 * Routes and decides a made-up alert against a made-up target with a rollback in its past, and picks the last known
 * good revision of a made-up service, as an alert's decision and its rollback's plan do; stores nothing and reads
 * no clock. The first decision and the first plan of a process ran this code for the first time, compiling it on the
 * first alert's way to its ack and to UpdateService. Throws if the alert is no longer decided a rollback, or no
 * revision found, since the warm-up would then run only a refusal's code.
 */
export function warmDecision(): { decision: Decision; lastKnownGood: LastKnownGood } {
  const target = routeSignal(SIGNAL, [{ name: TARGET, serviceName: TARGET }]);
  const { enabled, policy } = effectiveControls(
    { enabled: null, mode: null },
    { enabled: () => true },
    POLICY,
  );
  const since = NOW.getTime() - historyWindowMs(policy);
  const decision = decide(
    SIGNAL,
    policy,
    {
      rollbacks: [{ decisionId: 'dec_warm-up', decidedAt: new Date(since + MINUTE_MS), state: 'succeeded' }],
      blockedBy: null,
    },
    { target, enabled },
    NOW,
  );
  if (decision.action !== 'rollback') {
    throw new Error(`the warm-up alert was decided ${decision.reason}, not a rollback`);
  }
  const revision = (name: string, ageMinutes: number) => ({
    name,
    ready: true,
    createdAt: new Date(NOW.getTime() - ageMinutes * MINUTE_MS),
  });
  const lastKnownGood = findLastKnownGood({
    revisions: [revision(`${TARGET}-00002-bad`, 6), revision(`${TARGET}-00001-good`, 4 * 1_440)],
    servingRevision: `${TARGET}-00002-bad`,
    taggedRevision: null,
    history: [
      { observedAt: new Date(NOW.getTime() - 2 * 1_440 * MINUTE_MS), fullRevision: `${TARGET}-00001-good` },
      { observedAt: new Date(NOW.getTime() - 10 * MINUTE_MS), fullRevision: `${TARGET}-00001-good` },
    ],
    incidents: [{ startedAt: SIGNAL.startedAt, endedAt: null }],
    minHealthyServingMs: 60 * MINUTE_MS,
  });
  if (lastKnownGood.revision === null) throw new Error('the warm-up found no last known good revision');
  return { decision, lastKnownGood };
}
