import { status as grpcStatus } from '@grpc/grpc-js';
import { describe, it } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { CHECKOUT, GOOD_REVISION, servingSplit } from '../helpers/emulator.ts';
import { sleep, until } from '../helpers/poll.ts';
import {
  type LastgoodProcess,
  postAlert,
  type StatusBody,
  viewerGet,
  waitForTerminal,
} from '../helpers/process.ts';
import { dedicatedPostgresUnderTest, postgresUnderTest } from '../helpers/store-under-test.ts';
import { ADMIN_TOKEN } from '../helpers/tokens.ts';
import { mutatingCalls, replicaWorld } from './support.ts';

/** Longer than the lease (2 s) and shorter than the UpdateService call (8 s) it happens during. */
const OUTAGE_MS = 5_000;
const CALL_MS = 8_000;

async function fireRollback(replica: LastgoodProcess): Promise<string> {
  const answer = await postAlert(replica.url, burnRateAlert({ target: 'checkout', service: 'checkout' }));
  if (answer.status !== 202 || answer.body?.reason !== 'ROLLBACK') {
    throw new Error(`expected a 202 ROLLBACK, got ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.body.decisionId!;
}

function steps(status: StatusBody): string[] {
  return status.timeline.map((event) => event.step);
}

describe.concurrent('PostgreSQL refuses connections for longer than the lease during an UpdateService', () => {
  for (const replicas of [1, 2]) {
    it(`${replicas} process(es): one traffic change, one google_mutation, and the stored outcome matches Google`, async ({
      expect,
      onTestFinished,
    }) => {
      const db = await dedicatedPostgresUnderTest();
      const world = await replicaWorld({ onTestFinished }, async () => db);
      const { emulator } = world;
      // The call outlives the lease but not its own deadline: it lands, late.
      const env = { LASTGOOD_JOB_LEASE: '2s', LASTGOOD_GOOGLE_DEADLINE: '15s' };
      const processes = await Promise.all(
        ['replica-a', 'replica-b'].slice(0, replicas).map((name) => world.start(name, env)),
      );
      emulator.faults.inject({ kind: 'latency', method: 'UpdateService', ms: CALL_MS });
      const decisionId = await fireRollback(processes[0]!);

      await until(
        () => emulator.calls.list({ method: 'UpdateService' }).some((call) => call.code === null),
        'UpdateService to be sent',
      );
      await db.refuseConnections();
      await sleep(OUTAGE_MS);
      await db.allowConnections();

      const done = await waitForTerminal(processes[0]!.url, decisionId, 30_000);
      // Let any second run of the job (the defect) reach Google and the store before looking.
      await until(
        () => emulator.calls.list().every((call) => call.code !== null),
        'no Google call in flight',
        { timeoutMs: 20_000 },
      );
      await sleep(1_000);
      const final = await viewerGet<StatusBody>(processes[0]!.url, `/rollback/status/${decisionId}`);

      expect(mutatingCalls(emulator, 'UpdateService').map((call) => call.code)).toEqual([grpcStatus.OK]);
      expect(servingSplit(emulator)).toEqual({ [GOOD_REVISION]: 100 });
      expect(done.rollback).toMatchObject({ state: 'succeeded', toRevision: GOOD_REVISION, error: null });
      expect(final.rollback).toEqual(done.rollback);
      // The announced call held the job: nobody, its own process included, claimed it again mid-call.
      expect(steps(final)).not.toContain('job_taken_over');
      expect(steps(final).filter((step) => step === 'api_call_issued')).toHaveLength(1);
      expect(steps(final).at(-1)).toBe('succeeded');
      const mutations = await db.query(
        "SELECT data FROM audit_log WHERE type = 'google_mutation' AND decision_id = ?",
        [decisionId],
      );
      expect(mutations).toHaveLength(1);
      expect(await db.job(decisionId)).toMatchObject({ state: 'done' });
    }, 90_000);
  }
});

describe('the kill switch turned off while a claimed job reads the service', () => {
  it('stops the rollback before UpdateService: it ends skipped KILL_SWITCH and traffic is untouched', async ({
    expect,
    onTestFinished,
  }) => {
    const world = await replicaWorld({ onTestFinished }, postgresUnderTest);
    const { emulator } = world;
    const replica = await world.start('replica-a', { LASTGOOD_GOOGLE_DEADLINE: '10s' });
    const before = servingSplit(emulator);
    emulator.faults.inject({ kind: 'latency', method: 'GetService', ms: 3_000 });
    const decisionId = await fireRollback(replica);

    await until(
      () => emulator.calls.list({ method: 'GetService' }).some((call) => call.code === null),
      'the job to be reading the service',
    );
    const off = await fetch(`${replica.url}/v1/kill-switch`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false, reason: 'INC-7 stop everything' }),
    });
    expect(off.status).toBe(200);
    expect(emulator.calls.list({ method: 'GetService' }).some((call) => call.code === null)).toBe(true);

    const done = await waitForTerminal(replica.url, decisionId);
    expect(done.rollback).toMatchObject({ state: 'skipped', error: { code: 'KILL_SWITCH' } });
    expect(steps(done)).not.toContain('api_call_issued');
    expect(mutatingCalls(emulator, 'UpdateService')).toEqual([]);
    expect(servingSplit(emulator, CHECKOUT)).toEqual(before);
  }, 60_000);
});
