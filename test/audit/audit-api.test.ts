import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bearer,
  fireAlert,
  OPERATOR_TOKEN,
  startTestApp,
  type TestApp,
  type TestAppOptions,
  VIEWER_TOKEN,
  waitForRollback,
} from '../helpers/app.ts';
import { startExampleEmulator } from '../helpers/emulator.ts';
import { createTestSchema } from '../helpers/postgres.ts';

/** A store the audit log can live on: the options that select it, and a way to edit it behind lastgood's back. */
interface AuditStore {
  options: TestAppOptions;
  edit(app: TestApp, sql: string): Promise<void>;
  drop(): Promise<void>;
}

const STORES: [string, () => Promise<AuditStore>][] = [
  [
    'SQLite',
    async () => ({
      options: {},
      edit: async (app, sql) => {
        const db = new DatabaseSync(join(app.dataDir, 'lastgood.db'));
        try {
          db.exec(sql);
        } finally {
          db.close();
        }
      },
      drop: async () => {},
    }),
  ],
  [
    'PostgreSQL',
    async () => {
      const db = await createTestSchema();
      return {
        options: { openStore: () => db.openStore() },
        edit: async (_app, sql) => {
          await db.query(sql);
        },
        drop: () => db.drop(),
      };
    },
  ],
];

let t: TestApp | null = null;
let drop: (() => Promise<void>) | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
  await drop?.();
  drop = null;
});

async function get(app: TestApp, url: string, token = VIEWER_TOKEN) {
  return app.app.server.inject({ method: 'GET', url, headers: bearer(token) });
}

describe('GET /v1/audit', () => {
  it('pages through the log newest first, each row linked to the one before', async () => {
    t = await startTestApp();
    const first = await fireAlert(t);
    await fireAlert(t, { burnRate: 1 });
    await t.app.server.inject({
      method: 'POST',
      url: `/alerts/${first.alertId}/acknowledge`,
      headers: bearer(OPERATOR_TOKEN),
    });
    const page1 = await get(t, '/v1/audit?limit=2');
    expect(page1.statusCode).toBe(200);
    const body1 = page1.json();
    expect(body1.items.map((item: { seq: number; type: string }) => [item.seq, item.type])).toEqual([
      [3, 'alert_acknowledged'],
      [2, 'decision'],
    ]);
    expect(body1.items[0]).toMatchObject({ actor: 'alice', data: { alertId: first.alertId } });
    expect(body1.items[0].prevHash).toBe(body1.items[1].hash);
    const page2 = (await get(t, `/v1/audit?limit=2&cursor=${body1.nextCursor}`)).json();
    expect(page2.items).toHaveLength(1);
    expect(page2.items[0]).toMatchObject({
      seq: 1,
      type: 'decision',
      decisionId: first.decisionId,
      actor: 'lastgood',
      data: { reason: 'ROLLBACK' },
      prevHash: '0'.repeat(64),
    });
    expect(page2.nextCursor).toBeNull();
  });

  it('refuses a bad cursor and a caller without a token', async () => {
    t = await startTestApp();
    expect((await get(t, '/v1/audit?cursor=abc')).statusCode).toBe(400);
    expect((await get(t, '/v1/audit?limt=5')).statusCode).toBe(400);
    expect((await t.app.server.inject({ method: 'GET', url: '/v1/audit/verify' })).statusCode).toBe(401);
  });
});

describe.each(STORES)('GET /v1/audit/verify on %s', (_name, openStore) => {
  it('says the chain is intact, then names the row someone edited in the database', async () => {
    const store = await openStore();
    drop = store.drop;
    t = await startTestApp(store.options);
    for (let i = 0; i < 3; i++) await fireAlert(t, { burnRate: 1 });
    expect((await get(t, '/v1/audit/verify')).json()).toEqual({ ok: true, rows: 3 });

    await store.edit(t, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2");
    const broken = await get(t, '/v1/audit/verify');
    expect(broken.statusCode).toBe(200);
    expect(broken.json()).toMatchObject({
      ok: false,
      rows: 2,
      firstBrokenRow: { seq: 2, problem: 'content', expectedHash: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(broken.json().firstBrokenRow.storedHash).not.toBe(broken.json().firstBrokenRow.expectedHash);
  });
});

describe('Google mutations in the audit log', () => {
  it('records the rollback call and the pipeline freeze, and who unfroze it', async () => {
    const emulator = await startExampleEmulator({
      adminPort: null,
      operationDelayMs: 10,
      rolloutPhaseDelayMs: 20,
    });
    try {
      t = await startTestApp({ emulatorHost: emulator.host });
      const accepted = await fireAlert(t, { target: 'storefront', service: 'storefront', burnRate: 30 });
      expect((await waitForRollback(t.store, accepted.decisionId)).rollback?.state).toBe('succeeded');
      const unfrozen = await t.app.server.inject({
        method: 'POST',
        url: '/v1/targets/storefront/unfreeze',
        headers: bearer(OPERATOR_TOKEN),
      });
      expect(unfrozen.statusCode).toBe(200);
      const mutations = (await t.store.listAudit(null, 50))
        .filter((event) => event.type === 'google_mutation')
        .reverse()
        .map((event) => [event.actor, event.data.step, event.data.method ?? null]);
      expect(mutations).toEqual([
        ['lastgood', 'api_call_issued', 'RollbackTarget'],
        ['lastgood', 'pipeline_frozen', 'UpdateDeliveryPipeline'],
        ['alice', 'pipeline_unfrozen', 'UpdateDeliveryPipeline'],
      ]);
      expect((await get(t, '/v1/audit/verify')).json()).toMatchObject({ ok: true });
    } finally {
      await t?.close();
      t = null;
      await emulator.stop();
    }
  });
});
