import type { TimelineEvent } from '../domain/rollback.ts';
import type { SqlDriver } from './driver.ts';
import { timelineInsert } from './sql/shared.ts';

/** Appends steps, in order, to a decision's timeline. */
export async function appendTimeline(
  db: SqlDriver,
  decisionId: string,
  ...events: TimelineEvent[]
): Promise<void> {
  if (events.length === 0) return;
  const { sql, params } = timelineInsert(decisionId, events);
  await db.run(sql, params);
}
