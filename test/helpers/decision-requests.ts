import type { TargetHistory } from '../../src/domain/types.ts';
import type { DecisionDraft, DecisionRequest } from '../../src/store/store.ts';

export const T0 = new Date('2026-11-23T12:00:00Z');

/** A decision to write, `COOLDOWN` unless `overrides` say otherwise. */
export function draft(overrides: Partial<DecisionDraft>): DecisionDraft {
  return {
    action: 'none',
    reason: 'COOLDOWN',
    confidence: 0.9,
    factors: [],
    target: 'checkout',
    nextEligibleAt: null,
    wouldRollback: false,
    mode: 'auto',
    requestedBy: null,
    requestedRevision: null,
    ...overrides,
  };
}

/** Decides as lastgood would for a flood on one target: the first alert rolls back, the rest cool down. */
export const rollbackWhenNoHistory = (history: TargetHistory) =>
  history.rollbacks.length === 0
    ? draft({ action: 'rollback', reason: 'ROLLBACK', wouldRollback: true })
    : draft({ reason: 'COOLDOWN' });

/** The open alert of incident `incidentId` for `targetName`, decided by `rollbackWhenNoHistory`. */
export function alertFor(incidentId: string, targetName = 'checkout'): DecisionRequest {
  return {
    alert: {
      source: 'cloud-monitoring',
      dedupeKey: `${incidentId}:open`,
      receivedAt: T0,
      targetName,
      rawBody: '{}',
      signal: {
        source: 'cloud-monitoring',
        incidentId,
        state: 'open',
        isTest: false,
        policyName: 'p',
        conditionName: 'c',
        observedValue: 18.2,
        thresholdValue: 14.4,
        conditionDurationMs: 0,
        startedAt: T0,
        endedAt: null,
        targetLabel: targetName,
        serviceName: targetName,
        summary: 's',
        url: null,
      },
    },
    targetName,
    historySince: new Date(T0.getTime() - 3_600_000),
    now: T0,
    decide: rollbackWhenNoHistory,
  };
}
