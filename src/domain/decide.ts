import { effectiveThreshold, errorRateOf, scoreConfidence } from './confidence.ts';
import type {
  Decision,
  Factor,
  PastRollback,
  Policy,
  Reason,
  Signal,
  TargetBlock,
  TargetHistory,
} from './types.ts';
import { isActiveRollback } from './types.ts';

const HOUR_MS = 3_600_000;

/**
 * How far ahead of lastgood's clock an alert may say it started: clocks of two well-run hosts differ by far less.
 * Further ahead, the alert is treated as stale (never acted on): its age is unknowable, and an alert dated in the
 * future would otherwise never grow old enough to be refused.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** The target an alert is about, and whether lastgood may act at all (the global kill switch). */
export interface Deployment {
  target: string | null;
  enabled: boolean;
}

/** How far back the store must look for the rate limit and cooldown to be exact. */
export function historyWindowMs(policy: Policy): number {
  return Math.max(HOUR_MS, policy.cooldownMs);
}

/**
 * A rollback that touched (or is touching) production: these count against the hourly rate limit. Every
 * rollback tried starts the cooldown: one that found nothing to go back to, or was skipped, would otherwise be
 * decided again for every alert of the flood that follows, each one a job and a page. A hold is not a rollback
 * tried: the evidence said the newest change was not the cause, so the next alert is judged again, afresh.
 */
function changedProduction(rollback: PastRollback): boolean {
  return rollback.state !== 'no_lkg' && rollback.state !== 'skipped';
}

function refuse(
  reason: Reason,
  target: string | null,
  factors: Factor[],
  extra: Partial<Pick<Decision, 'confidence' | 'nextEligibleAt' | 'wouldRollback'>> = {},
): Decision {
  return {
    action: 'none',
    reason,
    confidence: extra.confidence ?? 0,
    factors,
    target,
    nextEligibleAt: extra.nextEligibleAt ?? null,
    wouldRollback: extra.wouldRollback ?? false,
  };
}

/**
 * The numbers decide reads, by the factor name that reports them. Comparisons with NaN are all false, so a NaN
 * that reached a check would pass it: an invalid date once rolled back with confidence NaN.
 */
function numericInputs(
  signal: Signal,
  policy: Policy,
  history: TargetHistory,
  now: Date,
): [string, number | null][] {
  return [
    ['observed_value', signal.observedValue],
    ['threshold_value', signal.thresholdValue],
    ['condition_duration_ms', signal.conditionDurationMs],
    ['started_at', signal.startedAt.getTime()],
    ['now', now.getTime()],
    ['policy.errorRateThreshold', policy.errorRateThreshold],
    ['policy.minConfidence', policy.minConfidence],
    ['policy.maxRollbacksPerHour', policy.maxRollbacksPerHour],
    ['policy.cooldownMs', policy.cooldownMs],
    ['policy.maxAlertAgeMs', policy.maxAlertAgeMs],
    ['policy.sloGoal', policy.signal.kind === 'burn_rate' ? policy.signal.sloGoal : null],
    ...limitWindow(history.rollbacks, now.getTime()).map((rollback): [string, number] => [
      `rollback_decided_at.${rollback.decisionId}`,
      rollback.decidedAt.getTime(),
    ]),
  ];
}

/**
 * The past rollbacks whose times the limits read (`rollbacks` is newest first): those of the last hour and the first
 * older one that was not held, which may still hold the cooldown. The history can be long (a stuck rollback is looked for in all of
 * it), and naming each of its times cost a 10,000-rollback decide 400 µs where the rest took 15.
 */
function limitWindow(rollbacks: PastRollback[], nowMs: number): PastRollback[] {
  const read: PastRollback[] = [];
  for (const rollback of rollbacks) {
    read.push(rollback);
    // A hold starts no cooldown, so the one that may is further back.
    if (rollback.state !== 'held' && nowMs - rollback.decidedAt.getTime() >= HOUR_MS) break;
  }
  return read;
}

/** A factor for each input that is present but not a finite number; the value is null, as JSON has no NaN. */
function nonFiniteFactors(signal: Signal, policy: Policy, history: TargetHistory, now: Date): Factor[] {
  return numericInputs(signal, policy, history, now)
    .filter(([, value]) => value !== null && !Number.isFinite(value))
    .map(([name]) => ({ name, value: null, effect: 'not a finite number; lastgood never acts on it' }));
}

/** Kill switch and per-target `off` mode: the checks that even a person's request must pass. */
function disabledFactor(policy: Policy, deployment: Deployment): Factor | null {
  if (!deployment.enabled)
    return {
      name: 'kill_switch',
      value: 'off',
      effect: 'lastgood is disabled (LASTGOOD_ENABLED or PUT /v1/kill-switch)',
    };
  if (policy.mode === 'off') return { name: 'mode', value: 'off', effect: 'target mode is off' };
  return null;
}

/** The factor that explains a blocked target: which rollback blocked it, and how a person clears it. */
function needsPersonFactor(target: string, block: TargetBlock): Factor {
  const why =
    block.why === 'rollback_failed'
      ? 'the last rollback failed'
      : 'the service did not heal after the last rollback';
  return {
    name: 'needs_person',
    value: block.decisionId,
    effect: `${why}; a second step back needs a person: POST /v1/targets/${target}/resume once it is dealt with`,
  };
}

/** One rollback at a time per target: the factor naming the one under way, if any. */
function inProgressFactor(history: TargetHistory): Factor | null {
  const active = history.rollbacks.find((rollback) => isActiveRollback(rollback.state));
  return active
    ? { name: 'rollback_in_progress', value: active.decisionId, effect: 'one rollback at a time' }
    : null;
}

/**
 * Limits that protect production from lastgood itself: at most `maxRollbacksPerHour` changes in any 60-minute
 * window, and no rollback within `cooldown` of the last one tried. `rollbacks` is newest first.
 */
function checkLimits(
  policy: Policy,
  rollbacks: PastRollback[],
  now: Date,
  target: string,
  factors: Factor[],
): Decision | null {
  const nowMs = now.getTime();
  let inLastHour = 0;
  let oldestInHour: PastRollback | null = null;
  let newest: PastRollback | null = null;
  for (const rollback of limitWindow(rollbacks, nowMs)) {
    if (rollback.state === 'held') continue;
    newest ??= rollback;
    if (nowMs - rollback.decidedAt.getTime() >= HOUR_MS) break;
    if (!changedProduction(rollback)) continue;
    inLastHour += 1;
    oldestInHour = rollback;
  }
  factors.push({
    name: 'rollbacks_last_hour',
    value: inLastHour,
    effect: `limit ${policy.maxRollbacksPerHour} per hour`,
  });
  if (inLastHour >= policy.maxRollbacksPerHour && oldestInHour !== null) {
    return refuse('RATE_LIMITED', target, factors, {
      nextEligibleAt: new Date(oldestInHour.decidedAt.getTime() + HOUR_MS),
    });
  }
  if (newest !== null) {
    const sinceLast = nowMs - newest.decidedAt.getTime();
    factors.push({
      name: 'since_last_rollback_seconds',
      value: Math.round(sinceLast / 1000),
      effect: `cooldown ${Math.round(policy.cooldownMs / 1000)} s`,
    });
    if (sinceLast < policy.cooldownMs) {
      return refuse('COOLDOWN', target, factors, {
        nextEligibleAt: new Date(newest.decidedAt.getTime() + policy.cooldownMs),
      });
    }
  }
  return null;
}

/**
 * Decides whether an alert should take the target's current release off production, and why.
 * Pure: everything it needs is passed in, including the time. The checks run in the documented order and the
 * first that refuses wins; `factors` records every input that was looked at.
 */
export function decide(
  signal: Signal,
  policy: Policy | null,
  history: TargetHistory,
  deployment: Deployment,
  now: Date,
): Decision {
  const target = deployment.target;
  if (signal.isTest) {
    return refuse('TEST_NOTIFICATION', target, [
      { name: 'test_notification', value: true, effect: 'test notifications are stored, never acted on' },
    ]);
  }
  if (target === null || policy === null) {
    return refuse('UNKNOWN_TARGET', null, [
      { name: 'target_label', value: signal.targetLabel, effect: 'no configured target matches' },
      { name: 'service_name', value: signal.serviceName, effect: 'no configured target matches' },
    ]);
  }
  const invalid = nonFiniteFactors(signal, policy, history, now);
  if (invalid.length > 0) return refuse('INVALID_INPUT', target, invalid);
  const factors: Factor[] = [{ name: 'mode', value: policy.mode, effect: 'target mode' }];
  const disabled = disabledFactor(policy, deployment);
  if (disabled) return refuse('DISABLED', target, [disabled]);
  if (signal.state === 'closed') {
    factors.push({ name: 'incident_state', value: 'closed', effect: 'the incident recovered' });
    return refuse('INCIDENT_CLOSED', target, factors);
  }
  if (history.blockedBy) {
    factors.push(needsPersonFactor(target, history.blockedBy));
    return refuse('NEEDS_PERSON', target, factors);
  }
  const ageMs = now.getTime() - signal.startedAt.getTime();
  factors.push({
    name: 'alert_age_seconds',
    value: Math.round(ageMs / 1000),
    effect: `max ${Math.round(policy.maxAlertAgeMs / 1000)} s`,
  });
  if (ageMs > policy.maxAlertAgeMs) return refuse('STALE_ALERT', target, factors);
  if (ageMs < -MAX_CLOCK_SKEW_MS) {
    factors.push({
      name: 'starts_in_future_seconds',
      value: Math.round(-ageMs / 1000),
      effect: `more than the ${MAX_CLOCK_SKEW_MS / 1000} s clock skew allowed: treated as stale`,
    });
    return refuse('STALE_ALERT', target, factors);
  }

  const errorRate = errorRateOf(signal, policy);
  if (errorRate === null) {
    factors.push({ name: 'observed_value', value: signal.observedValue, effect: 'no usable value' });
    return refuse('MISSING_VALUE', target, factors);
  }
  const threshold = effectiveThreshold(policy);
  factors.push({
    name: 'error_rate',
    value: Math.round(errorRate * 1e6) / 1e6,
    effect: `threshold ${threshold}${policy.signal.kind === 'burn_rate' ? ` (burn rate x (1 - ${policy.signal.sloGoal}))` : ''}`,
  });
  if (errorRate <= threshold) return refuse('BELOW_THRESHOLD', target, factors);

  const limited = checkLimits(policy, history.rollbacks, now, target, factors);
  if (limited) return limited;

  const scored = scoreConfidence(signal, policy, errorRate, now);
  factors.push(...scored.factors, {
    name: 'confidence',
    value: Math.round(scored.confidence * 10_000) / 10_000,
    effect: `minimum ${policy.minConfidence}`,
  });
  const confidence = scored.confidence;
  if (confidence < policy.minConfidence) return refuse('LOW_CONFIDENCE', target, factors, { confidence });

  const inProgress = inProgressFactor(history);
  if (inProgress) return refuse('IN_PROGRESS', target, [...factors, inProgress], { confidence });
  if (policy.mode === 'dry-run')
    return refuse('DRY_RUN', target, factors, { confidence, wouldRollback: true });
  if (policy.mode === 'notify')
    return refuse('NOTIFY_ONLY', target, factors, { confidence, wouldRollback: true });
  return {
    action: 'rollback',
    reason: 'ROLLBACK',
    confidence,
    factors,
    target,
    nextEligibleAt: null,
    wouldRollback: true,
  };
}

/**
 * Decides an operator's manual rollback. A person has judged the release bad, so confidence, thresholds, the
 * rate limit, cooldown and a block awaiting a person do not apply; the kill switch, `off` mode and a rollback
 * already under way still do.
 */
export function decideManual(
  requestedBy: string,
  policy: Policy,
  history: TargetHistory,
  deployment: Deployment & { target: string },
): Decision {
  const factors: Factor[] = [{ name: 'requested_by', value: requestedBy, effect: 'manual request' }];
  const disabled = disabledFactor(policy, deployment);
  if (disabled) return refuse('DISABLED', deployment.target, [...factors, disabled]);
  const inProgress = inProgressFactor(history);
  if (inProgress) return refuse('IN_PROGRESS', deployment.target, [...factors, inProgress]);
  return {
    action: 'rollback',
    reason: 'MANUAL',
    confidence: 1,
    factors,
    target: deployment.target,
    nextEligibleAt: null,
    wouldRollback: true,
  };
}
