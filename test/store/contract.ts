import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../src/audit/chain.ts';
import type { StoredControls } from '../../src/domain/controls.ts';
import type { RollbackOutcome } from '../../src/domain/rollback.ts';
import type { TargetHistory } from '../../src/domain/types.ts';
import type {
  ControlChange,
  DecisionDraft,
  DecisionRequest,
  HeldLease,
  JobRecord,
  MutationFence,
  NewAlert,
  Store,
} from '../../src/store/store.ts';

export interface StoreHarness {
  store: Store;
  /** Closes and opens the same database again, as a restarted process would. */
  reopen(): Promise<Store>;
  /** Runs one statement on the database behind the store's back (`?` placeholders), as an intruder would. */
  sql(statement: string, params?: readonly (string | number | null)[]): Promise<void>;
  /** How many rows each table holds, read behind the store's back. */
  rowCounts(): Promise<Record<string, number>>;
  destroy(): Promise<void>;
}

function verify(store: Store) {
  return verifyAuditChain({
    rows: (afterSeq, limit) => store.auditRows(afterSeq, limit),
    head: () => store.auditHead(),
  });
}

const T0 = new Date('2026-11-23T12:00:00Z');
/** The verification window rollbacks in these tests get. */
const WINDOW = 15 * 60_000;

function draft(decision: Partial<DecisionDraft> = {}): DecisionDraft {
  return {
    action: 'none',
    reason: 'BELOW_THRESHOLD',
    confidence: 0,
    factors: [{ name: 'error_rate', value: 0.001, effect: 'threshold 0.01' }],
    target: 'checkout',
    nextEligibleAt: null,
    wouldRollback: false,
    mode: 'auto',
    requestedBy: null,
    requestedRevision: null,
    ...decision,
  };
}

let sequence = 0;
function alert(overrides: Partial<NewAlert> = {}): NewAlert {
  sequence += 1;
  const incidentId = `inc-${sequence}`;
  return {
    source: 'cloud-monitoring',
    dedupeKey: `${incidentId}:open`,
    receivedAt: T0,
    targetName: 'checkout',
    rawBody: `{"incident":{"incident_id":"${incidentId}"}}`,
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
      startedAt: new Date(T0.getTime() - 60_000),
      endedAt: null,
      targetLabel: 'checkout',
      serviceName: 'checkout',
      summary: 's',
      url: null,
    },
    ...overrides,
  };
}

function request(overrides: Partial<DecisionRequest> = {}): DecisionRequest {
  return {
    alert: alert(),
    targetName: 'checkout',
    historySince: new Date(T0.getTime() - 3_600_000),
    now: T0,
    decide: () => draft(),
    ...overrides,
  };
}

const SUCCEEDED: RollbackOutcome = {
  state: 'succeeded',
  fromRevision: 'svc-2',
  toRevision: 'svc-1',
  lkgRule: 'previous_ready',
  errorCode: null,
  errorMessage: null,
};

/** The lease `job`'s claim holds, as `owner` claims it. */
function lease(job: JobRecord, now: Date, leaseMs: number, owner = job.leaseOwner): HeldLease {
  return { jobId: job.id, owner, generation: job.generation, now, leaseMs };
}

/** The fence a claim's mutation announcement passes: its lease, with controls that permit the change. */
function fence(job: JobRecord, now: Date, leaseMs: number, owner = job.leaseOwner): MutationFence {
  return { ...lease(job, now, leaseMs, owner), permits: () => true };
}

/** Root sets (or, with null, hands back) the kill switch at T0. */
function killSwitch(enabled: boolean | null, reason: string): ControlChange {
  return { kind: 'kill_switch', enabled, reason, actor: 'root', at: T0 };
}

const rollbackWhenNoHistory = (history: TargetHistory) =>
  history.rollbacks.length === 0
    ? draft({ action: 'rollback', reason: 'ROLLBACK', confidence: 0.9, wouldRollback: true })
    : draft({ reason: 'COOLDOWN' });

/** The behaviour every Store adapter must have. Run it once per adapter. */
export function storeContract(name: string, open: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;
    beforeEach(async () => {
      harness = await open();
      store = harness.store;
    });
    afterEach(async () => {
      await harness.destroy();
    });

    describe('warming up', () => {
      it("runs a made-up decision and its rollback's first steps without changing a row or the audit chain", async () => {
        const stored = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
        const rows = await harness.rowCounts();
        const head = await store.auditHead();
        const status = await store.getStatus(stored.decision.id);

        await store.warmUp();
        await store.warmUp();

        expect(await harness.rowCounts()).toEqual(rows);
        expect(await store.auditHead()).toEqual(head);
        expect(await store.getStatus(stored.decision.id)).toEqual(status);
        expect(await store.pendingJobCount()).toBe(1);
        // The store still decides for real afterwards, and its chain still verifies.
        const next = await store.recordDecision(
          request({ targetName: 'payments', decide: rollbackWhenNoHistory }),
        );
        expect(next.rollback?.state).toBe('queued');
        expect((await verify(store)).ok).toBe(true);
      });

      it('reads the store for real: a stored alert with its dedupe key makes it a redelivery, and it says so', async () => {
        await store.recordDecision(request({ alert: alert({ dedupeKey: '0.lastgood-warm-up:open' }) }));

        await expect(store.warmUp()).rejects.toThrow(/made no job/);
      });
    });

    it('stores an alert and its decision, readable by either id', async () => {
      const outcome = await store.recordDecision(request());
      expect(outcome.duplicate).toBe(false);
      const byDecision = await store.getStatus(outcome.decision.id);
      const byAlert = await store.getStatus(outcome.alert!.id);
      expect(byDecision).toEqual(byAlert);
      expect(byDecision?.alert?.signal.startedAt).toEqual(new Date(T0.getTime() - 60_000));
      expect(byDecision?.alert?.rawBody).toContain('incident_id');
      expect(byDecision?.decision).toMatchObject({
        reason: 'BELOW_THRESHOLD',
        targetName: 'checkout',
        mode: 'auto',
      });
      expect(byDecision?.timeline.map((event) => event.step)).toEqual(['alert_received', 'decided']);
    });

    it('lists the decisions of a window oldest first, each with its whole alert and rollback, or with what correlation reads', async () => {
      const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
      const before = await store.recordDecision(
        request({ alert: alert({ receivedAt: at(-1) }), now: at(-1) }),
      );
      const rolledBack = await store.recordDecision(
        request({ alert: alert({ receivedAt: at(1) }), now: at(1), decide: rollbackWhenNoHistory }),
      );
      const manual = await store.recordDecision(
        request({
          alert: null,
          now: at(2),
          decide: () => draft({ action: 'rollback', reason: 'MANUAL', confidence: 1, wouldRollback: true }),
        }),
      );
      await store.recordDecision(request({ alert: alert({ receivedAt: at(3) }), now: at(3) }));

      const history = await store.decisionHistory(T0, at(3), 10);
      expect(history.map((item) => item.decision.id)).toEqual([rolledBack.decision.id, manual.decision.id]);
      expect(history[0]!.alert).toEqual(rolledBack.alert);
      expect(history[0]!.rollback).toMatchObject({ state: 'queued', targetName: 'checkout' });
      expect(history[1]).toMatchObject({ alert: null, decision: { reason: 'MANUAL' } });
      expect(await store.decisionHistory(at(-1), at(3), 1)).toEqual([
        { decision: before.decision, alert: before.alert, rollback: null },
      ]);
      // The same decisions, each with only what correlating incidents reads.
      expect(await store.decisionSignals(T0, at(3), 10)).toEqual([
        {
          decidedAt: rolledBack.decision.decidedAt,
          targetName: 'checkout',
          reason: rolledBack.decision.reason,
          signal: { startedAt: rolledBack.alert?.signal.startedAt, isTest: false },
          rollback: { state: 'queued', errorCode: null },
        },
        {
          decidedAt: manual.decision.decidedAt,
          targetName: manual.decision.targetName,
          reason: 'MANUAL',
          signal: null,
          rollback: { state: 'queued', errorCode: null },
        },
      ]);
      expect(await store.decisionSignals(at(-1), at(3), 1)).toEqual([
        {
          decidedAt: before.decision.decidedAt,
          targetName: before.decision.targetName,
          reason: before.decision.reason,
          signal: { startedAt: before.alert?.signal.startedAt, isTest: false },
          rollback: null,
        },
      ]);
    });

    it('answers a redelivered alert with the original ids and decides nothing new', async () => {
      const first = await store.recordDecision(request({ alert: alert({ dedupeKey: 'same:open' }) }));
      let called = false;
      const second = await store.recordDecision(
        request({
          alert: alert({ dedupeKey: 'same:open' }),
          decide: () => {
            called = true;
            return draft();
          },
        }),
      );
      expect(second.duplicate).toBe(true);
      expect(called).toBe(false);
      expect(second.alert?.id).toBe(first.alert?.id);
      expect(second.decision.id).toBe(first.decision.id);
      const recent = await store.listRecent({ since: new Date(0), limit: 10, action: null, cursor: null });
      expect(recent).toHaveLength(1);
    });

    it('queues a rollback with its decision and shows it in the next history', async () => {
      const first = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      expect(first.rollback).toMatchObject({ state: 'queued', targetName: 'checkout' });
      let seen: TargetHistory | null = null;
      await store.recordDecision(
        request({
          decide: (history) => {
            seen = history;
            return draft();
          },
        }),
      );
      expect(seen!.rollbacks).toEqual([{ decisionId: first.decision.id, decidedAt: T0, state: 'queued' }]);
      expect((await store.getStatus(first.decision.id))?.rollback?.state).toBe('queued');
    });

    it("keeps each target's history to itself and to the window asked for", async () => {
      await store.recordDecision(request({ decide: rollbackWhenNoHistory, targetName: 'other' }));
      let seen: TargetHistory | null = null;
      await store.recordDecision(
        request({
          decide: (history) => {
            seen = history;
            return draft();
          },
        }),
      );
      expect(seen!.rollbacks).toEqual([]);
    });

    it('lets exactly one of many concurrent alerts for a target roll back', async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 30 }, () => store.recordDecision(request({ decide: rollbackWhenNoHistory }))),
      );
      expect(outcomes.filter((outcome) => outcome.decision.action === 'rollback')).toHaveLength(1);
    });

    it('decides a batch as it would one at a time: redeliveries, and each target after its own rollback', async () => {
      // Each decision is made once: a batch that had to be made again alone (after a write conflicted) would not be.
      let decided = 0;
      const counted = (history: TargetHistory) => {
        decided += 1;
        return rollbackWhenNoHistory(history);
      };
      const forOther = () =>
        request({ targetName: 'other', alert: alert({ targetName: 'other' }), decide: counted });
      const outcomes = await Promise.all([
        store.recordDecision(request({ alert: alert({ dedupeKey: 'same:open' }), decide: counted })),
        store.recordDecision(request({ alert: alert({ dedupeKey: 'same:open' }), decide: counted })),
        store.recordDecision(forOther()),
        store.recordDecision(request({ decide: counted })),
        store.recordDecision(forOther()),
      ]);
      expect(outcomes.map((outcome) => [outcome.duplicate, outcome.decision.reason])).toEqual([
        [false, 'ROLLBACK'],
        [true, 'ROLLBACK'],
        [false, 'ROLLBACK'],
        [false, 'COOLDOWN'],
        [false, 'COOLDOWN'],
      ]);
      expect(decided).toBe(4);
      expect(outcomes[1]!.decision.id).toBe(outcomes[0]!.decision.id);
      expect(await verify(store)).toEqual({ ok: true, rows: 4 });
    });

    it('fails only the decision at fault among decisions made together', async () => {
      const results = await Promise.allSettled([
        store.recordDecision(request()),
        store.recordDecision(
          request({
            decide: () => {
              throw new Error('this decision fails after its alert was written');
            },
          }),
        ),
        store.recordDecision(request({ decide: rollbackWhenNoHistory })),
      ]);
      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const recent = await store.listRecent({ since: new Date(0), limit: 10, action: null, cursor: null });
      expect(recent.map((item) => item.decision.reason).sort()).toEqual(['BELOW_THRESHOLD', 'ROLLBACK']);
      expect(await verify(store)).toEqual({ ok: true, rows: 2 });
    });

    it('stores a manual request without an alert', async () => {
      const outcome = await store.recordDecision(
        request({
          alert: null,
          decide: () =>
            draft({
              action: 'rollback',
              reason: 'MANUAL',
              confidence: 1,
              wouldRollback: true,
              requestedBy: 'alice',
            } as Partial<DecisionDraft>),
        }),
      );
      const status = await store.getStatus(outcome.decision.id);
      expect(status?.alert).toBeNull();
      expect(status?.decision.requestedBy).toBe('alice');
      expect(status?.timeline.map((event) => event.step)).toEqual(['decided']);
    });

    it('pages through recent decisions newest first, filtered by action', async () => {
      for (let i = 0; i < 5; i++) {
        await store.recordDecision(
          request({
            now: new Date(T0.getTime() + i * 1000),
            targetName: `t${i}`,
            decide: i % 2 === 0 ? rollbackWhenNoHistory : () => draft(),
          }),
        );
      }
      const page1 = await store.listRecent({ since: T0, limit: 2, action: null, cursor: null });
      expect(page1.map((item) => item.decision.decidedAt.getTime() - T0.getTime())).toEqual([4000, 3000]);
      const last = page1.at(-1)!.decision;
      const page2 = await store.listRecent({
        since: T0,
        limit: 10,
        action: null,
        cursor: { decidedAt: last.decidedAt, id: last.id },
      });
      expect(page2.map((item) => item.decision.decidedAt.getTime() - T0.getTime())).toEqual([2000, 1000, 0]);
      const rollbacks = await store.listRecent({ since: T0, limit: 10, action: 'rollback', cursor: null });
      expect(rollbacks).toHaveLength(3);
      expect(rollbacks.every((item) => item.rollback?.state === 'queued')).toBe(true);
      const windowed = await store.listRecent({
        since: new Date(T0.getTime() + 3500),
        limit: 10,
        action: null,
        cursor: null,
      });
      expect(windowed).toHaveLength(1);
      const one = await store.listRecent({ since: T0, limit: 10, action: null, target: 't3', cursor: null });
      expect(one.map((item) => item.decision.targetName)).toEqual(['t3']);
      const refused = await store.listRecent({
        since: T0,
        limit: 10,
        action: null,
        reason: rollbacks[0]!.decision.reason,
        cursor: null,
      });
      expect(refused.map((item) => item.decision.targetName)).toEqual(['t4', 't2', 't0']);
    });

    it('counts decisions by action and reason', async () => {
      await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      await store.recordDecision(
        request({ targetName: 'x', decide: () => draft({ reason: 'UNKNOWN_TARGET', target: null }) }),
      );
      const stats = await store.decisionStats(new Date(0));
      expect(stats.byAction).toEqual({ rollback: 1, none: 2 });
      expect(stats.byReason).toEqual({ ROLLBACK: 1, COOLDOWN: 1, UNKNOWN_TARGET: 1 });
      expect(stats.rollbacksByState).toEqual({ queued: 1 });
    });

    it('acknowledges an alert once and keeps the first acknowledgement', async () => {
      const outcome = await store.recordDecision(request());
      const first = await store.acknowledgeAlert(outcome.alert!.id, 'alice', T0);
      const again = await store.acknowledgeAlert(outcome.alert!.id, 'bob', new Date(T0.getTime() + 1000));
      expect(first).toMatchObject({ acknowledgedBy: 'alice', acknowledgedAt: T0 });
      expect(again).toMatchObject({ acknowledgedBy: 'alice', acknowledgedAt: T0 });
      expect(await store.acknowledgeAlert('alt_00000000000000000000000000', 'alice', T0)).toBeNull();
    });

    it('returns null for an unknown id', async () => {
      expect(await store.getStatus('dec_00000000000000000000000000')).toBeNull();
    });

    it('hands a queued rollback job to exactly one worker', async () => {
      const queued = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      const claims = await Promise.all(['w1', 'w2', 'w3'].map((owner) => store.claimJob(owner, T0, 30_000)));
      const won = claims.filter((claim) => claim !== null);
      expect(won).toHaveLength(1);
      expect(won[0]).toMatchObject({
        decisionId: queued.decision.id,
        targetName: 'checkout',
        attempts: 1,
        takenOverFrom: null,
      });
      expect((await store.getStatus(queued.decision.id))?.rollback?.state).toBe('running');
      expect(await store.pendingJobCount()).toBe(1);
    });

    it('writes a fenced progress step only while the lease is held', async () => {
      const queued = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      const first = (await store.claimJob('w1', T0, 1_000))!;
      const announce = (owner: string, at: Date) =>
        store.recordProgress(
          queued.decision.id,
          { toRevision: `svc-by-${owner}` },
          [{ at, step: 'api_call_issued', detail: { by: owner } }],
          fence(first, at, 1_000, owner),
        );
      expect(await announce('w1', new Date(T0.getTime() + 500))).toBe('written');
      // The write renewed the lease, so it has not expired at T0 + 1.2 s.
      expect(await store.claimJob('w2', new Date(T0.getTime() + 1_200), 1_000)).toBeNull();
      const later = new Date(T0.getTime() + 3_000);
      expect(await store.claimJob('w2', later, 1_000)).toMatchObject({ takenOverFrom: 'w1' });
      expect(await announce('w1', later)).toBe('lease_lost');
      const status = await store.getStatus(queued.decision.id);
      expect(status?.rollback?.toRevision).toBe('svc-by-w1');
      expect(status?.timeline.filter((event) => event.step === 'api_call_issued')).toHaveLength(1);
    });

    it('lets another worker take over a job whose lease expired, and fences the old owner out', async () => {
      await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      const first = (await store.claimJob('w1', T0, 1_000))!;
      expect(await store.claimJob('w2', new Date(T0.getTime() + 500), 1_000)).toBeNull();
      const later = new Date(T0.getTime() + 1_500);
      const second = (await store.claimJob('w2', later, 1_000))!;
      expect(second).toMatchObject({ id: first.id, attempts: 2, takenOverFrom: 'w1' });
      expect(await store.renewLease(lease(first, later, 1_000))).toBe(false);
      expect(
        await store.completeJob(first, SUCCEEDED, { at: later, step: 'succeeded', detail: {} }, WINDOW),
      ).toBe(false);
      expect(
        await store.completeJob(second, SUCCEEDED, { at: later, step: 'succeeded', detail: {} }, WINDOW),
      ).toBe(true);
      const status = await store.getStatus(first.decisionId);
      expect(status?.rollback).toMatchObject({ state: 'succeeded', toRevision: 'svc-1', finishedAt: later });
      expect(status?.timeline.map((event) => event.step)).toEqual([
        'alert_received',
        'decided',
        'job_claimed',
        'job_taken_over',
        'succeeded',
      ]);
      expect(await store.pendingJobCount()).toBe(0);
      expect(await store.claimJob('w3', new Date(T0.getTime() + 60_000), 1_000)).toBeNull();
    });

    it('creates the job already claimed by the deciding process, its claim committed with the decision', async () => {
      const decided = await store.recordDecision(
        request({ decide: rollbackWhenNoHistory, leaseJob: () => ({ owner: 'w1', leaseMs: 1_000 }) }),
      );
      expect(decided.job).toMatchObject({
        decisionId: decided.decision.id,
        targetName: 'checkout',
        attempts: 1,
        leaseOwner: 'w1',
        generation: 1,
        leaseExpiresAt: new Date(T0.getTime() + 1_000),
        takenOverFrom: null,
      });
      const job = decided.job!;
      const status = await store.getStatus(decided.decision.id);
      expect(status?.rollback?.state).toBe('running');
      expect(status?.timeline).toEqual([
        expect.objectContaining({ step: 'alert_received' }),
        expect.objectContaining({ step: 'decided' }),
        { at: T0, step: 'job_claimed', detail: { worker: 'w1', attempt: 1 } },
      ]);
      // Nobody claims it while the lease runs; the claim's own token fences and renews.
      expect(await store.claimJob('w2', new Date(T0.getTime() + 500), 1_000)).toBeNull();
      expect(
        await store.recordProgress(
          job.decisionId,
          {},
          [{ at: new Date(T0.getTime() + 500), step: 'api_call_issued', detail: {} }],
          fence(job, new Date(T0.getTime() + 500), 1_000),
        ),
      ).toBe('written');

      // The process died: once the lease (renewed to T0 + 1.5 s) runs out, another takes the job over.
      expect(await store.claimJob('w2', new Date(T0.getTime() + 1_400), 1_000)).toBeNull();
      const later = new Date(T0.getTime() + 2_000);
      const taken = (await store.claimJob('w2', later, 1_000))!;
      expect(taken).toMatchObject({ id: job.id, attempts: 2, takenOverFrom: 'w1' });
      expect(taken.generation).toBeGreaterThan(job.generation);
      expect(await store.renewLease(lease(job, later, 1_000))).toBe(false);
      expect(
        await store.recordProgress(
          job.decisionId,
          {},
          [{ at: later, step: 'api_call_issued', detail: {} }],
          fence(job, later, 1_000),
        ),
      ).toBe('lease_lost');
      expect(
        await store.completeJob(job, SUCCEEDED, { at: later, step: 'succeeded', detail: {} }, WINDOW),
      ).toBe(false);
      expect(
        await store.completeJob(taken, SUCCEEDED, { at: later, step: 'succeeded', detail: {} }, WINDOW),
      ).toBe(true);
      expect(await store.pendingJobCount()).toBe(0);
    });

    it('asks for a lease only when the decision rolls back, and queues the job when none is given', async () => {
      let asked = 0;
      const leaseJob = () => {
        asked++;
        return null;
      };
      const held = await store.recordDecision(request({ leaseJob }));
      expect(held).toMatchObject({ rollback: null, job: null });
      expect(asked).toBe(0);
      const queued = await store.recordDecision(request({ decide: rollbackWhenNoHistory, leaseJob }));
      expect(asked).toBe(1);
      expect(queued.job).toBeNull();
      expect(queued.rollback?.state).toBe('queued');
      expect((await store.claimJob('w2', T0, 1_000))?.decisionId).toBe(queued.decision.id);
    });

    it('fences out the earlier claim when the same owner claims its own job again', async () => {
      const queued = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      const first = (await store.claimJob('w1', T0, 1_000))!;
      const later = new Date(T0.getTime() + 1_500);
      const second = (await store.claimJob('w1', later, 1_000))!;
      expect(second).toMatchObject({ id: first.id, attempts: 2, leaseOwner: 'w1', takenOverFrom: 'w1' });
      expect(second.generation).toBeGreaterThan(first.generation);

      // Same owner, same job: only the token tells the stale claim from the live one.
      expect(await store.renewLease(lease(first, later, 1_000))).toBe(false);
      expect(
        await store.recordProgress(
          queued.decision.id,
          { toRevision: 'svc-stale' },
          [{ at: later, step: 'api_call_issued', detail: { method: 'UpdateService' } }],
          fence(first, later, 1_000),
        ),
      ).toBe('lease_lost');
      expect(
        await store.completeJob(first, SUCCEEDED, { at: later, step: 'succeeded', detail: {} }, WINDOW),
      ).toBe(false);
      let status = await store.getStatus(queued.decision.id);
      expect(status?.rollback).toMatchObject({ state: 'running', toRevision: null });
      expect(status?.timeline.map((event) => event.step)).toEqual([
        'alert_received',
        'decided',
        'job_claimed',
        'job_taken_over',
      ]);
      expect((await store.listAudit(null, 10)).map((event) => event.type)).toEqual(['decision']);

      expect(await store.renewLease(lease(second, later, 1_000))).toBe(true);
      expect(
        await store.completeJob(second, SUCCEEDED, { at: later, step: 'succeeded', detail: {} }, WINDOW),
      ).toBe(true);
      status = await store.getStatus(queued.decision.id);
      expect(status?.rollback).toMatchObject({ state: 'succeeded', toRevision: 'svc-1' });
    });

    it('never overwrites an outcome already recorded', async () => {
      const queued = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      const job = (await store.claimJob('w1', T0, 30_000))!;
      const end = new Date(T0.getTime() + 1_000);
      expect(
        await store.completeJob(job, SUCCEEDED, { at: end, step: 'succeeded', detail: {} }, WINDOW),
      ).toBe(true);
      const after = new Date(T0.getTime() + 2_000);
      // A stale run's late steps: neither its progress nor a second outcome lands on the ended rollback.
      expect(
        await store.recordProgress(queued.decision.id, { toRevision: 'svc-9' }, [
          { at: after, step: 'etag_conflict', detail: {} },
          { at: after, step: 'verified', detail: {} },
        ]),
      ).toBe('finished');
      const failed: RollbackOutcome = {
        ...SUCCEEDED,
        state: 'failed',
        errorCode: 'INTERNAL',
        errorMessage: 'late',
      };
      expect(await store.completeJob(job, failed, { at: after, step: 'failed', detail: {} }, WINDOW)).toBe(
        false,
      );
      const status = await store.getStatus(queued.decision.id);
      expect(status?.rollback).toMatchObject({
        state: 'succeeded',
        toRevision: 'svc-1',
        errorCode: null,
        finishedAt: end,
      });
      expect(status?.timeline.at(-1)?.step).toBe('succeeded');
      expect(status?.timeline.map((event) => event.step)).not.toContain('verified');
    });

    it('does not overwrite an ended rollback even for the claim that holds its job', async () => {
      const queued = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      const job = (await store.claimJob('w1', T0, 30_000))!;
      await harness.sql(
        "UPDATE rollbacks SET state = 'skipped', error_code = 'KILL_SWITCH' WHERE decision_id = ?",
        [queued.decision.id],
      );
      expect(await store.completeJob(job, SUCCEEDED, { at: T0, step: 'succeeded', detail: {} }, WINDOW)).toBe(
        false,
      );
      expect((await store.getStatus(queued.decision.id))?.rollback).toMatchObject({
        state: 'skipped',
        errorCode: 'KILL_SWITCH',
        toRevision: null,
      });
    });

    it('refuses the fenced announcement when the controls read with it forbid the change', async () => {
      const queued = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      const job = (await store.claimJob('w1', T0, 30_000))!;
      await store.changeControl(killSwitch(false, 'INC-9'));
      const seen: StoredControls[] = [];
      const announce = () =>
        store.recordProgress(
          queued.decision.id,
          { toRevision: 'svc-1' },
          [{ at: T0, step: 'api_call_issued', detail: { method: 'UpdateService' } }],
          {
            ...fence(job, T0, 30_000),
            permits: (controls) => {
              seen.push(controls);
              return controls.enabled?.value !== false;
            },
          },
        );
      expect(await announce()).toBe('refused');
      expect(seen[0]?.enabled).toMatchObject({ value: false, reason: 'INC-9' });
      let status = await store.getStatus(queued.decision.id);
      expect(status?.rollback?.toRevision).toBeNull();
      expect(status?.timeline.map((event) => event.step)).not.toContain('api_call_issued');
      expect((await store.listAudit(null, 10)).map((event) => event.type)).not.toContain('google_mutation');

      await store.changeControl(killSwitch(null, 'over'));
      expect(await announce()).toBe('written');
      status = await store.getStatus(queued.decision.id);
      expect(status?.rollback?.toRevision).toBe('svc-1');
      expect((await store.listAudit(null, 10)).map((event) => event.type)).toContain('google_mutation');
    });

    it('keeps what a rollback learnt when its outcome does not repeat it', async () => {
      const queued = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      const job = (await store.claimJob('w1', T0, 30_000))!;
      await store.recordProgress(
        queued.decision.id,
        { fromRevision: 'svc-2', toRevision: 'svc-1', lkgRule: 'stable_tag' },
        [
          { at: T0, step: 'lkg_selected', detail: { revision: 'svc-1' } },
          { at: T0, step: 'api_call_issued', detail: { method: 'UpdateService' } },
        ],
      );
      await store.completeJob(
        job,
        {
          state: 'failed',
          fromRevision: null,
          toRevision: null,
          lkgRule: null,
          errorCode: 'OPERATION_FAILED',
          errorMessage: 'boom',
        },
        { at: T0, step: 'failed', detail: {} },
        WINDOW,
      );
      const status = await store.getStatus(queued.decision.id);
      expect(status?.rollback).toMatchObject({
        state: 'failed',
        fromRevision: 'svc-2',
        toRevision: 'svc-1',
        lkgRule: 'stable_tag',
        errorCode: 'OPERATION_FAILED',
        errorMessage: 'boom',
      });
      expect(status?.timeline.map((event) => event.step)).toContain('api_call_issued');
    });

    it('gives a released job straight back to the queue', async () => {
      await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      const job = (await store.claimJob('w1', T0, 60_000))!;
      await store.releaseJob(job.id, 'w1', T0);
      expect(await store.claimJob('w2', T0, 60_000)).toMatchObject({ id: job.id, takenOverFrom: null });
    });

    it('remembers traffic observations and the incidents of a target', async () => {
      await store.recordTrafficObservation('checkout', { observedAt: T0, fullRevision: 'svc-1' });
      await store.recordTrafficObservation('checkout', {
        observedAt: new Date(T0.getTime() + 1000),
        fullRevision: null,
      });
      await store.recordTrafficObservation('other', { observedAt: T0, fullRevision: 'x' });
      expect(await store.trafficHistory('checkout', new Date(0))).toEqual([
        { observedAt: T0, fullRevision: 'svc-1' },
        { observedAt: new Date(T0.getTime() + 1000), fullRevision: null },
      ]);
      const open = alert();
      await store.recordDecision(request({ alert: open }));
      await store.recordDecision(
        request({
          alert: alert({
            dedupeKey: `${open.signal.incidentId}:closed`,
            signal: { ...open.signal, state: 'closed', endedAt: new Date(T0.getTime() + 600_000) },
          }),
        }),
      );
      expect(await store.incidentWindows('checkout', new Date(0))).toEqual([
        { startedAt: open.signal.startedAt, endedAt: new Date(T0.getTime() + 600_000) },
      ]);
    });

    it('keeps everything across a restart and migrates idempotently', async () => {
      const outcome = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
      store = await harness.reopen();
      await store.migrate();
      const status = await store.getStatus(outcome.decision.id);
      expect(status?.decision.reason).toBe('ROLLBACK');
      expect(status?.rollback?.state).toBe('queued');
    });

    describe('audit log', () => {
      /** Three decisions, an acknowledgement and a rollback with a Google call: eight audited events. */
      async function history() {
        const first = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
        await store.recordDecision(request());
        await store.acknowledgeAlert(first.alert!.id, 'alice', T0);
        await store.acknowledgeAlert(first.alert!.id, 'bob', T0);
        const job = (await store.claimJob('w1', T0, 30_000))!;
        await store.recordProgress(job.decisionId, {}, [
          { at: T0, step: 'service_read', detail: {} },
          { at: T0, step: 'api_call_issued', detail: { method: 'UpdateService', etag: 'e1' } },
        ]);
        await store.completeJob(job, SUCCEEDED, { at: T0, step: 'succeeded', detail: {} }, WINDOW);
        await store.recordDecision(request({ alert: null, decide: () => draft({ requestedBy: 'carol' }) }));
        return first;
      }

      it('appends every decision, manual action and Google mutation to one hash chain', async () => {
        const first = await history();
        const events = await store.listAudit(null, 100);
        expect(events.map((event) => [event.seq, event.type, event.actor])).toEqual([
          [6, 'decision', 'carol'],
          [5, 'rollback_succeeded', 'lastgood'],
          [4, 'google_mutation', 'lastgood'],
          [3, 'alert_acknowledged', 'alice'],
          [2, 'decision', 'lastgood'],
          [1, 'decision', 'lastgood'],
        ]);
        expect(events.at(-1)).toMatchObject({
          decisionId: first.decision.id,
          target: 'checkout',
          data: { reason: 'ROLLBACK', action: 'rollback', incidentId: first.alert!.signal.incidentId },
        });
        expect(events[2]?.data).toMatchObject({ method: 'UpdateService', step: 'api_call_issued' });
        expect(events[1]).toMatchObject({
          severity: 'info',
          data: { state: 'succeeded', fromRevision: 'svc-2', toRevision: 'svc-1', reason: 'ROLLBACK' },
        });
        for (let i = 0; i < events.length - 1; i++) expect(events[i]!.prevHash).toBe(events[i + 1]!.hash);
        expect(await store.auditHead()).toEqual({ seq: 6, hash: events[0]!.hash });
        expect(await verify(store)).toEqual({ ok: true, rows: 6 });
        expect((await store.listAudit(3, 10)).map((event) => event.seq)).toEqual([2, 1]);
        // A decision's own entries, oldest first, for its status page, and the notifications they queued.
        const own = await store.decisionAudit(first.decision.id, 10);
        expect(own.map((event) => event.type)).toEqual([
          'decision',
          'alert_acknowledged',
          'google_mutation',
          'rollback_succeeded',
        ]);
        const notified = await store.decisionNotifications(first.decision.id, 10);
        expect(notified.length).toBeGreaterThan(0);
        expect(notified.every((item) => item.event.decisionId === first.decision.id)).toBe(true);
      });

      it('keeps the chain whole under concurrent decisions, and across a restart', async () => {
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.recordDecision(request({ targetName: `t${i % 5}` }))),
        );
        store = await harness.reopen();
        await store.recordDecision(request());
        expect(await verify(store)).toEqual({ ok: true, rows: 21 });
      });

      it.each([
        ['the time', 'at', 1],
        ['the type', 'type', "'rollback_failed'"],
        ['the severity', 'severity', "'critical'"],
        ['the target', 'target_name', "'other'"],
        ['the decision', 'decision_id', 'NULL'],
        ['the actor', 'actor', "'mallory'"],
        ['the data', 'data', `'{"reason":"MANUAL"}'`],
        ['the link to the row before', 'prev_hash', `'${'e'.repeat(64)}'`],
        ['the hash', 'hash', `'${'f'.repeat(64)}'`],
      ])('detects an edit to %s of any row', async (_name, column, value) => {
        await history();
        for (const seq of [1, 3, 6]) {
          const [before] = await store.auditRows(seq - 1, 1);
          await harness.sql(`UPDATE audit_log SET ${column} = ${value} WHERE seq = ?`, [seq]);
          const result = await verify(store);
          expect(result.ok).toBe(false);
          // An edited hash shows where it no longer matches: that row, or (when it is the last) the head.
          expect(result.firstBrokenRow?.seq).toBe(seq);
          await harness.sql(
            'UPDATE audit_log SET at = ?, type = ?, severity = ?, target_name = ?, decision_id = ?, actor = ?, data = ?, prev_hash = ?, hash = ? WHERE seq = ?',
            [
              before!.at,
              before!.type,
              before!.severity,
              before!.target,
              before!.decisionId,
              before!.actor,
              before!.data,
              before!.prevHash,
              before!.hash,
              seq,
            ],
          );
          expect((await verify(store)).ok).toBe(true);
        }
      });

      it('detects a deleted row, a cut-off tail, a forged row after the head and an edited head', async () => {
        await history();
        const rows = await store.auditRows(0, 100);
        // Notifications point at their audit rows: an intruder removes those first.
        await harness.sql('DELETE FROM outbox');
        await harness.sql('DELETE FROM audit_log WHERE seq = 3');
        expect((await verify(store)).firstBrokenRow).toMatchObject({
          seq: 3,
          problem: 'missing',
          storedHash: null,
        });
        await harness.sql('DELETE FROM audit_log WHERE seq >= 3');
        expect((await verify(store)).firstBrokenRow).toMatchObject({ seq: 3, problem: 'missing' });
        await harness.sql('UPDATE audit_head SET seq = 2, hash = ? WHERE id = 1', [rows[1]!.hash]);
        expect(await verify(store)).toEqual({ ok: true, rows: 2 });
        const forged = rows[2]!;
        await harness.sql(
          'INSERT INTO audit_log (seq, at, type, severity, target_name, decision_id, actor, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
          [
            3,
            forged.at,
            forged.type,
            forged.severity,
            forged.target,
            forged.decisionId,
            forged.actor,
            forged.data,
            forged.prevHash,
            forged.hash,
          ],
        );
        expect((await verify(store)).firstBrokenRow).toMatchObject({ seq: 3, problem: 'head' });
        await harness.sql('DELETE FROM audit_log WHERE seq = 3');
        await harness.sql('UPDATE audit_head SET hash = ? WHERE id = 1', ['a'.repeat(64)]);
        expect((await verify(store)).firstBrokenRow).toMatchObject({ seq: 2, problem: 'head' });
      });
    });

    describe('notification outbox', () => {
      const later = (ms: number) => new Date(T0.getTime() + ms);
      const outcome = (state: 'pending' | 'delivered' | 'dead', deliveredTo: string[], at: Date) => ({
        state,
        deliveredTo,
        lastError: state === 'delivered' ? null : 'slack: HTTP 500',
        nextAttemptAt: new Date(at.getTime() + 1_000),
        at,
      });

      it('queues the notifiable events only, in the transaction that records them', async () => {
        const rolledBack = await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
        await store.recordDecision(request());
        await store.recordDecision(request({ decide: () => draft({ reason: 'COOLDOWN' }) }));
        expect(await store.outboxBacklog()).toBe(2);
        const items = await store.claimNotifications('n1', T0, 30_000, 10);
        expect(items.map((item) => [item.event.seq, item.event.data.reason, item.attempts])).toEqual([
          [1, 'ROLLBACK', 1],
          [3, 'COOLDOWN', 1],
        ]);
        expect(items[0]).toMatchObject({
          id: expect.stringMatching(/^obx_/),
          state: 'pending',
          deliveredTo: [],
          event: { decisionId: rolledBack.decision.id, hash: (await store.auditRows(0, 1))[0]!.hash },
        });
      });

      it('queues one notification for refusals that repeat until the same time, and audits every one', async () => {
        const until = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
        const refuse = (reason: 'COOLDOWN' | 'RATE_LIMITED', nextEligibleAt: Date, targetName = 'checkout') =>
          store.recordDecision(request({ targetName, decide: () => draft({ reason, nextEligibleAt }) }));
        for (let i = 0; i < 3; i++) await refuse('COOLDOWN', until(30));
        await Promise.all([refuse('COOLDOWN', until(30)), refuse('COOLDOWN', until(30))]);
        await refuse('COOLDOWN', until(30), 'other');
        await refuse('RATE_LIMITED', until(30));
        await refuse('COOLDOWN', until(45));
        expect((await store.listAudit(null, 20)).length).toBe(8);
        const items = await store.claimNotifications('n1', T0, 30_000, 20);
        expect(
          items.map((item) => [item.event.target, item.event.data.reason, item.event.data.nextEligibleAt]),
        ).toEqual([
          ['checkout', 'COOLDOWN', until(30).toISOString()],
          ['other', 'COOLDOWN', until(30).toISOString()],
          ['checkout', 'RATE_LIMITED', until(30).toISOString()],
          ['checkout', 'COOLDOWN', until(45).toISOString()],
        ]);
      });

      it('leases each notification to one sender, and gives it to another once the lease expires', async () => {
        for (let i = 0; i < 6; i++)
          await store.recordDecision(request({ decide: rollbackWhenNoHistory, targetName: `t${i}` }));
        const claims = await Promise.all(
          ['n1', 'n2', 'n3'].map((owner) => store.claimNotifications(owner, T0, 1_000, 4)),
        );
        const ids = claims.flat().map((item) => item.id);
        expect(ids).toHaveLength(6);
        expect(new Set(ids).size).toBe(6);
        expect(await store.claimNotifications('n4', later(500), 1_000, 10)).toEqual([]);
        const taken = await store.claimNotifications('n4', later(1_500), 1_000, 10);
        expect(taken).toHaveLength(6);
        expect(taken.every((item) => item.attempts === 2)).toBe(true);
        const lost = claims.flat()[0]!;
        expect(
          await store.finishNotification(
            lost.id,
            lost.id === taken[0]!.id ? 'n1' : 'nobody',
            outcome('delivered', [], T0),
          ),
        ).toBe(false);
        expect(
          await store.finishNotification(taken[0]!.id, 'n4', outcome('delivered', ['slack'], later(1_600))),
        ).toBe(true);
        expect(await store.outboxBacklog()).toBe(5);
      });

      it('waits until the next attempt is due, then dead-letters and retries on request', async () => {
        await store.recordDecision(request({ decide: rollbackWhenNoHistory }));
        const [first] = await store.claimNotifications('n1', T0, 30_000, 10);
        expect(await store.finishNotification(first!.id, 'n1', outcome('pending', ['webhook'], T0))).toBe(
          true,
        );
        expect(await store.claimNotifications('n1', later(999), 30_000, 10)).toEqual([]);
        const [second] = await store.claimNotifications('n1', later(1_000), 30_000, 10);
        expect(second).toMatchObject({ attempts: 2, deliveredTo: ['webhook'], lastError: 'slack: HTTP 500' });
        await store.finishNotification(second!.id, 'n1', outcome('dead', ['webhook'], later(1_000)));
        expect(await store.claimNotifications('n1', later(60_000), 30_000, 10)).toEqual([]);
        const dead = await store.listDeadLetters(null, 10);
        expect(dead).toMatchObject([{ id: first!.id, state: 'dead', attempts: 2, deliveredTo: ['webhook'] }]);
        expect(await store.listDeadLetters(first!.id, 10)).toEqual([]);
        expect(await store.outboxBacklog()).toBe(1);

        const retried = await store.retryNotification(first!.id, 'alice', later(70_000));
        expect(retried).toMatchObject({ state: 'pending', attempts: 0 });
        expect(await store.retryNotification(first!.id, 'alice', later(70_000))).toBeNull();
        expect(await store.retryNotification('obx_00000000000000000000000000', 'alice', T0)).toBeNull();
        expect((await store.listAudit(null, 1))[0]).toMatchObject({
          type: 'notification_retried',
          actor: 'alice',
        });
        const [third] = await store.claimNotifications('n1', later(70_000), 30_000, 10);
        expect(third).toMatchObject({ id: first!.id, attempts: 1, deliveredTo: ['webhook'] });
        await store.finishNotification(
          third!.id,
          'n1',
          outcome('delivered', ['webhook', 'slack'], later(70_000)),
        );
        expect(await store.outboxBacklog()).toBe(0);
      });
    });

    describe('verification and blocks', () => {
      const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
      const succeeded = {
        state: 'succeeded' as const,
        fromRevision: 'svc-2',
        toRevision: 'svc-1',
        lkgRule: 'previous_ready',
        errorCode: null,
        errorMessage: null,
      };

      /** An alert that rolls back, and the rollback finished with `outcome` at minute `finishedAt`. */
      async function rollBack(
        outcome: RollbackOutcome = succeeded,
        finishedAt = 1,
        opening: NewAlert | null = alert(),
      ) {
        const decided = await store.recordDecision(
          request({
            alert: opening,
            decide: () => draft({ action: 'rollback', reason: 'ROLLBACK', wouldRollback: true }),
          }),
        );
        const job = (await store.claimJob('w1', T0, 30_000))!;
        expect(
          await store.completeJob(
            job,
            outcome,
            { at: at(finishedAt), step: outcome.state, detail: {} },
            WINDOW,
          ),
        ).toBe(true);
        return decided;
      }

      /** The closing notification of an incident, received at minute `minutes`. */
      function closing(opening: NewAlert, minutes: number): DecisionRequest {
        return request({
          alert: alert({
            dedupeKey: `${opening.signal.incidentId}:closed`,
            receivedAt: at(minutes),
            signal: { ...opening.signal, state: 'closed', endedAt: at(minutes) },
          }),
          now: at(minutes),
          decide: () => draft({ reason: 'INCIDENT_CLOSED' }),
        });
      }

      async function historyNow(minutes: number): Promise<TargetHistory> {
        let seen: TargetHistory | null = null;
        await store.recordDecision(
          request({
            now: at(minutes),
            decide: (history) => {
              seen = history;
              return draft();
            },
          }),
        );
        return seen!;
      }

      it('verifies a rollback that succeeded, and records it healed when its incident closes in time', async () => {
        const opening = alert();
        const decided = await rollBack(succeeded, 1, opening);
        expect((await store.getStatus(decided.decision.id))?.rollback).toMatchObject({
          verification: 'pending',
          verifyBy: at(16),
          verifiedAt: null,
        });
        await store.recordDecision(closing(alert(), 5));
        expect((await store.getStatus(decided.decision.id))?.rollback?.verification).toBe('pending');
        const closed = await store.recordDecision(closing(opening, 10));
        const status = await store.getStatus(decided.decision.id);
        expect(status?.rollback).toMatchObject({ verification: 'healed', verifiedAt: at(10) });
        expect(status?.timeline.at(-1)).toMatchObject({
          step: 'healed',
          detail: { closedBy: closed.alert!.id },
        });
        const [healed, decision] = await store.listAudit(null, 2);
        expect(decision).toMatchObject({ type: 'decision', decisionId: closed.decision.id });
        expect(healed).toMatchObject({
          type: 'rollback_healed',
          severity: 'info',
          decisionId: decided.decision.id,
        });
        expect(await store.expireVerifications(at(60))).toBe(0);
        expect((await historyNow(61)).blockedBy).toBeNull();
      });

      it('heals a manual rollback on any closing incident of its target', async () => {
        const decided = await rollBack(succeeded, 1, null);
        await store.recordDecision(closing(alert(), 3));
        expect((await store.getStatus(decided.decision.id))?.rollback?.verification).toBe('healed');
      });

      it('counts an incident that closed while the rollback ran as healed', async () => {
        const opening = alert();
        await store.recordDecision(
          request({
            alert: opening,
            decide: () => draft({ action: 'rollback', reason: 'ROLLBACK', wouldRollback: true }),
          }),
        );
        const job = (await store.claimJob('w1', T0, 30_000))!;
        await store.recordDecision(closing(opening, 1));
        await store.completeJob(job, succeeded, { at: at(2), step: 'succeeded', detail: {} }, WINDOW);
        expect((await store.getStatus(job.decisionId))?.rollback).toMatchObject({
          verification: 'healed',
          verifiedAt: at(2),
        });
      });

      it('records not healed once, across concurrent sweeps, and then the target needs a person', async () => {
        const opening = alert();
        const decided = await rollBack(succeeded, 1, opening);
        expect(await store.expireVerifications(at(16))).toBe(0);
        const swept = await Promise.all([1, 2, 3].map(() => store.expireVerifications(at(17))));
        expect(swept.reduce((a, b) => a + b, 0)).toBe(1);
        // Too late: the window had ended.
        await store.recordDecision(closing(opening, 18));
        const status = await store.getStatus(decided.decision.id);
        expect(status?.rollback).toMatchObject({ verification: 'not_healed', verifiedAt: at(17) });
        expect(status?.timeline.map((event) => event.step)).toContain('not_healed');
        const escalated = (await store.listAudit(null, 10)).find(
          (event) => event.type === 'rollback_not_healed',
        );
        expect(escalated).toMatchObject({
          severity: 'critical',
          decisionId: decided.decision.id,
          data: { toRevision: 'svc-1' },
        });
        expect((await historyNow(20)).blockedBy).toEqual({
          decisionId: decided.decision.id,
          why: 'not_healed',
        });
      });

      it('blocks a target after a failed rollback until a person resumes it, and audits who did', async () => {
        const failed = await rollBack({
          ...succeeded,
          state: 'failed',
          errorCode: 'GOOGLE_API_ERROR',
          errorMessage: 'PERMISSION_DENIED',
        });
        expect((await store.getStatus(failed.decision.id))?.rollback?.verification).toBeNull();
        const [finished] = await store.listAudit(null, 1);
        expect(finished).toMatchObject({ type: 'rollback_failed', severity: 'critical' });
        expect((await historyNow(2)).blockedBy).toEqual({
          decisionId: failed.decision.id,
          why: 'rollback_failed',
        });
        await store.recordDecision(request({ targetName: 'other' }));
        expect(await store.resumeTarget('other', 'alice', at(3))).toEqual([]);
        expect(await store.resumeTarget('checkout', 'alice', at(3))).toEqual([failed.decision.id]);
        expect((await historyNow(4)).blockedBy).toBeNull();
        const resumed = (await store.listAudit(null, 5)).find(
          (event) => event.type === 'target_resumed' && event.target === 'checkout',
        );
        expect(resumed).toMatchObject({
          actor: 'alice',
          decisionId: failed.decision.id,
          data: { cleared: [failed.decision.id] },
        });
        expect((await store.getStatus(failed.decision.id))?.timeline.at(-1)).toMatchObject({
          step: 'resumed',
          detail: { by: 'alice' },
        });
        expect(await verify(store)).toMatchObject({ ok: true });
      });
    });

    describe('run-time controls', () => {
      async function controlsSeen(targetName: string | null): Promise<StoredControls> {
        let seen: StoredControls | null = null;
        await store.recordDecision(
          request({
            targetName,
            decide: (_history, controls) => {
              seen = controls;
              return draft();
            },
          }),
        );
        return seen!;
      }

      it('hands every decision the kill switch and mode people set, until they hand them back', async () => {
        expect(await controlsSeen('checkout')).toEqual({ enabled: null, mode: null });
        await store.changeControl({
          kind: 'kill_switch',
          enabled: false,
          reason: 'INC-1',
          actor: 'root',
          at: T0,
        });
        await store.changeControl({
          kind: 'mode',
          target: 'checkout',
          mode: 'dry-run',
          reason: 'watch it',
          actor: 'root',
          at: T0,
        });
        expect(await controlsSeen('checkout')).toEqual({
          enabled: { value: false, reason: 'INC-1', changedBy: 'root', changedAt: T0 },
          mode: { value: 'dry-run', reason: 'watch it', changedBy: 'root', changedAt: T0 },
        });
        expect((await controlsSeen('other')).mode).toBeNull();
        expect((await controlsSeen(null)).enabled?.value).toBe(false);
        expect(await store.controls('checkout')).toEqual(await controlsSeen('checkout'));

        await store.changeControl(killSwitch(null, 'over'));
        expect((await controlsSeen('checkout')).enabled).toBeNull();
        const overview = await store.controlOverview();
        expect(overview.enabled).toBeNull();
        expect([...overview.modes.keys()]).toEqual(['checkout']);

        const changes = (await store.listAudit(null, 20)).filter((event) => event.type !== 'decision');
        expect(changes.map((event) => [event.type, event.actor, event.severity, event.data])).toEqual([
          ['kill_switch_changed', 'root', 'info', { enabled: null, previous: false, reason: 'over' }],
          ['mode_changed', 'root', 'info', { mode: 'dry-run', previous: null, reason: 'watch it' }],
          ['kill_switch_changed', 'root', 'warning', { enabled: false, previous: null, reason: 'INC-1' }],
        ]);
        expect(await store.outboxBacklog()).toBe(3);
      });

      it('lists the targets that wait for a person', async () => {
        await store.recordDecision(
          request({ decide: () => draft({ action: 'rollback', reason: 'ROLLBACK', wouldRollback: true }) }),
        );
        const job = (await store.claimJob('w1', T0, 30_000))!;
        await store.completeJob(
          job,
          {
            state: 'failed',
            fromRevision: null,
            toRevision: null,
            lkgRule: null,
            errorCode: 'INTERNAL',
            errorMessage: 'x',
          },
          { at: T0, step: 'failed', detail: {} },
          WINDOW,
        );
        expect([...(await store.controlOverview()).blocks]).toEqual([
          ['checkout', { decisionId: job.decisionId, why: 'rollback_failed' }],
        ]);
      });
    });
  });
}
