import { describe, it, vi } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { until } from '../helpers/poll.ts';
import { type AlertResult, postAlert, recentAlerts } from '../helpers/process.ts';
import { postgresUnderTest, sqliteUnderTest } from '../helpers/store-under-test.ts';
import { replicaWorld } from './support.ts';

/** Requests kept in flight at once, so the kill always lands on some of them. */
const CONCURRENCY = 16;
/** Acknowledged alerts to wait for before the kill. */
const ACKED_BEFORE_KILL = 150;

// Two stores at once, each a lastgood process under alert load and a restart, on a loaded machine: the suite's
// longest files run side by side, and 30 s was once the whole margin (28 s seen).
vi.setConfig({ testTimeout: 60_000 });

describe.concurrent.each([
  { kind: 'PostgreSQL', open: postgresUnderTest },
  { kind: 'SQLite (WAL, synced before the answer)', open: async () => sqliteUnderTest() },
])('kill -9 in the middle of an alert burst, on $kind', ({ open }) => {
  it('has every alert it acknowledged with a 2xx in the store after a restart', async ({
    expect,
    onTestFinished,
  }) => {
    const world = await replicaWorld({ onTestFinished }, open);
    const first = await world.start('intake-1');

    // `payments` is in dry-run: every alert is stored and decided, and nothing calls Google.
    const results: AlertResult[] = [];
    let sent = 0;
    const sender = async () => {
      for (;;) {
        const n = sent++;
        const result = await postAlert(
          first.url,
          burnRateAlert({ incidentId: `0.burst-${n}`, target: 'payments' }),
        );
        results.push(result);
        if (result.status === null) return;
      }
    };
    const senders = Promise.all(Array.from({ length: CONCURRENCY }, sender));
    await until(
      () => results.filter((result) => result.status === 202).length >= ACKED_BEFORE_KILL,
      `${ACKED_BEFORE_KILL} acknowledged alerts`,
    );
    const killedAt = performance.now();
    await first.kill9();
    await senders;

    const acked = results.filter((result) => result.status === 202);
    const cutOff = results.filter((result) => result.status === null && result.sentAt < killedAt);
    expect(results.filter((result) => result.status !== null && result.status !== 202)).toEqual([]);
    expect(acked.length).toBeGreaterThanOrEqual(ACKED_BEFORE_KILL);
    // The kill landed mid-burst: requests were on the wire when the process died.
    expect(cutOff.length).toBeGreaterThanOrEqual(1);

    const second = await world.start('intake-2');
    const stored = new Set((await recentAlerts(second.url)).map((alert) => alert.id));
    const missing = acked.map((result) => result.body!.alertId!).filter((id) => !stored.has(id));
    expect(missing).toEqual([]);
    // Alert and decision are one transaction: the crash left no alert without its decision.
    expect(
      await world.store.query(
        'SELECT CAST(COUNT(*) AS INTEGER) AS n FROM alerts a LEFT JOIN decisions d ON d.alert_id = a.id WHERE d.id IS NULL',
      ),
    ).toEqual([{ n: 0 }]);
    // Requests cut off by the kill may or may not have committed; nothing beyond them was stored.
    expect(stored.size).toBeGreaterThanOrEqual(acked.length);
    expect(stored.size).toBeLessThanOrEqual(acked.length + cutOff.length);
  });
});
