import type { Reason } from '../domain/types.ts';
import { type LastgoodEvent, type RollbackFacts, verificationEvent } from '../events/event.ts';
import { appendEvents } from './audit.ts';
import type { SqlDriver } from './driver.ts';
import { first, ms, str, strOrNull, toRollback } from './rows.ts';
import {
  CLOSING_ALERT,
  expiredVerifications,
  HEALABLE_ROLLBACKS,
  RECORD_VERIFICATION,
  ROLLBACK_FACTS,
} from './sql/verification.ts';
import type { AlertRecord } from './store.ts';
import { appendTimeline } from './timeline.ts';

/** A rollback with the decision and incident behind it, as rollback events describe it. */
export async function rollbackFacts(tx: SqlDriver, decisionId: string): Promise<RollbackFacts> {
  const row = await first(tx, ROLLBACK_FACTS, [decisionId]);
  const rollback = row === null ? null : toRollback(row);
  if (row === null || rollback === null)
    throw new Error(`rollback ${decisionId} vanished inside its transaction`);
  return {
    ...rollback,
    reason: str(row.reason) as Reason,
    confidence: Number(row.confidence),
    requestedBy: strOrNull(row.requested_by),
    incidentId: strOrNull(row.incident_id),
  };
}

/**
 * Records a rollback's verification once, whoever gets there first (a closing alert, or the sweep of any
 * replica): the update only applies while it is still pending. Answers the event to append, if it applied.
 */
export async function recordVerification(
  tx: SqlDriver,
  decisionId: string,
  result: 'healed' | 'not_healed',
  at: Date,
  evidence: Record<string, unknown>,
): Promise<LastgoodEvent[]> {
  const changed = await tx.run(RECORD_VERIFICATION, [result, at.getTime(), at.getTime(), decisionId]);
  if (changed !== 1) return [];
  await appendTimeline(tx, decisionId, { at, step: result, detail: evidence });
  return [verificationEvent(await rollbackFacts(tx, decisionId), result, at, evidence)];
}

/**
 * A closed incident heals the rollbacks waiting on it while their verification window is open: the one its own
 * opening alert triggered, and manual ones of the target (a person's rollback has no incident of its own).
 */
export async function healOnClose(
  tx: SqlDriver,
  alert: AlertRecord,
  targetName: string,
  at: Date,
): Promise<LastgoodEvent[]> {
  const rows = await tx.all(HEALABLE_ROLLBACKS, [targetName, at.getTime(), alert.signal.incidentId]);
  const events: LastgoodEvent[] = [];
  for (const row of rows) {
    events.push(
      ...(await recordVerification(tx, str(row.decision_id), 'healed', at, {
        closedBy: alert.id,
        closedIncident: alert.signal.incidentId,
      })),
    );
  }
  return events;
}

/** The incident's closing alert, if it arrived while the rollback ran (for a manual one: any on the target). */
export async function closedSince(
  tx: SqlDriver,
  decisionId: string,
): Promise<Record<string, unknown> | null> {
  const row = await first(tx, CLOSING_ALERT, [decisionId]);
  return row === null ? null : { closedBy: str(row.id), closedIncident: str(row.incident_id) };
}

/** Marks rollbacks whose incident did not close within their window as not healed. Answers how many. */
export function expireVerifications(db: SqlDriver, now: Date): Promise<number> {
  return db.transaction(async (tx) => {
    const rows = await tx.all(expiredVerifications(tx.dialect), [now.getTime()]);
    const events: LastgoodEvent[] = [];
    for (const row of rows) {
      events.push(
        ...(await recordVerification(tx, str(row.decision_id), 'not_healed', now, {
          verifyBy: ms(row.verify_by).toISOString(),
          explanation: 'the incident did not close within the verification window',
        })),
      );
    }
    await appendEvents(tx, events);
    return events.length;
  });
}
