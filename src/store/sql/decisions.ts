// Decisions' SQL: what a decision is made from, read in one query, and the rows a decision writes.

import type { RollbackRecord } from '../../domain/rollback.ts';
import type { SqlValue, Statement } from '../driver.ts';
import type { AlertRecord, DecisionRecord, JobRecord } from '../store.ts';
import { ACTIVE_STATES, ALERT_COLUMNS, BLOCKING, repeatRow } from './shared.ts';

const NULL_TEXT = 'CAST(NULL AS TEXT)';

/**
 * One query for what a batch of decisions is made from: the alerts stored under `dedupeKeys`, each target's
 * rollbacks since its `historySince` (in ms) and any still active, the rollbacks blocking it, and the settings
 * under `settingKeys`. Each part is a branch of one UNION ALL with the same columns, `kind` saying what the row
 * is and `tag` whose it is; the NULLs are typed, as PostgreSQL needs.
 */
export function decisionInputs(
  dedupeKeys: readonly string[],
  historySince: ReadonlyMap<string, number>,
  settingKeys: readonly string[],
): Statement {
  const parts: string[] = [];
  const params: SqlValue[] = [];
  if (dedupeKeys.length > 0) {
    parts.push(`SELECT 'alert' AS kind, id, dedupe_key AS tag, CAST(NULL AS BIGINT) AS at, ${NULL_TEXT} AS state,
        ${NULL_TEXT} AS value, ${NULL_TEXT} AS reason, ${NULL_TEXT} AS changed_by
      FROM alerts WHERE dedupe_key IN (${repeatRow('?', dedupeKeys.length)})`);
    params.push(...dedupeKeys);
  }
  for (const [targetName, sinceMs] of historySince) {
    for (const [kind, where] of [
      ['rollback', `(created_at >= ? OR state IN ${ACTIVE_STATES})`],
      ['blocked', BLOCKING],
    ] as const) {
      parts.push(`SELECT '${kind}' AS kind, decision_id AS id, target_name AS tag, created_at AS at, state,
          ${NULL_TEXT} AS value, ${NULL_TEXT} AS reason, ${NULL_TEXT} AS changed_by
        FROM rollbacks WHERE target_name = ? AND ${where}`);
    }
    params.push(targetName, sinceMs, targetName);
  }
  parts.push(`SELECT 'setting' AS kind, key AS id, key AS tag, changed_at AS at, ${NULL_TEXT} AS state, value,
      reason, changed_by
    FROM settings WHERE key IN (${repeatRow('?', settingKeys.length)})`);
  params.push(...settingKeys);
  return { sql: `${parts.join(' UNION ALL ')} ORDER BY at DESC, id DESC`, params };
}

/** Stores an alert as it arrived, not yet acknowledged. */
export function alertInsert(alert: AlertRecord): Statement {
  return {
    sql: `INSERT INTO alerts (${ALERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
    params: [
      alert.id,
      alert.dedupeKey,
      alert.source,
      alert.signal.incidentId,
      alert.signal.state,
      alert.targetName,
      alert.receivedAt.getTime(),
      JSON.stringify(alert.signal),
      alert.rawBody,
    ],
  };
}

/** Stores a decision. */
export function decisionInsert(decision: DecisionRecord): Statement {
  return {
    sql: `INSERT INTO decisions (id, alert_id, target_name, action, reason, confidence, factors, mode, would_rollback,
      next_eligible_at, requested_by, requested_revision, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    params: [
      decision.id,
      decision.alertId,
      decision.targetName,
      decision.action,
      decision.reason,
      decision.confidence,
      JSON.stringify(decision.factors),
      decision.mode,
      decision.wouldRollback ? 1 : 0,
      decision.nextEligibleAt?.getTime() ?? null,
      decision.requestedBy,
      decision.requestedRevision,
      decision.decidedAt.getTime(),
    ],
  };
}

/**
 * The rollback a decision made and the job that will run it: queued for any worker, or, given `claimed`, already
 * leased to the process that decided (its state `running`, as a claim leaves it).
 */
export function rollbackInserts(
  rollback: RollbackRecord,
  jobId: string,
  claimed: JobRecord | null,
): Statement[] {
  const at = rollback.createdAt.getTime();
  return [
    {
      sql: 'INSERT INTO rollbacks (decision_id, target_name, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
      params: [rollback.decisionId, rollback.targetName, rollback.state, at, at],
    },
    {
      sql: `INSERT INTO jobs (id, kind, decision_id, state, attempts, run_after, lease_owner, lease_generation,
          lease_expires_at, created_at, updated_at) VALUES (?, 'rollback', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      params: [
        jobId,
        rollback.decisionId,
        claimed === null ? 'queued' : 'running',
        claimed?.attempts ?? 0,
        at,
        claimed?.leaseOwner ?? null,
        claimed?.generation ?? 0,
        claimed?.leaseExpiresAt.getTime() ?? null,
        at,
        at,
      ],
    },
  ];
}
