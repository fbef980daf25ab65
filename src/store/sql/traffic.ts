// Traffic history's SQL: what served each target, and the incidents the last-known-good rule weighs it against.

/** Records which revision served a target at a time. */
export const INSERT_TRAFFIC_OBSERVATION =
  'INSERT INTO traffic_observations (id, target_name, observed_at, full_revision) VALUES (?, ?, ?, ?)';

/** A target's traffic observations since a time, oldest first. */
export const TRAFFIC_SINCE = `SELECT observed_at, full_revision FROM traffic_observations
        WHERE target_name = ? AND observed_at >= ? ORDER BY observed_at, id`;

/** A target's alerts since a time, oldest first, to rebuild its incidents' windows. */
export const TARGET_ALERTS_SINCE =
  'SELECT incident_id, state, signal FROM alerts WHERE target_name = ? AND received_at >= ? ORDER BY received_at';
