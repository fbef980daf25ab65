import type { Factor, Policy, Signal } from './types.ts';

/** The SRE workbook's fast-burn page threshold: 2% of a 30-day budget spent in one hour. */
export const FAST_BURN_MULTIPLE = 14.4;
export const MAX_CONFIDENCE = 0.95;
const SEED_BASE = 0.7;
const SEED_SLOPE = 10;
const BURN_EVIDENCE_WEIGHT = 0.1;
const SUSTAINED_WEIGHT = 0.05;
const SUSTAINED_FULL_MS = 10 * 60_000;

/**
 * The error rate an alert reports, or null when it carries no usable value.
 * A burn-rate alert reports a multiple of the budget rate: error rate = burn rate x (1 - goal).
 */
export function errorRateOf(signal: Signal, policy: Policy): number | null {
  const observed = signal.observedValue;
  if (observed === null || !Number.isFinite(observed) || observed < 0) return null;
  return policy.signal.kind === 'burn_rate' ? observed * (1 - policy.signal.sloGoal) : observed;
}

/**
 * The error rate an alert must exceed. For burn-rate signals it is never below the SLO's own budget rate:
 * a burn of 1x or less meets the SLO, so it can never justify taking a release off production.
 */
export function effectiveThreshold(policy: Policy): number {
  return policy.signal.kind === 'burn_rate'
    ? Math.max(policy.errorRateThreshold, 1 - policy.signal.sloGoal)
    : policy.errorRateThreshold;
}

function clampConfidence(value: number): number {
  return Math.min(MAX_CONFIDENCE, Math.max(0, value));
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/**
 * How sure lastgood is that the release is bad enough to roll back, in [0, 0.95].
 *
 * Error-ratio signals use the Night-47 seed formula: 0.7 + (errorRate - threshold) x 10.
 * Burn-rate signals add evidence the seed formula cannot see: the alert fired only after both of its windows
 * burned the budget (up to +0.1, full at the 14.4x fast-burn multiple), and the longer the condition held, the
 * less likely it is a blip (up to +0.05, full after 10 minutes). Every term is non-decreasing in the error rate.
 */
export function scoreConfidence(
  signal: Signal,
  policy: Policy,
  errorRate: number,
  now: Date,
): { confidence: number; factors: Factor[] } {
  const base = SEED_BASE + (errorRate - policy.errorRateThreshold) * SEED_SLOPE;
  const factors: Factor[] = [
    {
      name: 'error_rate_excess',
      value: round(errorRate - policy.errorRateThreshold),
      effect: `base confidence ${round(base)} = 0.7 + excess x 10`,
    },
  ];
  if (policy.signal.kind === 'error_ratio') {
    return { confidence: clampConfidence(base), factors };
  }
  const burnRate = errorRate / (1 - policy.signal.sloGoal);
  const burnEvidence = BURN_EVIDENCE_WEIGHT * Math.min(1, burnRate / FAST_BURN_MULTIPLE);
  const heldMs = Math.max(0, signal.conditionDurationMs + (now.getTime() - signal.startedAt.getTime()));
  const sustained = SUSTAINED_WEIGHT * Math.min(1, heldMs / SUSTAINED_FULL_MS);
  factors.push(
    {
      name: 'burn_rate',
      value: round(burnRate),
      effect: `+${round(burnEvidence)} (multiwindow burn, full weight at ${FAST_BURN_MULTIPLE}x)`,
    },
    {
      name: 'condition_held_seconds',
      value: Math.round(heldMs / 1000),
      effect: `+${round(sustained)} (full weight after ${SUSTAINED_FULL_MS / 60_000} min)`,
    },
  );
  return { confidence: clampConfidence(base + burnEvidence + sustained), factors };
}
