import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TARGET_STATES, type TargetStateInput, targetState } from '../../src/domain/target-state.ts';
import { ROLLBACK_STATES } from '../../src/domain/types.ts';

const CALM: TargetStateInput = {
  enabled: true,
  mode: 'auto',
  lastRollback: null,
  blocked: false,
  frozen: false,
};

describe('targetState', () => {
  it.each<[string, Partial<TargetStateInput>, string]>([
    ['nothing happening', {}, 'healthy'],
    ['a rollback that finished', { lastRollback: 'succeeded' }, 'healthy'],
    ['a rollback queued', { lastRollback: 'queued' }, 'rolling_back'],
    [
      'a rollback running, even with lastgood switched off since',
      { lastRollback: 'running', enabled: false },
      'rolling_back',
    ],
    ['the kill switch off', { enabled: false, blocked: true, frozen: true }, 'off'],
    ['mode off', { mode: 'off', blocked: true }, 'off'],
    ['dry-run is still watched', { mode: 'dry-run' }, 'healthy'],
    [
      'a failed rollback waiting for a person',
      { lastRollback: 'failed', blocked: true, frozen: true },
      'needs_person',
    ],
    ['a frozen pipeline', { lastRollback: 'succeeded', frozen: true }, 'frozen'],
  ])('says %s', (_name, change, expected) => {
    expect(targetState({ ...CALM, ...change })).toBe(expected);
  });

  it('always answers one of the states the page has words for', () => {
    fc.assert(
      fc.property(
        fc.record({
          enabled: fc.boolean(),
          mode: fc.constantFrom('auto', 'dry-run', 'notify', 'off' as const),
          lastRollback: fc.constantFrom(null, ...ROLLBACK_STATES),
          blocked: fc.boolean(),
          frozen: fc.boolean(),
        }),
        (input) => {
          expect(TARGET_STATES).toContain(targetState(input));
        },
      ),
    );
  });
});
