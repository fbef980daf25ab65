import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { verifyAuditChain } from '../../src/audit/chain.ts';
import type { TargetHistory } from '../../src/domain/types.ts';
import type { GuardedDriver } from '../../src/store/driver.ts';
import { openPostgresDriver } from '../../src/store/postgres.ts';
import type { DecisionDraft, DecisionRequest, Store } from '../../src/store/store.ts';
import { createTestSchema, type TestSchema } from '../helpers/postgres.ts';

/**
 * Counts round trips on every pg connection: a query sent while none of its connection's earlier queries is still
 * unanswered is a new round trip; one sent while some are in flight travels with them (pipelined).
 */
function countRoundTrips(): { readonly trips: number } {
  const inFlight = new WeakMap<pg.Client, number>();
  const counter = { trips: 0 };
  const query = pg.Client.prototype.query;
  vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: unknown[]) {
    const sent = inFlight.get(this) ?? 0;
    if (sent === 0) counter.trips += 1;
    inFlight.set(this, sent + 1);
    const answered = () => inFlight.set(this, (inFlight.get(this) ?? 1) - 1);
    const callback = args.findIndex((arg) => typeof arg === 'function');
    if (callback !== -1) {
      const given = args[callback] as (...results: unknown[]) => void;
      args[callback] = (...results: unknown[]) => {
        answered();
        given(...results);
      };
    }
    const result = (query as (...a: unknown[]) => unknown).apply(this, args);
    if (callback === -1) void (result as Promise<unknown>).then(answered, answered);
    return result;
  } as typeof query);
  return counter;
}

const T0 = new Date('2026-11-23T12:00:00Z');

function draft(overrides: Partial<DecisionDraft>): DecisionDraft {
  return {
    action: 'none',
    reason: 'COOLDOWN',
    confidence: 0.9,
    factors: [],
    target: 'checkout',
    nextEligibleAt: null,
    wouldRollback: false,
    mode: 'auto',
    requestedBy: null,
    requestedRevision: null,
    ...overrides,
  };
}

const rollbackWhenNoHistory = (history: TargetHistory) =>
  history.rollbacks.length === 0
    ? draft({ action: 'rollback', reason: 'ROLLBACK', wouldRollback: true })
    : draft({ reason: 'COOLDOWN' });

function alertFor(i: number, targetName: string): DecisionRequest {
  const incidentId = `rt-inc-${i}`;
  return {
    alert: {
      source: 'cloud-monitoring',
      dedupeKey: `${incidentId}:open`,
      receivedAt: T0,
      targetName,
      rawBody: '{}',
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
        targetLabel: targetName,
        serviceName: targetName,
        summary: 's',
        url: null,
      },
    },
    targetName,
    historySince: new Date(T0.getTime() - 3_600_000),
    now: T0,
    decide: rollbackWhenNoHistory,
  };
}

describe('PostgreSQL round trips of a decision batch', () => {
  let db: TestSchema | undefined;
  let store: Store | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await store?.close();
    await db?.drop();
    store = undefined;
    db = undefined;
  });

  it.each([
    [1, ['checkout']],
    [40, ['checkout']],
    [40, ['checkout', 'cart', 'search']],
  ])(
    'decides a batch of %i alerts for %j in 3 round trips, audited on a chain that verifies',
    async (size, targets) => {
      db = await createTestSchema();
      store = await db.openStore();
      // Each target's rollback first, so the batch measured is the flood that follows it: all in cooldown.
      for (const [i, target] of targets.entries()) await store.recordDecision(alertFor(-1 - i, target));
      const counter = countRoundTrips();
      const outcomes = await Promise.all(
        Array.from({ length: size }, (_, i) =>
          store!.recordDecision(alertFor(i, targets[i % targets.length]!)),
        ),
      );
      const trips = counter.trips;
      vi.restoreAllMocks();
      expect(outcomes.map((outcome) => outcome.decision.reason)).toEqual(Array(size).fill('COOLDOWN'));
      expect(trips).toBe(3);
      const rows = await db.query('SELECT count(*)::int AS n FROM audit_log');
      expect(rows[0]!.n).toBe(targets.length + size);
      const chain = await verifyAuditChain({
        rows: (after, limit) => store!.auditRows(after, limit),
        head: () => store!.auditHead(),
      });
      expect(chain).toEqual({ ok: true, rows: targets.length + size });
    },
  );
});

describe('PostgreSQL transaction pipeline', () => {
  let db: TestSchema | undefined;
  let driver: GuardedDriver | undefined;
  afterEach(async () => {
    await driver?.close();
    await db?.drop();
    driver = undefined;
    db = undefined;
  });

  async function openDriver(): Promise<GuardedDriver> {
    db = await createTestSchema();
    driver = await openPostgresDriver(db.url, { schema: db.schema });
    await driver.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    return driver;
  }

  const insert = (id: number) => ({ sql: 'INSERT INTO t (id) VALUES (?)', params: [id] });

  it('throws the failed write, not the refusal of the read behind it, and commits nothing', async () => {
    const store = await openDriver();
    const failure = await store
      .transaction(async (tx) => {
        await tx.runAll([insert(1)]);
        await tx.runAll([insert(1)]);
        return tx.all('SELECT id FROM t');
      })
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: '23505' });
    expect(await store.all('SELECT id FROM t')).toEqual([]);
  });

  it('does not commit when the last write before COMMIT fails, and says why', async () => {
    const store = await openDriver();
    const failure = await store
      .transaction(async (tx) => {
        await tx.runAll([insert(1)]);
        await tx.runAll([insert(1)]);
      })
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: '23505' });
    expect(await store.all('SELECT id FROM t')).toEqual([]);
    // The connection went back to the pool clean: the next transaction commits.
    await store.transaction((tx) => tx.runAll([insert(2)]));
    expect(await store.all('SELECT id FROM t')).toEqual([{ id: 2 }]);
  });
});
