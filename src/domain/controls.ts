import type { Mode, Policy } from './types.ts';

/** A kill switch or mode a person set at run time, with who and why. */
export interface ControlSetting<T> {
  value: T;
  reason: string;
  changedBy: string;
  changedAt: Date;
}

/**
 * The kill switch and a target's mode as set over the API; null where nobody set one (or it was handed back), so
 * `LASTGOOD_ENABLED` and the policy file's mode apply.
 */
export interface StoredControls {
  enabled: ControlSetting<boolean> | null;
  mode: ControlSetting<Mode> | null;
}

/**
 * The global kill switch's default (`LASTGOOD_ENABLED`), for when nobody has set it over the API; read at every
 * decision so that flipping it takes effect at once.
 */
export interface Controls {
  enabled(): boolean;
}

/**
 * The kill switch and mode in force: what a person set at run time (`PUT /v1/kill-switch`,
 * `PUT /v1/targets/:name/mode`), else `LASTGOOD_ENABLED` and the policy file.
 */
export function effectiveControls<P extends Policy | null>(
  stored: StoredControls,
  defaults: Controls,
  policy: P,
): { enabled: boolean; policy: P } {
  return {
    enabled: stored.enabled?.value ?? defaults.enabled(),
    policy: (stored.mode === null || policy === null ? policy : { ...policy, mode: stored.mode.value }) as P,
  };
}
