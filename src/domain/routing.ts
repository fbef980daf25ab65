import type { Signal } from './types.ts';

/** What routing needs to know of a configured target. */
export interface RoutableTarget {
  name: string;
  /** The Cloud Run service the target protects, when it is one. */
  serviceName: string | null;
}

/**
 * Picks the configured target an alert is about: the `lastgood_target` label (the alert policy's, else the monitored
 * resource's), else a target named like, or protecting, the Cloud Run `service_name` resource label. Null when none match.
 */
export function routeSignal(signal: Signal, targets: readonly RoutableTarget[]): string | null {
  if (signal.targetLabel !== null) {
    return targets.some((target) => target.name === signal.targetLabel) ? signal.targetLabel : null;
  }
  if (signal.serviceName === null) return null;
  const byName = targets.find((target) => target.name === signal.serviceName);
  if (byName) return byName.name;
  return targets.find((target) => target.serviceName === signal.serviceName)?.name ?? null;
}
