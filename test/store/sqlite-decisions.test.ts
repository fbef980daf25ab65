import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TargetHistory } from '../../src/domain/types.ts';
import { SqlStore } from '../../src/store/sql-store.ts';
import { openSqliteDriver, type SyncFile } from '../../src/store/sqlite.ts';
import type { DecisionDraft, DecisionOutcome, DecisionRequest } from '../../src/store/store.ts';
import { until } from '../helpers/poll.ts';

const T0 = new Date('2026-11-23T12:00:00Z');

/** Rolls back when the target has no rollback in its history, as the rate limit would. */
function decide(history: TargetHistory): DecisionDraft {
  const rollback = history.rollbacks.length === 0;
  return {
    action: rollback ? 'rollback' : 'none',
    reason: rollback ? 'ROLLBACK' : 'COOLDOWN',
    confidence: rollback ? 0.9 : 0,
    factors: [],
    target: 'checkout',
    nextEligibleAt: null,
    wouldRollback: rollback,
    mode: 'auto',
    requestedBy: null,
    requestedRevision: null,
  };
}

function request(incidentId: string): DecisionRequest {
  return {
    alert: {
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
        startedAt: T0,
        endedAt: null,
        targetLabel: 'checkout',
        serviceName: 'checkout',
        summary: 's',
        url: null,
      },
    },
    targetName: 'checkout',
    historySince: new Date(T0.getTime() - 3_600_000),
    now: T0,
    decide,
  };
}

/** WAL syncs that each wait until the test lets that one finish, once `hold()` is called. */
function heldSyncs() {
  let holding = false;
  const held: (() => void)[] = [];
  return {
    started: () => held.length,
    sync: (async () => {
      if (holding) await new Promise<void>((resolve) => held.push(resolve));
    }) satisfies SyncFile,
    hold: () => {
      holding = true;
    },
    /** Lets the `n`th held sync (from 1) finish. */
    finish: (n: number) => held[n - 1]!(),
    /** Holds no more, and lets every held sync finish. */
    releaseAll: () => {
      holding = false;
      for (const finish of held) finish();
    },
  };
}

/** A promise's state as of now, after everything already queued has run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('SQLite decision batches: the next batch is made while the last one is synced', () => {
  let dataDir: string;
  let store: SqlStore;
  let syncs: ReturnType<typeof heldSyncs>;
  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'lastgood-sqlite-decisions-'));
    syncs = heldSyncs();
    store = new SqlStore(openSqliteDriver(dataDir, syncs.sync));
    await store.migrate();
  });
  afterEach(async () => {
    syncs.releaseAll();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The incidents of the alerts committed to the file, as another connection reads them. */
  async function committedIncidents(): Promise<string[]> {
    const reader = openSqliteDriver(dataDir);
    try {
      const rows = await reader.all('SELECT dedupe_key FROM alerts ORDER BY dedupe_key');
      return rows.map((row) => String(row.dedupe_key).replace(/:open$/, ''));
    } finally {
      await reader.close();
    }
  }

  it('commits the second batch before the first one is synced, and answers each only after its own sync', async () => {
    syncs.hold();
    const first = store.recordDecision(request('inc-1'));
    await until(() => syncs.started() === 1, 'the first batch to commit and its sync to start');
    const second = store.recordDecision(request('inc-2'));
    await until(
      async () => (await committedIncidents()).includes('inc-2'),
      'the second batch to commit while the first is synced',
    );
    expect(await settled(first)).toBe(false);
    expect(await settled(second)).toBe(false);

    syncs.finish(1);
    const firstOutcome: DecisionOutcome = await first;
    expect(firstOutcome.decision.action).toBe('rollback');
    // The second batch's commit came after the first sync started: that sync does not make it durable.
    await until(() => syncs.started() === 2, 'the second batch to be synced');
    expect(await settled(second)).toBe(false);

    syncs.finish(2);
    // Decided on the first batch's rollback, committed but not yet synced when the second batch read it.
    expect((await second).decision.reason).toBe('COOLDOWN');
  });
});
