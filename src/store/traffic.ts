import type { IncidentWindow, TrafficObservation } from '../domain/last-known-good.ts';
import type { SqlDriver } from './driver.ts';
import { newId } from './ids.ts';
import { ms, reviveSignal, str, strOrNull } from './rows.ts';
import { INSERT_TRAFFIC_OBSERVATION, TARGET_ALERTS_SINCE, TRAFFIC_SINCE } from './sql/traffic.ts';

/** Records which revision served a target when it was observed. */
export async function recordTrafficObservation(
  db: SqlDriver,
  targetName: string,
  observation: TrafficObservation,
): Promise<void> {
  await db.run(INSERT_TRAFFIC_OBSERVATION, [
    newId('obs', observation.observedAt.getTime()),
    targetName,
    observation.observedAt.getTime(),
    observation.fullRevision,
  ]);
}

/** A target's observations since `since`, oldest first. */
export async function trafficHistory(
  db: SqlDriver,
  targetName: string,
  since: Date,
): Promise<TrafficObservation[]> {
  const rows = await db.all(TRAFFIC_SINCE, [targetName, since.getTime()]);
  return rows.map((row) => ({
    observedAt: ms(row.observed_at),
    fullRevision: strOrNull(row.full_revision),
  }));
}

/** When each real (not test) incident on a target since `since` was open, from its alerts. */
export async function incidentWindows(
  db: SqlDriver,
  targetName: string,
  since: Date,
): Promise<IncidentWindow[]> {
  const rows = await db.all(TARGET_ALERTS_SINCE, [targetName, since.getTime()]);
  const windows = new Map<string, IncidentWindow>();
  for (const row of rows) {
    const signal = reviveSignal(str(row.signal));
    if (signal.isTest) continue;
    const window = windows.get(signal.incidentId) ?? { startedAt: signal.startedAt, endedAt: null };
    if (signal.state === 'closed') window.endedAt = signal.endedAt ?? signal.startedAt;
    windows.set(signal.incidentId, window);
  }
  return [...windows.values()];
}
