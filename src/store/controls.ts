import type { ControlSetting, StoredControls } from '../domain/controls.ts';
import type { Mode, TargetBlock } from '../domain/types.ts';
import { appendEvents } from './audit.ts';
import type { Row, SqlDriver } from './driver.ts';
import { first, ms, str, toBlock } from './rows.ts';
import {
  ALL_SETTINGS,
  BLOCKING_ROLLBACKS,
  RESUME_TARGET,
  SETTING_VALUE,
  settingsByKey,
  TARGET_BLOCKING_ROLLBACKS,
  UPSERT_SETTING,
} from './sql/controls.ts';
import type { ControlChange, ControlOverview } from './store.ts';
import { appendTimeline } from './timeline.ts';

const KILL_SWITCH_KEY = 'kill_switch';
const modeKey = (target: string) => `mode:${target}`;

function toSetting<T>(row: Row): ControlSetting<T> | null {
  if (row.value === null || row.value === undefined) return null;
  return {
    value: JSON.parse(str(row.value)) as T,
    reason: str(row.reason),
    changedBy: str(row.changed_by),
    changedAt: ms(row.changed_at),
  };
}

/** The settings keys of the controls that apply to `targetName` (the kill switch alone when null). */
export function controlKeys(targetName: string | null): string[] {
  return targetName === null ? [KILL_SWITCH_KEY] : [KILL_SWITCH_KEY, modeKey(targetName)];
}

/** The controls in `rows` of the settings table (`key`, `value`, `reason`, `changed_by`, `changed_at`). */
export function toControls(targetName: string | null, rows: readonly Row[]): StoredControls {
  const byKey = new Map(rows.map((row) => [str(row.key), row]));
  const setting = <T>(key: string) => {
    const row = byKey.get(key);
    return row === undefined ? null : toSetting<T>(row);
  };
  return {
    enabled: setting<boolean>(KILL_SWITCH_KEY),
    mode: targetName === null ? null : setting<Mode>(modeKey(targetName)),
  };
}

/** The kill switch, and the target's mode when a target is named, as people set them at run time. */
export async function readControls(db: SqlDriver, targetName: string | null): Promise<StoredControls> {
  const keys = controlKeys(targetName);
  const rows = await db.all(settingsByKey(keys.length), keys);
  return toControls(targetName, rows);
}

/** Every control people set, and the targets that wait for a person (the newest blocking rollback of each). */
export async function controlOverview(db: SqlDriver): Promise<ControlOverview> {
  const settings = await db.all(ALL_SETTINGS);
  const modes = new Map<string, ControlSetting<Mode>>();
  let enabled: ControlSetting<boolean> | null = null;
  for (const row of settings) {
    const key = str(row.key);
    if (key === KILL_SWITCH_KEY) enabled = toSetting<boolean>(row);
    else {
      const mode = toSetting<Mode>(row);
      if (mode !== null) modes.set(key.slice('mode:'.length), mode);
    }
  }
  const blocks = new Map<string, TargetBlock>();
  for (const row of await db.all(BLOCKING_ROLLBACKS)) {
    const target = str(row.target_name);
    if (blocks.has(target)) continue;
    blocks.set(target, toBlock(row.decision_id, row.state));
  }
  return { enabled, modes, blocks };
}

/** Sets the kill switch or a target's mode, and audits the change with the value it replaced. */
export function changeControl(db: SqlDriver, change: ControlChange): Promise<void> {
  return db.transaction(async (tx) => {
    const at = change.at.getTime();
    const target = change.kind === 'mode' ? change.target : null;
    // A mode change waits for the target's decisions in flight, so every later one sees it.
    if (target !== null) await tx.lockTarget(target);
    const key = target === null ? KILL_SWITCH_KEY : modeKey(target);
    const value = change.kind === 'mode' ? change.mode : change.enabled;
    const previous = await first(tx, SETTING_VALUE, [key]);
    await tx.run(UPSERT_SETTING, [
      key,
      value === null ? null : JSON.stringify(value),
      change.reason,
      change.actor,
      at,
    ]);
    const before =
      previous === null || previous.value === null ? null : (JSON.parse(str(previous.value)) as unknown);
    await appendEvents(tx, [
      change.kind === 'kill_switch'
        ? {
            type: 'kill_switch_changed',
            // Turning lastgood off stops every rollback: people should notice.
            severity: change.enabled === false ? 'warning' : 'info',
            at: change.at,
            target: null,
            decisionId: null,
            actor: change.actor,
            data: { enabled: change.enabled, previous: before, reason: change.reason },
          }
        : {
            type: 'mode_changed',
            severity: change.mode === 'off' ? 'warning' : 'info',
            at: change.at,
            target,
            decisionId: null,
            actor: change.actor,
            data: { mode: change.mode, previous: before, reason: change.reason },
          },
    ]);
  });
}

/** Clears what blocks a target (newest first), noting it on each rollback's timeline. Answers their ids. */
export function resumeTarget(db: SqlDriver, targetName: string, actor: string, at: Date): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.lockTarget(targetName);
    const rows = await tx.all(TARGET_BLOCKING_ROLLBACKS, [targetName]);
    const cleared = rows.map((row) => str(row.decision_id));
    await tx.run(RESUME_TARGET, [actor, at.getTime(), targetName]);
    for (const decisionId of cleared) {
      await appendTimeline(tx, decisionId, { at, step: 'resumed', detail: { by: actor } });
    }
    await appendEvents(tx, [
      {
        type: 'target_resumed',
        severity: 'info',
        at,
        target: targetName,
        decisionId: cleared[0] ?? null,
        actor,
        data: { cleared },
      },
    ]);
    return cleared;
  });
}
