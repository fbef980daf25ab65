// Run-time controls' SQL: the settings people change (kill switch, per-target mode) and the rollbacks that block a
// target until a person resumes it.
import { BLOCKING, repeatRow } from './shared.ts';

/** A setting as the control mappers read it. */
export const SETTING_COLUMNS = 'key, value, reason, changed_by, changed_at';

/** The settings stored under `keys` of them. */
export function settingsByKey(keys: number): string {
  return `SELECT ${SETTING_COLUMNS} FROM settings WHERE key IN (${repeatRow('?', keys)})`;
}

/** Every setting, for the controls overview. */
export const ALL_SETTINGS = `SELECT ${SETTING_COLUMNS} FROM settings`;

/** One setting's value, to audit what a change replaced. */
export const SETTING_VALUE = 'SELECT value FROM settings WHERE key = ?';

/** Sets one control, replacing what was there. */
export const UPSERT_SETTING = `INSERT INTO settings (key, value, reason, changed_by, changed_at) VALUES (?, ?, ?, ?, ?)
          ON CONFLICT (key) DO UPDATE SET value = excluded.value, reason = excluded.reason,
            changed_by = excluded.changed_by, changed_at = excluded.changed_at`;

/** Every blocking rollback, newest first. */
export const BLOCKING_ROLLBACKS = `SELECT target_name, decision_id, state FROM rollbacks WHERE ${BLOCKING} ORDER BY created_at DESC`;

/** A target's blocking rollbacks, newest first. */
export const TARGET_BLOCKING_ROLLBACKS = `SELECT decision_id FROM rollbacks WHERE target_name = ? AND ${BLOCKING} ORDER BY created_at DESC`;

/** Clears what blocks a target, recording who resumed it. */
export const RESUME_TARGET = `UPDATE rollbacks SET resumed_by = ?, resumed_at = ? WHERE target_name = ? AND ${BLOCKING}`;
