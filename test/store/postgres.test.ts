import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { numberPlaceholders } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/store.ts';
import { alertFor } from '../helpers/decision-requests.ts';
import { createTestSchema, type TestSchema } from '../helpers/postgres.ts';
import { storeContract } from './contract.ts';

storeContract('PostgreSQL', async () => {
  const db = await createTestSchema();
  let store = await db.openStore();
  return {
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = await db.openStore();
      return store;
    },
    async sql(statement, params = []) {
      let n = 0;
      await db.query(
        statement.replace(/\?/g, () => `$${++n}`),
        [...params],
      );
    },
    async rowCounts() {
      const tables = await db.query(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
        [db.schema],
      );
      const counts = await Promise.all(
        tables.map(async ({ table_name }) => {
          const [row] = await db.query(`SELECT count(*) AS n FROM "${String(table_name)}"`);
          return [String(table_name), Number(row?.n)] as const;
        }),
      );
      return Object.fromEntries(counts);
    },
    async destroy() {
      await store.close();
      await db.drop();
    },
  };
});

describe('numberPlaceholders', () => {
  it.each([
    ['SELECT ? , ?', 'SELECT $1 , $2'],
    ["SELECT '?', ? WHERE a = 'it''s ?'", "SELECT '?', $1 WHERE a = 'it''s ?'"],
    [String.raw`SELECT E'\'?', ?`, String.raw`SELECT E'\'?', $1`],
    ['SELECT "a?b", ?', 'SELECT "a?b", $1'],
    ['SELECT ? -- why?\n, ?', 'SELECT $1 -- why?\n, $2'],
    ['SELECT /* a /* nested? */ ? */ ?', 'SELECT /* a /* nested? */ ? */ $1'],
    ['SELECT $q$ ? $q$, $$?$$, ?', 'SELECT $q$ ? $q$, $$?$$, $1'],
  ])('leaves quoted and commented ? alone in %j', (sql, expected) => {
    expect(numberPlaceholders(sql)).toBe(expected);
  });
});

describe('PostgreSQL store shared by replicas', () => {
  let db: TestSchema | undefined;
  const stores: Store[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    // Unset when creating the schema failed: that error is the one to read.
    await db?.drop();
    db = undefined;
  });

  it('lets exactly one of 50 concurrent alerts roll back when they arrive at two replicas', async () => {
    db = await createTestSchema();
    stores.push(await db.openStore(), await db.openStore());
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, i) => stores[i % 2]!.recordDecision(alertFor(`pg-inc-${i}`))),
    );
    expect(outcomes.filter((outcome) => outcome.decision.action === 'rollback')).toHaveLength(1);
    const stats = await stores[0]!.decisionStats(new Date(0));
    expect(stats.byReason).toEqual({ ROLLBACK: 1, COOLDOWN: 49 });
    expect(stats.rollbacksByState).toEqual({ queued: 1 });
  });

  it('decides for several targets on two replicas at once, each target locked in turn, without deadlock', async () => {
    db = await createTestSchema();
    stores.push(await db.openStore(), await db.openStore());
    const targets = ['checkout', 'cart', 'search'];
    // Each replica gets its alerts in a different target order, so its batches name the targets differently.
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) => {
        const target = targets[(i % 2 === 0 ? i : 59 - i) % targets.length]!;
        const request = alertFor(`pg-inc-${i}`);
        return stores[i % 2]!.recordDecision({
          ...request,
          alert: { ...request.alert!, targetName: target },
          targetName: target,
        });
      }),
    );
    const rollbacks = outcomes.filter((outcome) => outcome.decision.action === 'rollback');
    expect(rollbacks.map((outcome) => outcome.decision.targetName).sort()).toEqual([...targets].sort());
  });

  it('applies each migration once when three replicas start on a fresh database together', async () => {
    db = await createTestSchema();
    // Start from no schema at all, so the replicas also race to create it.
    await db.drop();
    stores.push(...(await Promise.all([db.openStore(), db.openStore(), db.openStore()])));
    expect(await stores[2]!.listRecent({ since: new Date(0), limit: 1, action: null, cursor: null })).toEqual(
      [],
    );
    const applied = await db.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(applied.map((row) => row.version)).toEqual(MIGRATIONS.map((migration) => migration.version));
  });
});
