/**
 * The fault matrix of docs/faults.md, end to end: for each way Google can misbehave, on Cloud Run and on Cloud
 * Deploy, lastgood handles a real alert with the real clients against the emulator, and what it records at the end
 * (the rollback's state and revisions, whether it froze the pipeline) must equal what the emulator shows.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { FaultSpec } from '../../src/emulator/faults.ts';
import { SUSPENDED_BY_ANNOTATION } from '../../src/targets/pipeline-suspension.ts';
import { fireAlert, waitForRollback } from '../helpers/app.ts';
import { BAD_REVISION, GOOD_REVISION, PIPELINE, servingSplit } from '../helpers/emulator.ts';
import { lastgoodRollouts } from '../replicas/support.ts';
import { OUTAGE_ENV, OUTAGE_MS, STOREFRONT_ALERT, until, useGoogleTruth } from './google-truth.ts';

interface Row {
  fault: string;
  kind: 'cloud-run' | 'cloud-deploy';
  faults: FaultSpec[];
  /** Someone else's hand, run once the alert is in: it changes the world while lastgood works. */
  meanwhile?: () => Promise<void>;
  /** Settings besides the short deadline and rollback timeout. */
  env?: Record<string, string>;
  /** What lastgood should record; the assertion that matters is that it matches the emulator. */
  expected: 'succeeded' | 'failed' | 'skipped';
  /** Why, for a rollback that did not succeed: what Google showed, not the trouble on the way. */
  errorCode?: string;
}

const truth = useGoogleTruth();

/**
 * Once lastgood's rollout exists (after its first pipeline read), the next pipeline read, the freeze's, is
 * followed by someone else's change: a label, or their own suspension.
 */
async function changePipelineBeforeFreeze(suspend: boolean): Promise<void> {
  await until(() => lastgoodRollouts(truth.emulator()).length > 0);
  truth.emulator().faults.inject({ kind: 'concurrent-pipeline-change', pipeline: PIPELINE, suspend });
}

const TRAFFIC_SPLIT = [
  { revision: GOOD_REVISION, percent: 50 },
  { revision: BAD_REVISION, percent: 50 },
];

const ROWS: Row[] = [
  // Cloud Run: checkout serves BAD_REVISION; its last known good is GOOD_REVISION.
  {
    fault: 'unavailable',
    kind: 'cloud-run',
    faults: [{ kind: 'unavailable', method: 'UpdateService', times: 'until-cleared' }],
    expected: 'failed',
    errorCode: 'GOOGLE_API_ERROR',
  },
  {
    fault: 'slow past the deadline (GetOperation)',
    kind: 'cloud-run',
    faults: [{ kind: 'latency', method: 'GetOperation', ms: 2500 }],
    expected: 'succeeded',
  },
  {
    fault: 'slow past the deadline (UpdateService lands after it was given up)',
    kind: 'cloud-run',
    faults: [{ kind: 'latency', method: 'UpdateService', ms: 900 }],
    expected: 'succeeded',
  },
  {
    fault: 'lost answer',
    kind: 'cloud-run',
    faults: [{ kind: 'hold-response', method: 'UpdateService', ms: 0, answer: 'unavailable' }],
    expected: 'succeeded',
  },
  {
    fault: 'stale etag',
    kind: 'cloud-run',
    faults: [
      {
        kind: 'concurrent-traffic-change',
        service: 'projects/demo-project/locations/us-central1/services/checkout',
      },
    ],
    expected: 'succeeded',
  },
  {
    fault: 'operation failed',
    kind: 'cloud-run',
    faults: [{ kind: 'fail-next-operation', method: 'UpdateService' }],
    expected: 'failed',
    errorCode: 'OPERATION_FAILED',
  },
  {
    fault: 'polling errors',
    kind: 'cloud-run',
    faults: [{ kind: 'unavailable', method: 'GetOperation', times: 8 }],
    expected: 'succeeded',
  },
  {
    fault: "someone else's change",
    kind: 'cloud-run',
    faults: [
      {
        kind: 'concurrent-traffic-change',
        service: 'projects/demo-project/locations/us-central1/services/checkout',
        traffic: TRAFFIC_SPLIT,
      },
    ],
    expected: 'skipped',
    errorCode: 'CONCURRENT_CHANGE',
  },
  // Cloud Deploy: production runs rel-002; its last known good is rel-001.
  {
    fault: 'unavailable',
    kind: 'cloud-deploy',
    faults: [{ kind: 'unavailable', method: 'RollbackTarget', times: 'until-cleared' }],
    expected: 'failed',
    errorCode: 'GOOGLE_API_ERROR',
  },
  {
    fault: 'slow past the deadline (GetRollout hangs, then recovers)',
    kind: 'cloud-deploy',
    faults: [{ kind: 'latency', method: 'GetRollout', ms: 3000 }],
    env: OUTAGE_ENV,
    meanwhile: async () => {
      await until(() => lastgoodRollouts(truth.emulator()).length > 0);
      await sleep(OUTAGE_MS);
      truth.emulator().faults.clear();
    },
    expected: 'succeeded',
  },
  {
    fault: 'lost answer',
    kind: 'cloud-deploy',
    faults: [{ kind: 'hold-response', method: 'RollbackTarget', ms: 0, answer: 'unavailable' }],
    expected: 'succeeded',
  },
  {
    fault: 'lost answer (held past the deadline)',
    kind: 'cloud-deploy',
    faults: [{ kind: 'hold-response', method: 'RollbackTarget', ms: 1000 }],
    expected: 'succeeded',
  },
  {
    fault: 'stale etag (the pipeline changes between the freeze read and write)',
    kind: 'cloud-deploy',
    faults: [{ kind: 'latency', method: 'GetRollout', ms: 100 }],
    meanwhile: () => changePipelineBeforeFreeze(false),
    expected: 'succeeded',
  },
  {
    fault: 'rollout failed',
    kind: 'cloud-deploy',
    faults: [{ kind: 'fail-next-rollout', targetId: 'production' }],
    expected: 'failed',
    errorCode: 'ROLLOUT_FAILED',
  },
  {
    fault: 'rollout halted, under polling errors',
    kind: 'cloud-deploy',
    faults: [
      { kind: 'fail-next-rollout', targetId: 'production', state: 'HALTED' },
      { kind: 'unavailable', method: 'GetRollout', times: 8 },
    ],
    expected: 'failed',
    errorCode: 'ROLLOUT_FAILED',
  },
  {
    fault: 'rollout cancelled, under polling errors',
    kind: 'cloud-deploy',
    faults: [
      { kind: 'fail-next-rollout', targetId: 'production', state: 'CANCELLED' },
      { kind: 'unavailable', method: 'GetRollout', times: 8 },
    ],
    expected: 'failed',
    errorCode: 'ROLLOUT_FAILED',
  },
  {
    fault: 'polling errors',
    kind: 'cloud-deploy',
    faults: [{ kind: 'unavailable', method: 'GetRollout', times: 8 }],
    expected: 'succeeded',
  },
  {
    fault: "someone else's change (suspends the pipeline during the rollout)",
    kind: 'cloud-deploy',
    // Slow enough reads that the other party's suspension lands before lastgood freezes.
    faults: [{ kind: 'latency', method: 'GetRollout', ms: 100 }],
    meanwhile: () => truth.suspendDuringRollout(),
    expected: 'succeeded',
  },
  {
    fault: "someone else's change (suspends the pipeline between the freeze read and write)",
    kind: 'cloud-deploy',
    faults: [{ kind: 'latency', method: 'GetRollout', ms: 100 }],
    meanwhile: () => changePipelineBeforeFreeze(true),
    expected: 'succeeded',
  },
];

/** What Cloud Deploy shows: the release production runs, and whether (and by which decision) it is suspended. */
function deployTruth() {
  const pipeline = truth.emulator().state.cloudDeploy.pipeline(PIPELINE)!;
  const production = pipeline.targets.find((target) => target.targetId === 'production')!;
  return {
    release: production.currentRelease.split('/').at(-1),
    suspended: pipeline.suspended,
    suspendedBy: pipeline.annotations[SUSPENDED_BY_ANNOTATION] ?? null,
  };
}

describe('what lastgood records equals what Google shows, whatever Google did', () => {
  it.each(ROWS)('$kind, $fault: recorded $expected, as the emulator shows', async (row) => {
    const emulator = truth.emulator();
    for (const fault of row.faults) emulator.faults.inject(fault);
    const app = await truth.start(row.env);
    const accepted = await fireAlert(app, row.kind === 'cloud-run' ? {} : STOREFRONT_ALERT);
    const [status] = await Promise.all([waitForRollback(app.store, accepted.decisionId), row.meanwhile?.()]);
    const rollback = status.rollback!;
    expect([rollback.state, rollback.errorCode]).toEqual([row.expected, row.errorCode ?? null]);
    // Every fault that is used up did hit: the row tested what it says.
    const unused = emulator.faults
      .active()
      .filter((fault) => fault.kind !== 'latency' && !('times' in fault && fault.times === 'until-cleared'));
    expect(unused).toEqual([]);

    if (row.kind === 'cloud-run') {
      expect([rollback.fromRevision, rollback.toRevision]).toEqual([BAD_REVISION, GOOD_REVISION]);
      const split = servingSplit(emulator);
      expect(rollback.state === 'succeeded').toBe(split[GOOD_REVISION] === 100);
      if (rollback.state !== 'succeeded') expect(split[GOOD_REVISION] ?? 0).toBeLessThan(100);
      return;
    }
    const shown = deployTruth();
    expect(rollback.state === 'succeeded').toBe(shown.release === rollback.toRevision);
    if (rollback.state !== 'succeeded') expect(shown.release).toBe('rel-002');
    const recordedFrozen = status.timeline.some((event) => event.step === 'pipeline_frozen');
    expect(recordedFrozen).toBe(shown.suspended && shown.suspendedBy === accepted.decisionId);
    // Whenever the rollback succeeded the pipeline is frozen, by lastgood or by the other party.
    if (rollback.state === 'succeeded') expect(shown.suspended).toBe(true);
  });
});
