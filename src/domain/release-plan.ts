/** A rollout to one Cloud Deploy target, as the release plan needs it. */
export interface RolloutInfo {
  /** The full resource name, `.../releases/REL/rollouts/RO`. */
  name: string;
  release: string;
  /** Rollout.State by name: `SUCCEEDED`, `FAILED`, `IN_PROGRESS`, `PENDING`, ... */
  state: string;
  /** Whether a later rollout rolled this one back (`rolledBackByRollouts` is not empty). */
  rolledBack: boolean;
  /** When it finished deploying (its creation, when Cloud Deploy gives no end): when the release began serving. */
  deployedAt: Date;
  /** The Cloud Run revision it deployed (`metadata.cloud_run.revision`), when Cloud Deploy names one. */
  revision: string | null;
}

/** A rollout in these states is deploying, or about to, and would land over a rollback started now. */
const DEPLOYING: ReadonlySet<string> = new Set(['PENDING', 'IN_PROGRESS']);

/** How a Cloud Deploy target's last known good was chosen. */
export type ReleaseRule = 'requested' | 'previous_succeeded';

/** What to do on a Cloud Deploy target: roll back from one release to another, or why not. */
export type ReleasePlan =
  | { kind: 'deploy_in_progress'; rollout: RolloutInfo }
  | { kind: 'nothing_deployed' }
  | { kind: 'requested_unusable'; release: string }
  | { kind: 'no_lkg'; fromRelease: string }
  | {
      kind: 'rollback';
      fromRelease: string;
      toRelease: string;
      rule: ReleaseRule;
      explanation: string;
      /** The rollout deployed on the target: the rollback is refused if a newer deploy lands first. */
      rolloutToRollBack: string;
    };

/** Whether `release` ever rolled out successfully to the target: only such a release may be named by hand. */
export function releaseSucceeded(rollouts: readonly RolloutInfo[], release: string): boolean {
  return rollouts.some((rollout) => rollout.release === release && rollout.state === 'SUCCEEDED');
}

/**
 * Cloud Deploy's own default, as `gcloud deploy targets rollback` computes it: the current release is that of
 * the newest SUCCEEDED rollout (a newer FAILED one never replaced it), and the last known good is the newest
 * other release that succeeded before it and was never rolled back. A deploy under way refuses the plan: it
 * lands after (or fights) a rollback started now, and a person must decide which one wins.
 * `rollouts` are every rollout to the target, newest first.
 */
export function planRelease(
  rollouts: readonly RolloutInfo[],
  targetId: string,
  requestedRelease: string | null,
): ReleasePlan {
  const deploying = rollouts.find((rollout) => DEPLOYING.has(rollout.state));
  if (deploying) return { kind: 'deploy_in_progress', rollout: deploying };
  const current = rollouts.find((rollout) => rollout.state === 'SUCCEEDED');
  if (current === undefined) return { kind: 'nothing_deployed' };
  const fromRelease = current.release;
  const rollback = { kind: 'rollback', fromRelease, rolloutToRollBack: current.name } as const;
  if (requestedRelease !== null) {
    if (!releaseSucceeded(rollouts, requestedRelease)) {
      return { kind: 'requested_unusable', release: requestedRelease };
    }
    return {
      ...rollback,
      toRelease: requestedRelease,
      rule: 'requested',
      explanation: 'named in the manual request',
    };
  }
  // A release once rolled back off this target is known bad, though its rollout succeeded: after lastgood's own
  // rollback, the next step back must go past it, not return to it.
  const rolledBack = new Set(
    rollouts.filter((rollout) => rollout.rolledBack).map((rollout) => rollout.release),
  );
  const previousGood = rollouts.find(
    (rollout) =>
      rollout.release !== fromRelease && rollout.state === 'SUCCEEDED' && !rolledBack.has(rollout.release),
  );
  if (previousGood === undefined) return { kind: 'no_lkg', fromRelease };
  return {
    ...rollback,
    toRelease: previousGood.release,
    rule: 'previous_succeeded',
    explanation: `last release to roll out successfully to ${targetId} before ${fromRelease}`,
  };
}
