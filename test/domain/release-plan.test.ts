import { describe, expect, it } from 'vitest';
import { planRelease, type ReleasePlan, type RolloutInfo } from '../../src/domain/release-plan.ts';

const TARGET = 'prod';

/** A rollout of `release` in `state`; newest first in every table below, as the executor lists them. */
function rollout(release: string, state: string, rolledBack = false): RolloutInfo {
  return {
    name: `pipelines/p/releases/${release}/rollouts/${release}-to-${TARGET}`,
    release,
    state,
    rolledBack,
    deployedAt: new Date('2026-12-01T10:00:00Z'),
    revision: null,
  };
}

const cases: {
  name: string;
  rollouts: RolloutInfo[];
  requested?: string;
  expected: Partial<ReleasePlan> & { kind: ReleasePlan['kind'] };
}[] = [
  {
    name: 'takes the newest SUCCEEDED rollout as current and the release before it as last known good',
    rollouts: [
      rollout('rel-003', 'SUCCEEDED'),
      rollout('rel-002', 'SUCCEEDED'),
      rollout('rel-001', 'SUCCEEDED'),
    ],
    expected: {
      kind: 'rollback',
      fromRelease: 'rel-003',
      toRelease: 'rel-002',
      rule: 'previous_succeeded',
      rolloutToRollBack: 'pipelines/p/releases/rel-003/rollouts/rel-003-to-prod',
    },
  },
  {
    name: 'rolls back what is deployed, not a newer release whose rollout failed',
    rollouts: [
      rollout('rel-003', 'FAILED'),
      rollout('rel-002', 'SUCCEEDED'),
      rollout('rel-001', 'SUCCEEDED'),
    ],
    expected: { kind: 'rollback', fromRelease: 'rel-002', toRelease: 'rel-001' },
  },
  {
    name: 'skips a release once rolled back off the target, though its rollout succeeded',
    rollouts: [
      rollout('rel-002', 'SUCCEEDED'),
      rollout('rel-003', 'SUCCEEDED', true),
      rollout('rel-002', 'SUCCEEDED'),
      rollout('rel-001', 'SUCCEEDED'),
    ],
    expected: { kind: 'rollback', fromRelease: 'rel-002', toRelease: 'rel-001', rule: 'previous_succeeded' },
  },
  {
    name: 'never steps back onto the current release from an older rollout of it',
    rollouts: [
      rollout('rel-002', 'SUCCEEDED'),
      rollout('rel-002', 'SUCCEEDED'),
      rollout('rel-001', 'FAILED'),
    ],
    expected: { kind: 'no_lkg', fromRelease: 'rel-002' },
  },
  {
    name: 'takes a named release that succeeded on the target over the previous one',
    rollouts: [
      rollout('rel-003', 'SUCCEEDED'),
      rollout('rel-002', 'SUCCEEDED'),
      rollout('rel-001', 'SUCCEEDED'),
    ],
    requested: 'rel-001',
    expected: { kind: 'rollback', fromRelease: 'rel-003', toRelease: 'rel-001', rule: 'requested' },
  },
  {
    name: 'takes a named release even when it was rolled back before: a person chose it',
    rollouts: [rollout('rel-003', 'SUCCEEDED'), rollout('rel-002', 'SUCCEEDED', true)],
    requested: 'rel-002',
    expected: { kind: 'rollback', toRelease: 'rel-002', rule: 'requested' },
  },
  {
    name: 'refuses a named release that never succeeded on the target',
    rollouts: [rollout('rel-003', 'SUCCEEDED'), rollout('rel-002', 'FAILED')],
    requested: 'rel-002',
    expected: { kind: 'requested_unusable', release: 'rel-002' },
  },
  {
    name: 'refuses a named release the target never saw',
    rollouts: [rollout('rel-003', 'SUCCEEDED'), rollout('rel-002', 'SUCCEEDED')],
    requested: 'rel-999',
    expected: { kind: 'requested_unusable', release: 'rel-999' },
  },
  {
    name: 'refuses to race a rollout in progress (DEPLOY_IN_PROGRESS)',
    rollouts: [
      rollout('rel-004', 'IN_PROGRESS'),
      rollout('rel-003', 'SUCCEEDED'),
      rollout('rel-002', 'SUCCEEDED'),
    ],
    expected: { kind: 'deploy_in_progress', rollout: rollout('rel-004', 'IN_PROGRESS') },
  },
  {
    name: 'refuses to race a pending rollout, even for a named release',
    rollouts: [
      rollout('rel-004', 'PENDING'),
      rollout('rel-003', 'SUCCEEDED'),
      rollout('rel-002', 'SUCCEEDED'),
    ],
    requested: 'rel-002',
    expected: { kind: 'deploy_in_progress', rollout: rollout('rel-004', 'PENDING') },
  },
  {
    name: 'does not wait on a rollout held for approval: it is not deploying',
    rollouts: [
      rollout('rel-004', 'PENDING_APPROVAL'),
      rollout('rel-003', 'SUCCEEDED'),
      rollout('rel-002', 'SUCCEEDED'),
    ],
    expected: { kind: 'rollback', fromRelease: 'rel-003', toRelease: 'rel-002' },
  },
  {
    name: 'finds nothing deployed when no rollout succeeded',
    rollouts: [rollout('rel-002', 'FAILED'), rollout('rel-001', 'HALTED')],
    expected: { kind: 'nothing_deployed' },
  },
  {
    name: 'finds nothing deployed on a target with no rollouts',
    rollouts: [],
    expected: { kind: 'nothing_deployed' },
  },
  {
    name: 'finds no last known good when only the current release succeeded',
    rollouts: [rollout('rel-001', 'SUCCEEDED')],
    expected: { kind: 'no_lkg', fromRelease: 'rel-001' },
  },
];

describe('planRelease', () => {
  it.each(cases)('$name', ({ rollouts, requested, expected }) => {
    expect(planRelease(rollouts, TARGET, requested ?? null)).toMatchObject(expected);
  });

  it('explains the previous_succeeded choice by target and current release', () => {
    const plan = planRelease(
      [rollout('rel-002', 'SUCCEEDED'), rollout('rel-001', 'SUCCEEDED')],
      TARGET,
      null,
    );
    expect(plan).toMatchObject({
      explanation: 'last release to roll out successfully to prod before rel-002',
    });
  });
});
