/**
 * Issue 20, defects 1-4, through the whole app: what lastgood records after Google misbehaved is what Google
 * shows, within LASTGOOD_ROLLBACK_TIMEOUT, and what follows (a later alert, an unfreeze) acts on that truth.
 */

import { describe, expect, it } from 'vitest';
import { bearer, fireAlert, OPERATOR_TOKEN, waitForRollback } from '../helpers/app.ts';
import { GOOD_REVISION, PIPELINE, servingSplit } from '../helpers/emulator.ts';
import { lastgoodRollouts } from '../replicas/support.ts';
import {
  DEADLINE_MS,
  OUTAGE_ENV,
  OUTAGE_MS,
  ROLLBACK_TIMEOUT_MS,
  STOREFRONT_ALERT,
  until,
  useGoogleTruth,
} from './google-truth.ts';

const truth = useGoogleTruth();

function stepsOf(status: Awaited<ReturnType<typeof waitForRollback>>): string[] {
  return status.timeline.map((event) => event.step);
}

describe('Cloud Run: the record is the truth, in bounded time', () => {
  it('finishes within the rollback timeout while GetOperation hangs, and records the traffic that moved', async () => {
    const emulator = truth.emulator();
    emulator.faults.inject({ kind: 'latency', method: 'GetOperation', ms: 4000 });
    const app = await truth.start();
    const accepted = await fireAlert(app);
    const status = await waitForRollback(app.store, accepted.decisionId);
    const started = status.timeline[0]!.at.getTime();
    const ended = status.timeline.at(-1)!.at.getTime();
    expect(status.rollback?.state).toBe('succeeded');
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
    // The timeout, one bounded last read, and room for a loaded test machine; not the library's 60 s.
    expect(ended - started).toBeLessThan(ROLLBACK_TIMEOUT_MS + DEADLINE_MS + 1000);
  });

  it('records an UpdateService given up at its deadline that still lands, so a later alert sees the real state', async () => {
    const emulator = truth.emulator();
    emulator.faults.inject({ kind: 'latency', method: 'UpdateService', ms: 900 });
    const app = await truth.start();
    const accepted = await fireAlert(app);
    const status = await waitForRollback(app.store, accepted.decisionId);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
    expect(status.rollback).toMatchObject({ state: 'succeeded', toRevision: GOOD_REVISION });
    expect(stepsOf(status)).toContain('mutation_unanswered');
    // A failed record would hold the target for a person (NEEDS_PERSON); the rollback landed, so it does not.
    const later = await fireAlert(app, { incidentId: 'later-incident' });
    expect(later.reason).not.toBe('NEEDS_PERSON');
  });
});

describe('Cloud Deploy: the record is the truth, and lastgood lifts only its own freeze', () => {
  it('rides out GetRollout timeouts, records the rollback that succeeded, and freezes the pipeline', async () => {
    const emulator = truth.emulator();
    emulator.faults.inject({ kind: 'latency', method: 'GetRollout', ms: 3000 });
    const app = await truth.start(OUTAGE_ENV);
    const accepted = await fireAlert(app, STOREFRONT_ALERT);
    await until(() => lastgoodRollouts(emulator).length > 0);
    setTimeout(() => emulator.faults.clear(), OUTAGE_MS);
    const status = await waitForRollback(app.store, accepted.decisionId);
    expect(lastgoodRollouts(emulator)).toEqual([expect.objectContaining({ state: 'SUCCEEDED' })]);
    expect(status.rollback).toMatchObject({ state: 'succeeded', toRevision: 'rel-001' });
    expect(stepsOf(status)).toContain('poll_error');
    expect(stepsOf(status)).toContain('pipeline_frozen');
    expect(emulator.state.cloudDeploy.pipeline(PIPELINE)?.suspended).toBe(true);
  });

  it('does not claim a suspension someone else made during the rollout, and refuses to unfreeze it with 409', async () => {
    const emulator = truth.emulator();
    emulator.faults.inject({ kind: 'latency', method: 'GetRollout', ms: 100 });
    const app = await truth.start();
    const accepted = await fireAlert(app, STOREFRONT_ALERT);
    await truth.suspendDuringRollout();
    const status = await waitForRollback(app.store, accepted.decisionId);
    expect(status.rollback?.state).toBe('succeeded');
    expect(stepsOf(status)).not.toContain('pipeline_frozen');
    expect(stepsOf(status)).toContain('pipeline_already_suspended');

    const refused = await app.app.server.inject({
      method: 'POST',
      url: '/v1/targets/storefront/unfreeze',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'LASTGOOD_ERR_FREEZE_NOT_OURS' });
    expect(refused.json().message).toContain('someone other than lastgood');
    expect(emulator.state.cloudDeploy.pipeline(PIPELINE)?.suspended).toBe(true);
  });
});
