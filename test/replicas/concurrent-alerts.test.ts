import { describe, it } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { GOOD_REVISION, servingSplit } from '../helpers/emulator.ts';
import { sleep } from '../helpers/poll.ts';
import { type AlertResult, postAlert, viewerGet, waitForTerminal } from '../helpers/process.ts';
import { postgresUnderTest } from '../helpers/store-under-test.ts';
import { replicaWorld } from './support.ts';

const DISTINCT_INCIDENTS = 60;
const REDELIVERED = 40;

describe('two lastgood processes on one PostgreSQL database, no load balancer', () => {
  it('turns 100 concurrent alerts for one target into exactly one rollback and one UpdateService', async ({
    expect,
    onTestFinished,
  }) => {
    const { emulator, store, start } = await replicaWorld({ onTestFinished }, postgresUnderTest);
    // Started together, so they also race to migrate the empty schema.
    const replicas = await Promise.all([start('replica-a'), start('replica-b')]);

    // 60 incidents of one target; 40 of them are delivered twice, the copy to the other replica.
    const incidents = Array.from({ length: DISTINCT_INCIDENTS }, (_, index) => ({
      index,
      payload: burnRateAlert({ incidentId: `0.race-${index}`, target: 'checkout', burnRate: 18.2 }),
    }));
    const sends = incidents.flatMap(({ index, payload }) => [
      { index, payload, replica: replicas[index % 2]! },
      ...(index < REDELIVERED ? [{ index, payload, replica: replicas[(index + 1) % 2]! }] : []),
    ]);
    expect(sends).toHaveLength(100);
    shuffle(sends);

    const results = await Promise.all(
      sends.map(async (send) => ({ ...send, result: await postAlert(send.replica.url, send.payload) })),
    );

    const refused = results.filter(({ result }) => result.status !== 200 && result.status !== 202);
    expect(refused.map(({ result }) => describeResult(result))).toEqual([]);
    for (const replica of replicas) {
      expect(results.filter((send) => send.replica === replica)).toHaveLength(50);
    }
    // Per incident: one 202 with the new ids; every redelivery a 200 carrying those same ids.
    for (const { index } of incidents) {
      const answers = results.filter((send) => send.index === index).map(({ result }) => result);
      const created = answers.filter((answer) => answer.status === 202);
      const redelivered = answers.filter((answer) => answer.status === 200);
      expect(created).toHaveLength(1);
      expect(redelivered).toHaveLength(index < REDELIVERED ? 1 : 0);
      for (const answer of redelivered) {
        expect(answer.body).toMatchObject({
          duplicate: true,
          alertId: created[0]!.body!.alertId,
          decisionId: created[0]!.body!.decisionId,
        });
      }
    }
    const rollbacks = results.filter(
      ({ result }) => result.status === 202 && result.body?.reason === 'ROLLBACK',
    );
    expect(rollbacks).toHaveLength(1);
    const decisionId = rollbacks[0]!.result.body!.decisionId!;

    const done = await waitForTerminal(replicas[0]!.url, decisionId);
    expect(done.rollback).toMatchObject({ state: 'succeeded', toRevision: GOOD_REVISION });
    // A few job polls more, so a second job (there must be none) would have been picked up by now.
    await sleep(300);
    expect(emulator.calls.count('UpdateService')).toBe(1);
    expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });

    expect(
      await store.query(
        'SELECT action, CAST(COUNT(*) AS INTEGER) AS n FROM decisions GROUP BY action ORDER BY action',
      ),
    ).toEqual([
      { action: 'none', n: DISTINCT_INCIDENTS - 1 },
      { action: 'rollback', n: 1 },
    ]);
    expect(await store.query('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM alerts')).toEqual([
      { n: DISTINCT_INCIDENTS },
    ]);
    expect(await store.query('SELECT decision_id, state FROM rollbacks')).toEqual([
      { decision_id: decisionId, state: 'succeeded' },
    ]);
    // Both replicas read the same store: the other one tells the same story.
    const seenByOther = await viewerGet<{ rollback: { state: string } }>(
      replicas[1]!.url,
      `/rollback/status/${decisionId}`,
    );
    expect(seenByOther.rollback.state).toBe('succeeded');
  });
});

function describeResult(result: AlertResult): string {
  return result.error ?? `${result.status} ${JSON.stringify(result.body)}`;
}

/** Fisher-Yates, so duplicates and first deliveries arrive interleaved. */
function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
