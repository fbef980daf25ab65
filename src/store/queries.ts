import type { RollbackErrorCode } from '../domain/rollback.ts';
import type { Reason, RollbackState } from '../domain/types.ts';
import { appendEvents } from './audit.ts';
import type { SqlDriver, SqlValue } from './driver.ts';
import { first, ms, str, strOrNull, toAlert, toDecision, toRollback } from './rows.ts';
import {
  ACKNOWLEDGE_ALERT,
  DECISION_COUNTS,
  DECISION_HISTORY,
  DECISION_OF_ALERT,
  DECISION_SIGNALS,
  ROLLBACK_COUNTS,
  recentDecisions,
  TIME_TO_ROLLBACK,
  TIMELINE,
} from './sql/queries.ts';
import { ALERT_BY_ID, decisionWithRollback } from './sql/shared.ts';
import type {
  AlertRecord,
  DecisionHistoryItem,
  DecisionSignalItem,
  DecisionStats,
  RecentItem,
  RecentQuery,
  StatusView,
} from './store.ts';

/** A decision (by its id, or its alert's `alt_` id) with its alert, rollback and timeline. */
export async function getStatus(db: SqlDriver, id: string): Promise<StatusView | null> {
  const row = await first(db, decisionWithRollback(id.startsWith('alt_') ? 'd.alert_id' : 'd.id'), [id]);
  if (!row) return null;
  const decision = toDecision(row);
  const alertRow = decision.alertId === null ? null : await first(db, ALERT_BY_ID, [decision.alertId]);
  const events = await db.all(TIMELINE, [decision.id]);
  return {
    alert: alertRow ? toAlert(alertRow) : null,
    decision,
    rollback: toRollback(row),
    timeline: events.map((event) => ({
      at: ms(event.at),
      step: str(event.step),
      detail: JSON.parse(str(event.detail)),
    })),
  };
}

/** Decisions since `query.since`, newest first, a page at a time. */
export async function listRecent(db: SqlDriver, query: RecentQuery): Promise<RecentItem[]> {
  const params: SqlValue[] = [query.since.getTime()];
  if (query.action !== null) params.push(query.action);
  const target = query.target ?? null;
  const reason = query.reason ?? null;
  if (target !== null) params.push(target);
  if (reason !== null) params.push(reason);
  if (query.cursor !== null) {
    params.push(query.cursor.decidedAt.getTime(), query.cursor.decidedAt.getTime(), query.cursor.id);
  }
  params.push(query.limit);
  const sql = recentDecisions({
    action: query.action !== null,
    target: target !== null,
    reason: reason !== null,
    cursor: query.cursor !== null,
  });
  const rows = await db.all(sql, params);
  return rows.map((row) => {
    const decision = toDecision(row);
    return {
      decision,
      alert:
        decision.alertId === null
          ? null
          : {
              id: decision.alertId,
              incidentId: str(row.a_incident_id),
              receivedAt: ms(row.a_received_at),
              source: str(row.a_source) as AlertRecord['source'],
            },
      rollback: toRollback(row),
    };
  });
}

/** Decisions by action and reason, rollbacks by state, and the time to each succeeded rollback, since `since`. */
export async function decisionStats(db: SqlDriver, since: Date): Promise<DecisionStats> {
  const from = since.getTime();
  const byAction: Record<string, number> = {};
  const byReason: Record<string, number> = {};
  for (const row of await db.all(DECISION_COUNTS, [from])) {
    byAction[str(row.action)] = (byAction[str(row.action)] ?? 0) + Number(row.n);
    byReason[str(row.reason)] = (byReason[str(row.reason)] ?? 0) + Number(row.n);
  }
  const rollbacksByState: Record<string, number> = {};
  for (const row of await db.all(ROLLBACK_COUNTS, [from])) {
    rollbacksByState[str(row.state)] = Number(row.n);
  }
  const durations = await db.all(TIME_TO_ROLLBACK, [from]);
  return {
    byAction,
    byReason,
    rollbacksByState,
    timeToRollbackMs: durations.map((row) => Number(row.duration_ms)),
  };
}

/** Acknowledges an alert once, auditing the first acknowledgement; answers the alert, null if unknown. */
export function acknowledgeAlert(
  db: SqlDriver,
  alertId: string,
  by: string,
  at: Date,
): Promise<AlertRecord | null> {
  return db.transaction(async (tx) => {
    const changed = await tx.run(ACKNOWLEDGE_ALERT, [by, at.getTime(), alertId]);
    const row = await first(tx, ALERT_BY_ID, [alertId]);
    if (row === null) return null;
    const alert = toAlert(row);
    // Only the first acknowledgement changes anything; the later ones are answered with it.
    if (changed === 1) {
      const decision = await first(tx, DECISION_OF_ALERT, [alertId]);
      await appendEvents(tx, [
        {
          type: 'alert_acknowledged',
          severity: 'info',
          at,
          target: alert.targetName,
          decisionId: decision === null ? null : str(decision.id),
          actor: by,
          data: { alertId, incidentId: alert.signal.incidentId },
        },
      ]);
    }
    return alert;
  });
}

/** The decisions `decisionHistory` answers, with only what correlating incidents needs. */
export async function decisionSignals(
  db: SqlDriver,
  since: Date,
  until: Date,
  limit: number,
): Promise<DecisionSignalItem[]> {
  const rows = await db.all(DECISION_SIGNALS, [since.getTime(), until.getTime(), limit]);
  return rows.map((row) => {
    const signal =
      row.a_signal === null || row.a_signal === undefined
        ? null
        : (JSON.parse(str(row.a_signal)) as { startedAt: string; isTest: boolean });
    return {
      decidedAt: ms(row.decided_at),
      targetName: strOrNull(row.target_name),
      reason: str(row.reason) as Reason,
      signal: signal === null ? null : { startedAt: new Date(signal.startedAt), isTest: signal.isTest },
      rollback:
        row.r_state === null || row.r_state === undefined
          ? null
          : {
              state: str(row.r_state) as RollbackState,
              errorCode: strOrNull(row.r_error_code) as RollbackErrorCode | null,
            },
    };
  });
}

/** Decisions in [since, until), oldest first, with their alerts and rollbacks. */
export async function decisionHistory(
  db: SqlDriver,
  since: Date,
  until: Date,
  limit: number,
): Promise<DecisionHistoryItem[]> {
  const rows = await db.all(DECISION_HISTORY, [since.getTime(), until.getTime(), limit]);
  return rows.map((row) => ({
    decision: toDecision(row),
    alert:
      row.a_id === null || row.a_id === undefined
        ? null
        : toAlert(
            Object.fromEntries(
              Object.entries(row)
                .filter(([key]) => key.startsWith('a_'))
                .map(([key, value]) => [key.slice(2), value]),
            ),
          ),
    rollback: toRollback(row),
  }));
}
