import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parsePolicyFile } from '../../src/config/policy.ts';
import { decide } from '../../src/domain/decide.ts';
import type { Decision, PastRollback, Signal } from '../../src/domain/types.ts';
import {
  cloudMonitoringPayloadSchema,
  signalFromCloudMonitoring,
} from '../../src/ingest/cloud-monitoring.ts';
import { newId } from '../../src/store/ids.ts';
import { openStore } from '../../src/store/index.ts';
import { alertJson, jsonWithIncident } from './alerts.ts';

const POLICY_FILE = new URL('../../examples/lastgood.yaml', import.meta.url).pathname;
const HOUR_MS = 3_600_000;
/** One alert in this many is the first of its incident and rolls its target back; the rest are refused. */
const ROLLBACK_EVERY = 50;
const TARGETS = 40;
const ROWS_PER_TRANSACTION = 20_000;

/** The steps a successful Cloud Run rollback records after its decision, as the executor writes them. */
const ROLLBACK_STEPS: readonly { step: string; afterMs: number; detail: Record<string, unknown> }[] = [
  { step: 'job_claimed', afterMs: 2, detail: { worker: 'bench-seed', attempt: 1 } },
  { step: 'service_read', afterMs: 4, detail: { traffic: { 'svc-00002-bad': 100 }, etag: '"e1"' } },
  {
    step: 'lkg_selected',
    afterMs: 6,
    detail: {
      revision: 'svc-00001-good',
      rule: 'previous_ready',
      explanation: 'newest ready revision older',
    },
  },
  { step: 'api_call_issued', afterMs: 7, detail: { method: 'UpdateService', etag: '"e1"' } },
  { step: 'operation_done', afterMs: 40, detail: { operation: 'operations/bench' } },
  { step: 'verified', afterMs: 45, detail: { traffic: { 'svc-00001-good': 100 } } },
  { step: 'succeeded', afterMs: 46, detail: { fromRevision: 'svc-00002-bad', toRevision: 'svc-00001-good' } },
];

/** A decision exactly as the engine makes it for a burn-rate alert: one for a rollback, one for a cooldown. */
function decisionTemplates(now: Date): [Decision, Decision] {
  const target = parsePolicyFile(readFileSync(POLICY_FILE, 'utf8'), POLICY_FILE).get('checkout');
  if (target === undefined) throw new Error(`${POLICY_FILE} has no checkout target`);
  const recent: PastRollback = {
    decisionId: 'dec_x',
    decidedAt: new Date(now.getTime() - 60_000),
    state: 'succeeded',
  };
  const signal = signalOf(alertJson('checkout')('template'));
  const deployment = { target: 'checkout', enabled: true };
  return [
    decide(signal, target.policy, { rollbacks: [] }, deployment, now),
    decide(signal, target.policy, { rollbacks: [recent] }, deployment, now),
  ];
}

function signalOf(body: string): Signal {
  return signalFromCloudMonitoring(cloudMonitoringPayloadSchema.parse(JSON.parse(body)), 'cloud-monitoring')
    .signal;
}

/** Each target's alert body and stored signal, as JSON with the incident id spliced in. */
function targetRows(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const name = `svc-${String(i).padStart(4, '0')}`;
    const body = alertJson(name);
    const signal = signalOf(body('template'));
    return { name, body, signal: jsonWithIncident((incidentId) => ({ ...signal, incidentId })) };
  });
}

/**
 * Appends `count` alerts, each with its decision and timeline, to the SQLite store at `dataDir` (created and
 * migrated by `openStore` if new), received evenly from `from` to `until`. The rows are what lastgood writes for a
 * real burn-rate alert, bulk-inserted with prepared statements in large transactions. Loading is not durable
 * (no journal, synchronous=OFF): a crash means generating again, nothing more.
 */
export async function seedAlerts(options: {
  dataDir: string;
  count: number;
  /** Distinguishes the incidents of one load from another's, as their dedupe keys must differ. */
  incidentPrefix: string;
  from: number;
  until: number;
  onProgress: (done: number) => void;
}): Promise<void> {
  await (await openStore({ dataDir: options.dataDir, databaseUrl: null })).close();
  const db = new DatabaseSync(join(options.dataDir, 'lastgood.db'));
  db.exec('PRAGMA journal_mode = OFF');
  db.exec('PRAGMA synchronous = OFF');
  db.exec('PRAGMA cache_size = -262144');
  const insertAlert = db.prepare(
    `INSERT INTO alerts (id, dedupe_key, source, incident_id, state, target_name, received_at, signal, raw_body)
      VALUES (?, ?, 'cloud-monitoring', ?, 'open', ?, ?, ?, ?)`,
  );
  const insertDecision = db.prepare(
    `INSERT INTO decisions (id, alert_id, target_name, action, reason, confidence, factors, mode, would_rollback,
      next_eligible_at, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'auto', ?, ?, ?)`,
  );
  const insertEvent = db.prepare(
    'INSERT INTO timeline (id, decision_id, at, step, detail) VALUES (?, ?, ?, ?, ?)',
  );
  const insertRollback = db.prepare(
    `INSERT INTO rollbacks (decision_id, target_name, state, from_revision, to_revision, lkg_rule, created_at,
      updated_at, finished_at) VALUES (?, ?, 'succeeded', 'svc-00002-bad', 'svc-00001-good', 'previous_ready', ?, ?, ?)`,
  );
  const decisions = decisionTemplates(new Date(options.until)).map((decision) => ({
    ...decision,
    factorsJson: JSON.stringify(decision.factors),
  }));
  const targets = targetRows(TARGETS);
  const step = (options.until - options.from) / options.count;
  const decidedDetail = (decision: Decision) =>
    JSON.stringify({ action: decision.action, reason: decision.reason, confidence: decision.confidence });

  for (let start = 0; start < options.count; start += ROWS_PER_TRANSACTION) {
    db.exec('BEGIN');
    for (let i = start; i < Math.min(options.count, start + ROWS_PER_TRANSACTION); i++) {
      const receivedAt = Math.floor(options.from + i * step);
      const target = targets[i % TARGETS]!;
      // Zero-padded, so the dedupe index is appended to rather than reshuffled: generation stays linear.
      const incident = `${options.incidentPrefix}-${String(i).padStart(9, '0')}`;
      const alertId = newId('alt', receivedAt);
      const decisionId = newId('dec', receivedAt);
      const decision = decisions[i % ROLLBACK_EVERY === 0 ? 0 : 1]!;
      insertAlert.run(
        alertId,
        `${incident}:open`,
        incident,
        target.name,
        receivedAt,
        target.signal(incident),
        target.body(incident),
      );
      insertDecision.run(
        decisionId,
        alertId,
        target.name,
        decision.action,
        decision.reason,
        decision.confidence,
        decision.factorsJson,
        decision.wouldRollback ? 1 : 0,
        decision.nextEligibleAt === null ? null : receivedAt + HOUR_MS / 2,
        receivedAt,
      );
      insertEvent.run(
        newId('evt', receivedAt),
        decisionId,
        receivedAt,
        'alert_received',
        JSON.stringify({ alertId, source: 'cloud-monitoring', incidentId: incident }),
      );
      insertEvent.run(newId('evt', receivedAt), decisionId, receivedAt, 'decided', decidedDetail(decision));
      if (decision.action === 'rollback') {
        const finishedAt = receivedAt + ROLLBACK_STEPS.at(-1)!.afterMs;
        insertRollback.run(decisionId, target.name, receivedAt, finishedAt, finishedAt);
        for (const { step: name, afterMs, detail } of ROLLBACK_STEPS) {
          insertEvent.run(
            newId('evt', receivedAt + afterMs),
            decisionId,
            receivedAt + afterMs,
            name,
            JSON.stringify(detail),
          );
        }
      }
    }
    db.exec('COMMIT');
    options.onProgress(Math.min(options.count, start + ROWS_PER_TRANSACTION));
  }
  db.exec('PRAGMA journal_mode = WAL');
  db.close();
  // Written without syncing, the rows may still be gigabytes of dirty pages: flushed now, their writeback
  // cannot stall the requests the bench is about to time.
  const file = openSync(join(options.dataDir, 'lastgood.db'), 'r+');
  try {
    fsyncSync(file);
  } finally {
    closeSync(file);
  }
}

/** Deletes every alert received after `after`, with its decision, rollback and timeline. */
export function deleteAlertsAfter(dataDir: string, after: number): void {
  const db = new DatabaseSync(join(dataDir, 'lastgood.db'));
  try {
    db.exec('BEGIN');
    const newer = 'SELECT id FROM decisions WHERE decided_at > ?';
    db.prepare(`DELETE FROM timeline WHERE decision_id IN (${newer})`).run(after);
    db.prepare(`DELETE FROM rollbacks WHERE decision_id IN (${newer})`).run(after);
    db.prepare('DELETE FROM decisions WHERE decided_at > ?').run(after);
    db.prepare('DELETE FROM alerts WHERE received_at > ?').run(after);
    db.exec('COMMIT');
  } finally {
    db.close();
  }
}
