import { existsSync, readFileSync } from 'node:fs';
import { parseDuration } from '../config/durations.ts';
import { parsePolicyFile } from '../config/policy.ts';
import { decide, decideManual } from '../domain/decide.ts';
import { type Evidence, reviveEvidence, type Stored } from '../domain/evidence.ts';
import { judge, recordedEvidence } from '../domain/judge.ts';
import { JUDGEMENT_REASONS, type JudgementReason } from '../domain/judgement-policy.ts';
import type { TimelineEvent } from '../domain/rollback.ts';
import type { TargetConfig } from '../domain/target.ts';
import {
  type Decision,
  isActiveRollback,
  type PastRollback,
  type Reason,
  type RollbackState,
} from '../domain/types.ts';
import { targetFor } from '../ingest/intake.ts';
import type { DecisionHistoryItem } from '../store/store.ts';
import { type Command, UsageError } from './command.ts';
import { cell, confidence, type Layout, PLAIN, table, when } from './format.ts';

/** One past decision, as it was made then and as the replayed policy makes it now. */
export interface ReplayRow {
  decidedAt: Date;
  /** The incident (and its state), or who asked for a manual rollback. */
  subject: string;
  recorded: { target: string | null; reason: Reason };
  replayed: { target: string | null; reason: Reason; confidence: number };
  /**
   * The rollback's recorded judgement, and the one the replayed policy gives on the same recorded evidence (null
   * when the replay does not roll back). Null when nothing was judged: no rollback, a manual one, or evidence off.
   */
  judgement: { recorded: JudgementReason; replayed: JudgementReason | null } | null;
  changed: boolean;
}

/** What a rollback's `judged` step recorded: the verdict's reason and the evidence it rests on. */
export interface RecordedJudgement {
  reason: JudgementReason;
  evidence: Stored<Evidence>;
}

export interface Tally {
  recorded: number;
  replayed: number;
}

export interface ReplayResult {
  rows: ReplayRow[];
  /** Decisions by reason, as recorded then and as replayed now. */
  reasons: Record<string, Tally>;
  rollbacks: Tally;
  /** Recorded judgements judged again, and how many of them hold then and now. */
  judgements: { replayed: number; changed: number; holds: Tally };
}

/** The last `judged` step of a rollback's timeline, or null when there is none that reads as one. */
export function recordedJudgement(timeline: readonly TimelineEvent[]): RecordedJudgement | null {
  const detail = timeline.findLast((event) => event.step === 'judged')?.detail;
  if (detail === undefined) return null;
  const reason = detail.reason as JudgementReason;
  const { evidence, summary } = detail;
  if (!JUDGEMENT_REASONS.includes(reason) || typeof evidence !== 'object' || evidence === null) return null;
  if (typeof summary !== 'object' || summary === null) return null;
  return {
    reason,
    evidence: recordedEvidence({ evidence, summary } as Parameters<typeof recordedEvidence>[0]),
  };
}

type Outcome = Pick<Decision, 'action' | 'reason' | 'confidence' | 'target'>;

/** A manual request for a target the replayed policy file no longer has. */
const NO_SUCH_TARGET: Outcome = { action: 'none', reason: 'UNKNOWN_TARGET', confidence: 0, target: null };

/**
 * How a rollback the replay makes ends: as the real one for the same alert did, when there was one (a `no_lkg` or
 * `skipped` one does not count against the limits), else as if it succeeded. One still running is taken as
 * succeeded too: the replay cannot know how long it will take.
 */
function replayedState(item: DecisionHistoryItem): RollbackState {
  const state = item.rollback?.state;
  return state === undefined || isActiveRollback(state) ? 'succeeded' : state;
}

/**
 * Decides past alerts again under other targets' policies, oldest first, each against the history the replay itself
 * builds: a rollback the new policy would have made counts against its later rate limit and cooldown, and one it
 * would not have made does not. A rollback whose judgement was recorded (`judgements`, by decision id) is judged
 * again on the recorded evidence under the new judgement policy; a hold does not count against the limits.
 * Manual requests are replayed as manual requests. The kill switch is taken as on.
 * Pure: nothing here can reach Google, since no executor exists.
 */
export function replayHistory(
  items: readonly DecisionHistoryItem[],
  targets: ReadonlyMap<string, TargetConfig>,
  judgements: ReadonlyMap<string, RecordedJudgement> = new Map(),
): ReplayResult {
  const history = new Map<string, PastRollback[]>();
  const historyOf = (target: string) => ({ rollbacks: history.get(target) ?? [] });
  const rows: ReplayRow[] = [];
  const reasons: Record<string, Tally> = {};
  const rollbacks: Tally = { recorded: 0, replayed: 0 };
  const judged: ReplayResult['judgements'] = { replayed: 0, changed: 0, holds: { recorded: 0, replayed: 0 } };
  for (const item of items) {
    const { decision, alert } = item;
    let now: Outcome;
    if (alert === null) {
      const target = decision.targetName === null ? undefined : targets.get(decision.targetName);
      now =
        target === undefined
          ? NO_SUCH_TARGET
          : decideManual(decision.requestedBy ?? 'unknown', target.policy, historyOf(target.name), {
              target: target.name,
              enabled: true,
            });
    } else {
      const target = alert.signal.isTest ? null : targetFor(alert.signal, targets);
      now = decide(
        alert.signal,
        target?.policy ?? null,
        target === null ? { rollbacks: [] } : historyOf(target.name),
        { target: target?.name ?? null, enabled: true },
        decision.decidedAt,
      );
    }
    const recordedJudgement = alert === null ? undefined : judgements.get(decision.id);
    const target = now.target === null ? undefined : targets.get(now.target);
    const rejudged =
      recordedJudgement !== undefined && now.action === 'rollback' && target !== undefined
        ? judge(reviveEvidence(recordedJudgement.evidence), target.execution.judgement).reason
        : null;
    if (now.action === 'rollback' && now.target !== null) {
      const recordedState = replayedState(item);
      const state: RollbackState =
        rejudged === null
          ? recordedState
          : rejudged !== 'ROLLBACK'
            ? 'held'
            : recordedState === 'held'
              ? 'succeeded'
              : recordedState;
      // Newest first, as the store hands history to `decide`.
      history.set(now.target, [
        { decisionId: decision.id, decidedAt: decision.decidedAt, state },
        ...(history.get(now.target) ?? []),
      ]);
    }
    const judgement =
      recordedJudgement === undefined ? null : { recorded: recordedJudgement.reason, replayed: rejudged };
    if (judgement !== null) {
      judged.replayed += 1;
      if (judgement.recorded !== judgement.replayed) judged.changed += 1;
      if (judgement.recorded !== 'ROLLBACK') judged.holds.recorded += 1;
      if (judgement.replayed !== null && judgement.replayed !== 'ROLLBACK') judged.holds.replayed += 1;
    }
    const recorded = { target: decision.targetName, reason: decision.reason };
    rows.push({
      decidedAt: decision.decidedAt,
      subject:
        alert === null
          ? `manual: ${decision.requestedBy ?? '?'}`
          : `${alert.signal.incidentId} (${alert.signal.state})`,
      recorded,
      replayed: { target: now.target, reason: now.reason, confidence: now.confidence },
      judgement,
      changed:
        recorded.reason !== now.reason ||
        recorded.target !== now.target ||
        (judgement !== null && judgement.recorded !== judgement.replayed),
    });
    for (const [side, reason] of [
      ['recorded', recorded.reason],
      ['replayed', now.reason],
    ] as const) {
      reasons[reason] ??= { recorded: 0, replayed: 0 };
      reasons[reason][side] += 1;
    }
    if (decision.action === 'rollback') rollbacks.recorded += 1;
    if (now.action === 'rollback') rollbacks.replayed += 1;
  }
  return { rows, reasons, rollbacks, judgements: judged };
}

/** `--since 7d` (that long before now) or an ISO time. */
function parseTime(text: string, name: string, now: Date): Date {
  const ago = parseDuration(text);
  if (ago !== null) return new Date(now.getTime() - ago);
  const at = new Date(text);
  if (Number.isNaN(at.getTime()))
    throw new UsageError(`--${name}: a duration like 7d or an ISO time, not "${text}"`);
  return at;
}

/** The table and summary `lastgood replay` prints. */
export function formatReplay(result: ReplayResult, changedOnly: boolean, layout: Layout = PLAIN): string {
  const shown = changedOnly ? result.rows.filter((row) => row.changed) : result.rows;
  const target = (row: ReplayRow) =>
    row.recorded.target === row.replayed.target
      ? cell(row.replayed.target)
      : `${cell(row.recorded.target)} -> ${cell(row.replayed.target)}`;
  const judged = (row: ReplayRow) =>
    row.judgement === null
      ? '-'
      : row.judgement.recorded === row.judgement.replayed
        ? row.judgement.recorded
        : `${row.judgement.recorded} -> ${cell(row.judgement.replayed)}`;
  const decisions = table(
    ['DECIDED', 'SUBJECT', 'TARGET', 'THEN', 'NOW', 'CONF', 'JUDGED', ''],
    shown.map((row) => [
      when(row.decidedAt.toISOString()),
      row.subject,
      target(row),
      row.recorded.reason,
      row.replayed.reason,
      confidence(row.replayed.confidence),
      judged(row),
      row.changed ? '*' : '',
    ]),
    layout,
  );
  const summary = table(
    ['REASON', 'THEN', 'NOW'],
    Object.entries(result.reasons)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([reason, counts]) => [reason, String(counts.recorded), String(counts.replayed)]),
    layout,
  );
  const changed = result.rows.filter((row) => row.changed).length;
  return [
    shown.length === 0 ? (changedOnly ? 'no decision changes' : 'no decisions in the window') : decisions,
    '',
    summary,
    '',
    `judgements on recorded evidence: ${result.judgements.replayed} judged again, ${result.judgements.changed} ` +
      `differ; holds then ${result.judgements.holds.recorded}, now ${result.judgements.holds.replayed}`,
    `rollbacks: then ${result.rollbacks.recorded}, now ${result.rollbacks.replayed}; ` +
      `${changed} of ${result.rows.length} decisions change (* above)`,
  ].join('\n');
}

export const replayCommand: Command = {
  usage:
    'replay --config POLICY.yaml (--data-dir DIR | --database-url URL) [--since 30d] [--until ISO] [--changed]',
  summary:
    'what-if: decide stored alerts again under another policy file, and judge recorded evidence again; never calls Google',
  options: {
    config: { type: 'string' },
    'data-dir': { type: 'string' },
    'database-url': { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    changed: { type: 'boolean' },
  },
  async run(context, { values, positionals }) {
    const policyPath = values.config as string | undefined;
    const dataDir = values['data-dir'] as string | undefined;
    const databaseUrl = values['database-url'] as string | undefined;
    if (positionals.length > 0) throw new UsageError('replay takes flags only');
    if (policyPath === undefined) throw new UsageError('--config: the policy file to replay with');
    if ((dataDir === undefined) === (databaseUrl === undefined)) {
      throw new UsageError('give the store: --data-dir (SQLite) or --database-url (PostgreSQL), one of them');
    }
    // Opening a store creates a missing SQLite directory; a mistyped path must not replay an empty new database.
    if (dataDir !== undefined && !existsSync(dataDir))
      throw new UsageError(`--data-dir: ${dataDir} does not exist`);
    const targets = parsePolicyFile(readFileSync(policyPath, 'utf8'), policyPath);
    const now = new Date();
    const since = parseTime((values.since as string | undefined) ?? '30d', 'since', now);
    const until = values.until === undefined ? now : parseTime(values.until as string, 'until', now);
    const limit = Number((values.limit as string | undefined) ?? 10_000);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit: a positive whole number');
    // Loaded here, not at the top: the store pulls in node:sqlite, which the other commands must not need.
    const { openStore } = await import('../store/index.ts');
    const store = await openStore({ dataDir: dataDir ?? '', databaseUrl: databaseUrl ?? null });
    let items: DecisionHistoryItem[];
    const judgements = new Map<string, RecordedJudgement>();
    try {
      items = await store.decisionHistory(since, until, limit);
      // Only an alert's rollback is judged; its evidence lives in the rollback's timeline.
      for (const item of items) {
        if (item.rollback === null || item.alert === null) continue;
        const status = await store.getStatus(item.decision.id);
        const recorded = status === null ? null : recordedJudgement(status.timeline);
        if (recorded !== null) judgements.set(item.decision.id, recorded);
      }
    } finally {
      await store.close();
    }
    const result = replayHistory(items, targets, judgements);
    context.print(result, (answer, layout) => {
      const header =
        `replayed ${answer.rows.length} decisions from ${when(since.toISOString())} to ${when(until.toISOString())} ` +
        `with ${policyPath}${items.length === limit ? ` (the first ${limit}; raise --limit for more)` : ''}`;
      return `${header}\n\n${formatReplay(answer, values.changed === true, layout)}`;
    });
    return 0;
  },
};
