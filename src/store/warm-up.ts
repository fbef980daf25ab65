import { warmUpSignal } from '../domain/warm-up.ts';
import { readControls } from './controls.ts';
import { DecisionBatches } from './decisions.ts';
import type { SqlDriver } from './driver.ts';
import { recordProgress } from './jobs.ts';
import { decisionSignals, getStatus } from './queries.ts';
import { TIMELINE } from './sql/queries.ts';
import { ALERT_BY_ID } from './sql/shared.ts';
import type { DecisionOutcome, DecisionRequest } from './store.ts';
import { appendTimeline } from './timeline.ts';
import { incidentWindows, recordTrafficObservation, trafficHistory } from './traffic.ts';

/** A fixed time, far from any real alert: the warm-up reads no clock. */
const NOW = new Date(Date.UTC(2000, 0, 1, 12));
const WEEK_MS = 7 * 24 * 3_600_000;
/** Not a target name the policy file accepts (it has a space), so no row the warm-up reads belongs to a target. */
const TARGET = 'lastgood warm-up';

/**
 * A driver that reads from `db` and writes nowhere: each write is only prepared, as `db` would run it, and changes
 * no row. So code that writes runs its own JavaScript, its reads and its statements' preparation for real, and leaves
 * the store as it was. It takes no lock and opens no transaction of `db`'s: `transaction` runs the work on itself.
 */
function readOnly(db: SqlDriver): SqlDriver {
  const driver: SqlDriver = {
    dialect: db.dialect,
    all: (sql, params) => db.all(sql, params),
    run: async (sql, params = []) => {
      await db.prepare([{ sql, params }]);
      return 0;
    },
    runAll: (statements) => db.prepare(statements),
    prepare: (statements) => db.prepare(statements),
    exec: () => Promise.reject(new Error('the warm-up runs no scripts')),
    transaction: (work) => work(driver),
    lockTarget: async () => {},
    withMigrationLock: () => Promise.reject(new Error('the warm-up migrates nothing')),
    close: async () => {},
  };
  return driver;
}

/** A burn-rate alert on the made-up target, leased to a made-up worker so that its rollback's job is made too. */
function warmUpRequest(): DecisionRequest {
  const signal = warmUpSignal(TARGET, NOW);
  return {
    alert: {
      source: 'cloud-monitoring',
      dedupeKey: '0.lastgood-warm-up:open',
      receivedAt: NOW,
      targetName: TARGET,
      signal,
      rawBody: '{}',
    },
    targetName: TARGET,
    historySince: new Date(NOW.getTime() - 3_600_000),
    now: NOW,
    decide: () => ({
      action: 'rollback',
      reason: 'ROLLBACK',
      confidence: 0.9,
      factors: [{ name: 'error_rate', value: 0.0182, effect: 'threshold 0.01' }],
      target: TARGET,
      nextEligibleAt: null,
      wouldRollback: true,
      mode: 'auto',
      requestedBy: null,
      requestedRevision: null,
    }),
    leaseJob: () => ({ owner: 'lastgood warm-up', leaseMs: 60_000 }),
  };
}

/**
 * Runs the store's part of an alert's decision and of its rollback's first steps against a made-up target, reading
 * for real and writing nothing (see `readOnly`): a process's first decision and first rollback ran this code, and
 * prepared these statements, for the first time, on the first alert's way to its ack and to UpdateService. Answers
 * the made-up decision's outcome; throws if it made no job, since the warm-up would then run only a refusal's code.
 */
export async function warmUpStore(db: SqlDriver): Promise<DecisionOutcome> {
  const dry = readOnly(db);
  const outcome = await new DecisionBatches(dry).record(warmUpRequest());
  const { job } = outcome;
  if (job === null) throw new Error('the warm-up decision made no job; it would warm only a refusal');
  const since = new Date(NOW.getTime() - WEEK_MS);
  const step = { at: NOW, step: 'service_read', detail: { traffic: {}, etag: 'warm-up' } };
  // The rollback worker's and the executor's reads and writes before UpdateService, in the order they come.
  await Promise.all([
    getStatus(db, job.decisionId),
    // What getStatus reads next when the decision exists, as the job's does.
    db.prepare([ALERT_BY_ID, TIMELINE].map((sql) => ({ sql, params: [] }))),
    readControls(db, TARGET),
    trafficHistory(db, TARGET, since),
    incidentWindows(db, TARGET, since),
    decisionSignals(db, since, NOW, 1),
  ]);
  await Promise.all([
    recordTrafficObservation(dry, TARGET, { observedAt: NOW, fullRevision: null }),
    appendTimeline(dry, job.decisionId, step),
    // Unfenced, it reads the rollback's state; fenced, it renews the lease first, which changes nothing here.
    recordProgress(dry, job.decisionId, {}, [step]),
    recordProgress(dry, job.decisionId, {}, [step], {
      jobId: job.id,
      owner: job.leaseOwner,
      generation: job.generation,
      now: NOW,
      leaseMs: 60_000,
      permits: () => true,
    }),
  ]);
  return outcome;
}
