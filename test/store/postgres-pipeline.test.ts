import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { auditHash, canonicalJson, verifyAuditChain } from '../../src/audit/chain.ts';
import type { GuardedDriver } from '../../src/store/driver.ts';
import { openPostgresDriver } from '../../src/store/postgres.ts';
import { AUDIT_COLUMNS } from '../../src/store/sql/shared.ts';
import type { Store } from '../../src/store/store.ts';
import { alertFor, T0 } from '../helpers/decision-requests.ts';
import { until } from '../helpers/poll.ts';
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
    'decides a batch of %i alerts for %j in 2 round trips, audited on a chain that verifies',
    async (size, targets) => {
      db = await createTestSchema();
      store = await db.openStore();
      // Each target's rollback first, so the batch measured is the flood that follows it: all in cooldown.
      for (const [i, target] of targets.entries())
        await store.recordDecision(alertFor(`rt-inc-${-1 - i}`, target));
      const counter = countRoundTrips();
      const outcomes = await Promise.all(
        Array.from({ length: size }, (_, i) =>
          store!.recordDecision(alertFor(`rt-inc-${i}`, targets[i % targets.length]!)),
        ),
      );
      const trips = counter.trips;
      vi.restoreAllMocks();
      expect(outcomes.map((outcome) => outcome.decision.reason)).toEqual(Array(size).fill('COOLDOWN'));
      expect(trips).toBe(2);
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

describe('PostgreSQL decision batch against another append', () => {
  let db: TestSchema | undefined;
  let store: Store | undefined;
  let other: pg.Client | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await other?.end();
    await store?.close();
    await db?.drop();
    other = undefined;
    store = undefined;
    db = undefined;
  });

  it('is made again, and the next batches too, with the chain head locked when another transaction appends after the batch read the head', async () => {
    db = await createTestSchema();
    store = await db.openStore();
    await store.recordDecision(alertFor('rt-inc--1'));
    // Another writer, as another replica's job would, appends a row and keeps its transaction open.
    other = new pg.Client({ connectionString: db.url, options: `-c search_path=${db.schema}` });
    await other.connect();
    await other.query('BEGIN');
    const head = (await other.query('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE')).rows[0];
    const row = {
      seq: Number(head.seq) + 1,
      at: T0.getTime(),
      type: 'control_changed',
      severity: 'info',
      target: null,
      decisionId: null,
      actor: 'someone',
      data: canonicalJson({}),
    };
    const hash = auditHash(row, head.hash);
    await other.query(
      `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [...Object.values(row), head.hash, hash],
    );
    await other.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [row.seq, hash]);

    const decided = store.recordDecision(alertFor('rt-inc-1'));
    // The batch read the head the other writer is moving, and now waits for it at its own append.
    await until(async () => {
      const waiting = await db!.query(
        "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE audit_head%'",
      );
      return waiting.length > 0;
    }, 'the batch to wait for the chain head');
    await other.query('COMMIT');

    const outcome = await decided;
    expect(outcome.decision.reason).toBe('COOLDOWN');
    const rows = await db.query('SELECT seq::int AS seq, type, decision_id FROM audit_log ORDER BY seq');
    expect(rows).toEqual([
      { seq: 1, type: 'decision', decision_id: expect.any(String) },
      { seq: 2, type: 'control_changed', decision_id: null },
      { seq: 3, type: 'decision', decision_id: outcome.decision.id },
    ]);
    const chain = await verifyAuditChain({
      rows: (after, limit) => store!.auditRows(after, limit),
      head: () => store!.auditHead(),
    });
    expect(chain).toEqual({ ok: true, rows: 3 });

    // While others append as busily, the next batches lock the head up front: three round trips that cannot lose.
    const counter = countRoundTrips();
    await store.recordDecision(alertFor('rt-inc-2'));
    expect(counter.trips).toBe(3);
  });
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
