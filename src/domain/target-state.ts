import { isActiveRollback, type Mode, type RollbackState } from './types.ts';

/** A target's state as the status page names it, one word or phrase a person reads at a glance. */
export const TARGET_STATES = ['rolling_back', 'off', 'needs_person', 'frozen', 'healthy'] as const;
export type TargetState = (typeof TARGET_STATES)[number];

/** What the state is worked out from. */
export interface TargetStateInput {
  /** The kill switch: false turns every target off. */
  enabled: boolean;
  mode: Mode;
  /** The state of the target's newest rollback, or null when it has had none. */
  lastRollback: RollbackState | null;
  /** A failed or unhealed rollback is waiting for a person to resume the target. */
  blocked: boolean;
  /** Its Cloud Deploy pipeline is suspended after a rollback. */
  frozen: boolean;
}

/**
 * The one state that matters most, in this order: a rollback under way, then lastgood switched off, then a
 * person needed, then a frozen pipeline; otherwise healthy.
 */
export function targetState(input: TargetStateInput): TargetState {
  if (input.lastRollback !== null && isActiveRollback(input.lastRollback)) return 'rolling_back';
  if (!input.enabled || input.mode === 'off') return 'off';
  if (input.blocked) return 'needs_person';
  if (input.frozen) return 'frozen';
  return 'healthy';
}
