import { appendEvents } from './audit.ts';
import type { SqlDriver } from './driver.ts';
import { first, toOutboxItem } from './rows.ts';
import {
  claimableNotifications,
  DEAD_LETTERS,
  FINISH_NOTIFICATION,
  LEASE_NOTIFICATION,
  NOTIFICATION_BY_ID,
  NOTIFICATIONS_OF_DECISION,
  OUTBOX_BACKLOG,
  RETRY_NOTIFICATION,
} from './sql/outbox.ts';
import type { NotificationOutcome, OutboxItem } from './store.ts';

/** Leases up to `limit` due notifications to `owner`, counting the attempt. */
export function claimNotifications(
  db: SqlDriver,
  owner: string,
  now: Date,
  leaseMs: number,
  limit: number,
): Promise<OutboxItem[]> {
  return db.transaction(async (tx) => {
    const at = now.getTime();
    const rows = await tx.all(claimableNotifications(tx.dialect), [at, at, limit]);
    const items = rows.map(toOutboxItem);
    for (const item of items) {
      item.attempts += 1;
      await tx.run(LEASE_NOTIFICATION, [item.attempts, owner, at + leaseMs, at, item.id]);
    }
    return items;
  });
}

/** Records a delivery attempt's outcome, if `owner` still holds the lease. */
export async function finishNotification(
  db: SqlDriver,
  id: string,
  owner: string,
  outcome: NotificationOutcome,
): Promise<boolean> {
  const changed = await db.run(FINISH_NOTIFICATION, [
    outcome.state,
    JSON.stringify(outcome.deliveredTo),
    outcome.lastError,
    outcome.nextAttemptAt.getTime(),
    outcome.at.getTime(),
    id,
    owner,
  ]);
  return changed === 1;
}

/** Dead notifications before `beforeId` (all when null), newest first. */
export async function listDeadLetters(
  db: SqlDriver,
  beforeId: string | null,
  limit: number,
): Promise<OutboxItem[]> {
  // Ids sort by creation time; '~' sorts after every id.
  const rows = await db.all(DEAD_LETTERS, [beforeId ?? '~', limit]);
  return rows.map(toOutboxItem);
}

/** The notifications one decision's events queued, oldest first. */
export async function decisionNotifications(
  db: SqlDriver,
  decisionId: string,
  limit: number,
): Promise<OutboxItem[]> {
  const rows = await db.all(NOTIFICATIONS_OF_DECISION, [decisionId, limit]);
  return rows.map(toOutboxItem);
}

/** Queues a dead notification again, and audits who did. */
export function retryNotification(
  db: SqlDriver,
  id: string,
  actor: string,
  at: Date,
): Promise<OutboxItem | null> {
  return db.transaction(async (tx) => {
    const changed = await tx.run(RETRY_NOTIFICATION, [at.getTime(), at.getTime(), id]);
    if (changed !== 1) return null;
    const row = await first(tx, NOTIFICATION_BY_ID, [id]);
    if (row === null) throw new Error(`notification ${id} vanished inside its transaction`);
    const item = toOutboxItem(row);
    await appendEvents(tx, [
      {
        type: 'notification_retried',
        severity: 'info',
        at,
        target: item.event.target,
        decisionId: item.event.decisionId,
        actor,
        data: { notificationId: id, auditSeq: item.event.seq, lastError: item.lastError },
      },
    ]);
    return item;
  });
}

/** Notifications not yet delivered, dead ones included. */
export async function outboxBacklog(db: SqlDriver): Promise<number> {
  const row = await first(db, OUTBOX_BACKLOG, []);
  return Number(row?.n ?? 0);
}
