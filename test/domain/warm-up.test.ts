import { describe, expect, it } from 'vitest';
import { warmDecision } from '../../src/domain/warm-up.ts';

describe('warming the decision', () => {
  it('decides its made-up alert to roll back past a rollback an hour old, and finds a revision to go back to', () => {
    const { decision, lastKnownGood } = warmDecision();

    // Every check ran: the rate limit and cooldown read the past rollback, and the confidence was scored.
    expect(decision).toMatchObject({ action: 'rollback', reason: 'ROLLBACK', target: 'warm-up' });
    expect(decision.factors.map((factor) => factor.name)).toEqual(
      expect.arrayContaining(['rollbacks_last_hour', 'since_last_rollback_seconds', 'confidence']),
    );
    expect(lastKnownGood).toMatchObject({ revision: 'warm-up-00001-good', rule: 'traffic_history' });
  });
});
