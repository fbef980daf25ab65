import type { AuditRow, ChainHead } from '../audit/chain.ts';
import type { ControlSetting, StoredControls } from '../domain/controls.ts';
import type { IncidentWindow, TrafficObservation } from '../domain/last-known-good.ts';
import type {
  RollbackErrorCode,
  RollbackOutcome,
  RollbackProgress,
  RollbackRecord,
  TimelineEvent,
  Verification,
} from '../domain/rollback.ts';
import {
  type Action,
  isActiveRollback,
  type Mode,
  type Reason,
  type RollbackState,
  type Signal,
  type TargetBlock,
  type TargetHistory,
} from '../domain/types.ts';
import {
  decisionEvent,
  type LastgoodEvent,
  MUTATION_STEPS,
  type RecordedEvent,
  type RollbackFacts,
  rollbackFinishedEvent,
  SYSTEM_ACTOR,
  verificationEvent,
} from '../events/event.ts';
import type { Row, SqlDriver, SqlValue, Statement } from './driver.ts';
import {
  appendEvents,
  auditRowsAfter,
  auditRowsBefore,
  OUTBOX_SELECT,
  readAuditHead,
  repeatRow,
  toOutboxItem,
  toRecordedEvent,
} from './event-log.ts';
import { newId } from './ids.ts';
import { MIGRATIONS } from './migrations.ts';
import type {
  AlertRecord,
  ControlChange,
  ControlOverview,
  DecisionHistoryItem,
  DecisionOutcome,
  DecisionRecord,
  DecisionRequest,
  DecisionStats,
  HeldLease,
  JobRecord,
  NotificationOutcome,
  OutboxItem,
  RecentItem,
  RecentQuery,
  StatusView,
  Store,
} from './store.ts';

const ACTIVE_STATES = "('queued', 'running')";

function ms(value: unknown): Date {
  return new Date(Number(value));
}

function msOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : new Date(Number(value));
}

function str(value: unknown): string {
  return String(value);
}

function strOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function reviveSignal(text: string): Signal {
  const raw = JSON.parse(text) as Signal & { startedAt: string; endedAt: string | null };
  return {
    ...raw,
    startedAt: new Date(raw.startedAt),
    endedAt: raw.endedAt === null ? null : new Date(raw.endedAt),
  };
}

const ALERT_COLUMNS =
  'id, dedupe_key, source, incident_id, state, target_name, received_at, signal, raw_body, acknowledged_by, acknowledged_at';

function toAlert(row: Row): AlertRecord {
  return {
    id: str(row.id),
    dedupeKey: str(row.dedupe_key),
    source: str(row.source) as AlertRecord['source'],
    receivedAt: ms(row.received_at),
    targetName: strOrNull(row.target_name),
    signal: reviveSignal(str(row.signal)),
    rawBody: str(row.raw_body),
    acknowledgedBy: strOrNull(row.acknowledged_by),
    acknowledgedAt: msOrNull(row.acknowledged_at),
  };
}

const DECISION_COLUMNS =
  'd.id, d.alert_id, d.target_name, d.action, d.reason, d.confidence, d.factors, d.mode, d.would_rollback, ' +
  'd.next_eligible_at, d.requested_by, d.requested_revision, d.decided_at';

function toDecision(row: Row): DecisionRecord {
  return {
    id: str(row.id),
    alertId: strOrNull(row.alert_id),
    targetName: strOrNull(row.target_name),
    action: str(row.action) as Action,
    reason: str(row.reason) as Reason,
    confidence: Number(row.confidence),
    factors: JSON.parse(str(row.factors)),
    mode: strOrNull(row.mode) as Mode | null,
    wouldRollback: Number(row.would_rollback) === 1,
    nextEligibleAt: msOrNull(row.next_eligible_at),
    requestedBy: strOrNull(row.requested_by),
    requestedRevision: strOrNull(row.requested_revision),
    decidedAt: ms(row.decided_at),
  };
}

/** Rollback columns are prefixed `r_` so they can ride along a join with decisions. */
const ROLLBACK_COLUMNS =
  'r.decision_id AS r_decision_id, r.target_name AS r_target_name, r.state AS r_state, ' +
  'r.from_revision AS r_from_revision, r.to_revision AS r_to_revision, r.lkg_rule AS r_lkg_rule, ' +
  'r.error_code AS r_error_code, r.error_message AS r_error_message, r.created_at AS r_created_at, ' +
  'r.updated_at AS r_updated_at, r.finished_at AS r_finished_at, r.verification AS r_verification, ' +
  'r.verify_by AS r_verify_by, r.verified_at AS r_verified_at';

function toRollback(row: Row): RollbackRecord | null {
  if (row.r_decision_id === null || row.r_decision_id === undefined) return null;
  return {
    decisionId: str(row.r_decision_id),
    targetName: str(row.r_target_name),
    state: str(row.r_state) as RollbackState,
    fromRevision: strOrNull(row.r_from_revision),
    toRevision: strOrNull(row.r_to_revision),
    lkgRule: strOrNull(row.r_lkg_rule),
    errorCode: strOrNull(row.r_error_code) as RollbackErrorCode | null,
    errorMessage: strOrNull(row.r_error_message),
    createdAt: ms(row.r_created_at),
    updatedAt: ms(row.r_updated_at),
    finishedAt: msOrNull(row.r_finished_at),
    verification: strOrNull(row.r_verification) as Verification | null,
    verifyBy: msOrNull(row.r_verify_by),
    verifiedAt: msOrNull(row.r_verified_at),
  };
}

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

function controlKeys(targetName: string | null): string[] {
  return targetName === null ? [KILL_SWITCH_KEY] : [KILL_SWITCH_KEY, modeKey(targetName)];
}

/** The controls in `rows` of the settings table (`key`, `value`, `reason`, `changed_by`, `changed_at`). */
function toControls(targetName: string | null, rows: readonly Row[]): StoredControls {
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
async function readControls(db: SqlDriver, targetName: string | null): Promise<StoredControls> {
  const keys = controlKeys(targetName);
  const rows = await db.all(
    `SELECT key, value, reason, changed_by, changed_at FROM settings WHERE key IN (${repeatRow('?', keys.length)})`,
    keys,
  );
  return toControls(targetName, rows);
}

/** What a blocking rollback, given its state, blocks its target for. */
function toBlock(decisionId: unknown, state: unknown): TargetBlock {
  return { decisionId: str(decisionId), why: str(state) === 'failed' ? 'rollback_failed' : 'not_healed' };
}

/** Rollbacks that keep their target from automatic rollbacks until a person resumes it. */
const BLOCKING = "resumed_at IS NULL AND (state = 'failed' OR verification = 'not_healed')";

/** What a decision is made from, all read in one query under the target's lock. */
interface DecisionInputs {
  /** The id of the alert already stored under the same dedupe key: this one is a redelivery. */
  earlierAlertId: string | null;
  history: TargetHistory;
  controls: StoredControls;
}

const NULL_TEXT = 'CAST(NULL AS TEXT)';

/**
 * Reads what each of `requests` is decided from, in one query: each alert's earlier delivery, each target's
 * rollbacks since the earliest `historySince` asked for it (and any still active) newest first, the rollbacks
 * blocking it, and the controls people set. Each part is a branch of one UNION ALL with the same columns, `tag`
 * saying whose row it is; the NULLs are typed, as PostgreSQL needs.
 */
async function readDecisionInputs(
  tx: SqlDriver,
  requests: readonly DecisionRequest[],
): Promise<DecisionInputs[]> {
  const parts: string[] = [];
  const params: SqlValue[] = [];
  const dedupeKeys = [...new Set(requests.flatMap(({ alert }) => alert?.dedupeKey ?? []))];
  if (dedupeKeys.length > 0) {
    parts.push(`SELECT 'alert' AS kind, id, dedupe_key AS tag, CAST(NULL AS BIGINT) AS at, ${NULL_TEXT} AS state,
        ${NULL_TEXT} AS value, ${NULL_TEXT} AS reason, ${NULL_TEXT} AS changed_by
      FROM alerts WHERE dedupe_key IN (${repeatRow('?', dedupeKeys.length)})`);
    params.push(...dedupeKeys);
  }
  const since = new Map<string, number>();
  for (const { targetName, historySince } of requests) {
    if (targetName === null) continue;
    since.set(
      targetName,
      Math.min(since.get(targetName) ?? Number.POSITIVE_INFINITY, historySince.getTime()),
    );
  }
  for (const [targetName, sinceMs] of since) {
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
  const keys = [...new Set(requests.flatMap(({ targetName }) => controlKeys(targetName)))];
  parts.push(`SELECT 'setting' AS kind, key AS id, key AS tag, changed_at AS at, ${NULL_TEXT} AS state, value,
      reason, changed_by
    FROM settings WHERE key IN (${repeatRow('?', keys.length)})`);
  params.push(...keys);
  const rows = await tx.all(`${parts.join(' UNION ALL ')} ORDER BY at DESC, id DESC`, params);
  const settings = rows
    .filter((row) => row.kind === 'setting')
    .map((row) => ({ ...row, key: row.id, changed_at: row.at }));
  return requests.map(({ alert, targetName, historySince }) => {
    const ofTarget = rows.filter((row) => row.kind !== 'alert' && row.tag === targetName);
    const blocked = ofTarget.find((row) => row.kind === 'blocked');
    return {
      earlierAlertId: strOrNull(rows.find((row) => row.kind === 'alert' && row.tag === alert?.dedupeKey)?.id),
      history: {
        rollbacks: ofTarget
          .filter(
            (row) =>
              row.kind === 'rollback' &&
              (Number(row.at) >= historySince.getTime() || isActiveRollback(str(row.state) as RollbackState)),
          )
          .map((row) => ({
            decisionId: str(row.id),
            decidedAt: ms(row.at),
            state: str(row.state) as RollbackState,
          })),
        blockedBy: blocked === undefined ? null : toBlock(blocked.id, blocked.state),
      },
      controls: toControls(targetName, settings),
    };
  });
}

async function first(db: SqlDriver, sql: string, params: readonly SqlValue[]): Promise<Row | null> {
  const rows = await db.all(sql, params);
  return rows[0] ?? null;
}

/** One INSERT for a decision's timeline steps, given in order. */
function timelineInsert(decisionId: string, events: readonly TimelineEvent[]): Statement {
  return {
    sql: `INSERT INTO timeline (id, decision_id, at, step, detail) VALUES ${repeatRow('(?, ?, ?, ?, ?)', events.length)}`,
    params: events.flatMap((event) => [
      event.id ?? newId('evt', event.at.getTime()),
      decisionId,
      event.at.getTime(),
      event.step,
      JSON.stringify(event.detail),
    ]),
  };
}

async function appendTimeline(db: SqlDriver, decisionId: string, ...events: TimelineEvent[]): Promise<void> {
  if (events.length === 0) return;
  const { sql, params } = timelineInsert(decisionId, events);
  await db.run(sql, params);
}

function alertInsert(alert: AlertRecord): Statement {
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

function decisionInsert(decision: DecisionRecord): Statement {
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

/** A rollback as a decision queues it, before any worker has touched it. */
function queuedRollback(decisionId: string, targetName: string, now: Date): RollbackRecord {
  return {
    decisionId,
    targetName,
    state: 'queued',
    fromRevision: null,
    toRevision: null,
    lkgRule: null,
    errorCode: null,
    errorMessage: null,
    createdAt: now,
    updatedAt: now,
    finishedAt: null,
    verification: null,
    verifyBy: null,
    verifiedAt: null,
  };
}

/** The queued rollback and the job that will run it. */
function rollbackInserts(rollback: RollbackRecord): Statement[] {
  const at = rollback.createdAt.getTime();
  return [
    {
      sql: "INSERT INTO rollbacks (decision_id, target_name, state, created_at, updated_at) VALUES (?, ?, 'queued', ?, ?)",
      params: [rollback.decisionId, rollback.targetName, at, at],
    },
    {
      sql: `INSERT INTO jobs (id, kind, decision_id, state, attempts, run_after, created_at, updated_at)
        VALUES (?, 'rollback', ?, 'queued', 0, ?, ?, ?)`,
      params: [newId('job', at), rollback.decisionId, at, at, at],
    },
  ];
}

/** A decision asked for and not yet made: it joins the next batch. */
interface QueuedDecision {
  request: DecisionRequest;
  resolve: (outcome: DecisionOutcome) => void;
  reject: (error: unknown) => void;
}

/** The most decisions one transaction makes: it bounds the statements' parameters and how long locks are held. */
const MAX_BATCH = 100;

/**
 * A batch's decision writes, held back so that the batch sends them together: one round trip on PostgreSQL for the
 * whole batch instead of one a decision, which under an alert flood was half of them. The batch reads every
 * decision's inputs up front, in one query, so a decision whose inputs the batch has since changed (a delivery of
 * the same incident, a rollback of the same target, a rollback healed there) flushes the writes and reads its own
 * again: every decision still sees what those before it wrote. Decisions read nothing else that a decision writes.
 */
class BatchWrites {
  readonly #statements: Statement[] = [];
  readonly #dedupeKeys = new Set<string>();
  readonly #targets = new Set<string>();

  add(statements: readonly Statement[], alert: AlertRecord | null, rollback: RollbackRecord | null): void {
    this.#statements.push(...statements);
    if (alert !== null) this.#dedupeKeys.add(alert.dedupeKey);
    if (rollback !== null) this.#targets.add(rollback.targetName);
  }

  /** A write to the target's rollbacks made without `add` (a heal). */
  touched(targetName: string): void {
    this.#targets.add(targetName);
  }

  /** Whether the batch wrote anything, sent or not, that `request`'s inputs include. */
  changes(request: DecisionRequest): boolean {
    return (
      (request.alert !== null && this.#dedupeKeys.has(request.alert.dedupeKey)) ||
      (request.targetName !== null && this.#targets.has(request.targetName))
    );
  }

  async flush(tx: SqlDriver): Promise<void> {
    if (this.#statements.length === 0) return;
    await tx.runAll(this.#statements.splice(0));
  }
}

/**
 * The Store over any SqlDriver: every query lives here, written once for both databases.
 */
export class SqlStore implements Store {
  readonly kind: 'sqlite' | 'postgres';
  readonly #db: SqlDriver;
  readonly #queued: QueuedDecision[] = [];
  /** Set while batches of decisions are being made; it ends when the queue is empty. */
  #deciding: Promise<void> | null = null;

  constructor(db: SqlDriver) {
    this.#db = db;
    this.kind = db.dialect;
  }

  async migrate(): Promise<void> {
    await this.#db.withMigrationLock(async () => {
      await this.#db.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      );
      const applied = new Set(
        (await this.#db.all('SELECT version FROM schema_migrations')).map((row) => Number(row.version)),
      );
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await this.#db.transaction(async (tx) => {
          await tx.exec(migration.sql);
          await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
            migration.version,
            migration.name,
            Date.now(),
          ]);
        });
      }
    });
  }

  async ping(): Promise<void> {
    await this.#db.all('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    // Decisions asked for before close() are still made, as they would be without batching.
    while (this.#deciding !== null) await this.#deciding;
    await this.#db.close();
  }

  /**
   * Decisions are group-committed: those asked for while a batch is being made (or in the same event-loop turn)
   * are made together in the next one, one transaction, each after the one before it and seeing it, and none is
   * answered before it commits. Under an alert flood the per-alert costs of a transaction (a commit, an fsync,
   * on PostgreSQL the round trips of BEGIN, the lock, the audit head and COMMIT, all while a global lock is held)
   * are paid once per batch; a lone decision waits one loop turn. One batch at a time per process: more would
   * only queue on the same target locks, each holding a pooled connection.
   */
  recordDecision(request: DecisionRequest): Promise<DecisionOutcome> {
    const outcome = new Promise<DecisionOutcome>((resolve, reject) => {
      this.#queued.push({ request, resolve, reject });
    });
    this.#startDeciding();
    return outcome;
  }

  #startDeciding(): void {
    // setImmediate runs after the event loop has handled every request that arrived with this one: they join.
    this.#deciding ??= new Promise((resolve) => setImmediate(resolve))
      .then(async () => {
        while (this.#queued.length > 0) await this.#decideBatch(this.#queued.splice(0, MAX_BATCH));
      })
      .finally(() => {
        this.#deciding = null;
        // Asked for between the last batch and this callback: nothing else would pick it up.
        if (this.#queued.length > 0) this.#startDeciding();
      });
  }

  /**
   * Makes a batch of decisions in one transaction. It takes every target lock it needs first, in one order
   * (sorted by name), before it reads or writes a row, and appends all the batch's events to the audit chain
   * last, so it never waits for a lock while holding one that comes later in this order: target locks (resume
   * and mode changes take a single one, first), then rows, which are new or belong to the locked targets, then
   * the audit head, whose holder waits for nothing but its commit. So batches on different replicas cannot
   * deadlock, whichever targets they share. One member that fails fails the transaction; then each is made again
   * alone, so only the one at fault fails.
   */
  async #decideBatch(batch: readonly QueuedDecision[]): Promise<void> {
    let outcomes: DecisionOutcome[];
    try {
      outcomes = await this.#db.transaction(async (tx) => {
        const targets = new Set(batch.flatMap(({ request }) => request.targetName ?? []));
        for (const target of [...targets].sort()) await tx.lockTarget(target);
        const decided: { outcome: DecisionOutcome; events: LastgoodEvent[] }[] = [];
        const requests = batch.map(({ request }) => request);
        const inputs = await readDecisionInputs(tx, requests);
        const writes = new BatchWrites();
        for (const [i, request] of requests.entries()) {
          decided.push(await this.#decide(tx, request, inputs[i]!, writes));
        }
        // Before the audit head is locked, which must come last (above).
        await writes.flush(tx);
        await appendEvents(
          tx,
          decided.flatMap(({ events }) => events),
        );
        return decided.map(({ outcome }) => outcome);
      });
    } catch (error) {
      if (batch.length === 1) batch[0]!.reject(error);
      else for (const member of batch) await this.#decideBatch([member]);
      return;
    }
    for (const [i, member] of batch.entries()) member.resolve(outcomes[i]!);
  }

  /**
   * Stores an alert and decides on it, under its target's lock, from the `prefetched` inputs unless the batch has
   * changed them since; the writes that store the alert, the decision, its timeline and any rollback and job join
   * the batch's `writes`. Answers the outcome and the events to append.
   */
  async #decide(
    tx: SqlDriver,
    request: DecisionRequest,
    prefetched: DecisionInputs,
    writes: BatchWrites,
  ): Promise<{ outcome: DecisionOutcome; events: LastgoodEvent[] }> {
    let inputs = prefetched;
    if (writes.changes(request)) {
      await writes.flush(tx);
      [inputs] = (await readDecisionInputs(tx, [request])) as [DecisionInputs];
    }
    if (inputs.earlierAlertId !== null) {
      return { outcome: await this.#duplicateOf(tx, inputs.earlierAlertId), events: [] };
    }
    const alert: AlertRecord | null =
      request.alert === null
        ? null
        : {
            ...request.alert,
            id: newId('alt', request.alert.receivedAt.getTime()),
            acknowledgedBy: null,
            acknowledgedAt: null,
          };
    const draft = request.decide(inputs.history, inputs.controls);
    const decision: DecisionRecord = {
      id: newId('dec', request.now.getTime()),
      alertId: alert?.id ?? null,
      targetName: request.targetName,
      action: draft.action,
      reason: draft.reason,
      confidence: draft.confidence,
      factors: draft.factors,
      mode: draft.mode,
      wouldRollback: draft.wouldRollback,
      nextEligibleAt: draft.nextEligibleAt,
      requestedBy: draft.requestedBy,
      requestedRevision: draft.requestedRevision,
      decidedAt: request.now,
    };
    const steps: TimelineEvent[] = [
      ...(alert === null
        ? []
        : [
            {
              at: alert.receivedAt,
              step: 'alert_received',
              detail: { alertId: alert.id, source: alert.source, incidentId: alert.signal.incidentId },
            },
          ]),
      {
        at: decision.decidedAt,
        step: 'decided',
        detail: { action: decision.action, reason: decision.reason, confidence: decision.confidence },
      },
    ];
    const rollback =
      decision.action === 'rollback' && decision.targetName !== null
        ? queuedRollback(decision.id, decision.targetName, request.now)
        : null;
    writes.add(
      [
        // Under the target's lock the read above saw any earlier delivery, so a conflict here is one that raced
        // in from a replica that routes the alert elsewhere: the alert is stored once, and this batch fails.
        ...(alert === null ? [] : [alertInsert(alert)]),
        decisionInsert(decision),
        timelineInsert(decision.id, steps),
        ...(rollback === null ? [] : rollbackInserts(rollback)),
      ],
      alert,
      rollback,
    );
    let healed: LastgoodEvent[] = [];
    if (alert !== null && alert.signal.state === 'closed' && alert.targetName !== null) {
      await writes.flush(tx);
      healed = await this.#healOnClose(tx, alert, alert.targetName, request.now);
      if (healed.length > 0) writes.touched(alert.targetName);
    }
    return {
      outcome: { alert, decision, rollback, duplicate: false },
      events: [decisionEvent({ ...decision, incidentId: alert?.signal.incidentId ?? null }), ...healed],
    };
  }

  /**
   * A closed incident heals the rollbacks waiting on it while their verification window is open: the one its own
   * opening alert triggered, and manual ones of the target (a person's rollback has no incident of its own).
   */
  async #healOnClose(
    tx: SqlDriver,
    alert: AlertRecord,
    targetName: string,
    at: Date,
  ): Promise<LastgoodEvent[]> {
    const rows = await tx.all(
      `SELECT r.decision_id FROM rollbacks r JOIN decisions d ON d.id = r.decision_id
        LEFT JOIN alerts a ON a.id = d.alert_id
        WHERE r.target_name = ? AND r.verification = 'pending' AND r.verify_by >= ?
          AND (a.incident_id = ? OR d.alert_id IS NULL)
        ORDER BY r.created_at`,
      [targetName, at.getTime(), alert.signal.incidentId],
    );
    const events: LastgoodEvent[] = [];
    for (const row of rows) {
      events.push(
        ...(await this.#recordVerification(tx, str(row.decision_id), 'healed', at, {
          closedBy: alert.id,
          closedIncident: alert.signal.incidentId,
        })),
      );
    }
    return events;
  }

  /**
   * Records a rollback's verification once, whoever gets there first (a closing alert, or the sweep of any
   * replica): the update only applies while it is still pending. Answers the event to append, if it applied.
   */
  async #recordVerification(
    tx: SqlDriver,
    decisionId: string,
    result: 'healed' | 'not_healed',
    at: Date,
    evidence: Record<string, unknown>,
  ): Promise<LastgoodEvent[]> {
    const changed = await tx.run(
      `UPDATE rollbacks SET verification = ?, verified_at = ?, updated_at = ?
        WHERE decision_id = ? AND verification = 'pending'`,
      [result, at.getTime(), at.getTime(), decisionId],
    );
    if (changed !== 1) return [];
    await appendTimeline(tx, decisionId, { at, step: result, detail: evidence });
    return [verificationEvent(await this.#rollbackFacts(tx, decisionId), result, at, evidence)];
  }

  async #duplicateOf(tx: SqlDriver, alertId: string): Promise<DecisionOutcome> {
    const alertRow = await first(tx, `SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = ?`, [alertId]);
    if (!alertRow) throw new Error(`alert ${alertId} vanished inside its transaction`);
    const alert = toAlert(alertRow);
    const row = await first(
      tx,
      `SELECT ${DECISION_COLUMNS}, ${ROLLBACK_COLUMNS} FROM decisions d
        LEFT JOIN rollbacks r ON r.decision_id = d.id WHERE d.alert_id = ?`,
      [alert.id],
    );
    if (!row) throw new Error(`alert ${alert.id} has no decision`);
    return { alert, decision: toDecision(row), rollback: toRollback(row), duplicate: true };
  }

  async getStatus(id: string): Promise<StatusView | null> {
    const column = id.startsWith('alt_') ? 'd.alert_id' : 'd.id';
    const row = await first(
      this.#db,
      `SELECT ${DECISION_COLUMNS}, ${ROLLBACK_COLUMNS} FROM decisions d
        LEFT JOIN rollbacks r ON r.decision_id = d.id WHERE ${column} = ?`,
      [id],
    );
    if (!row) return null;
    const decision = toDecision(row);
    const alertRow =
      decision.alertId === null
        ? null
        : await first(this.#db, `SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = ?`, [decision.alertId]);
    const events = await this.#db.all(
      'SELECT at, step, detail FROM timeline WHERE decision_id = ? ORDER BY at, id',
      [decision.id],
    );
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

  async listRecent(query: RecentQuery): Promise<RecentItem[]> {
    const params: SqlValue[] = [query.since.getTime()];
    let where = 'd.decided_at >= ?';
    if (query.action !== null) {
      where += ' AND d.action = ?';
      params.push(query.action);
    }
    if (query.cursor !== null) {
      where += ' AND (d.decided_at < ? OR (d.decided_at = ? AND d.id < ?))';
      params.push(query.cursor.decidedAt.getTime(), query.cursor.decidedAt.getTime(), query.cursor.id);
    }
    params.push(query.limit);
    const rows = await this.#db.all(
      `SELECT ${DECISION_COLUMNS}, ${ROLLBACK_COLUMNS},
          a.incident_id AS a_incident_id, a.received_at AS a_received_at, a.source AS a_source
        FROM decisions d
        LEFT JOIN alerts a ON a.id = d.alert_id
        LEFT JOIN rollbacks r ON r.decision_id = d.id
        WHERE ${where}
        ORDER BY d.decided_at DESC, d.id DESC
        LIMIT ?`,
      params,
    );
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

  async decisionStats(since: Date): Promise<DecisionStats> {
    const from = since.getTime();
    const byAction: Record<string, number> = {};
    const byReason: Record<string, number> = {};
    for (const row of await this.#db.all(
      'SELECT action, reason, COUNT(*) AS n FROM decisions WHERE decided_at >= ? GROUP BY action, reason',
      [from],
    )) {
      byAction[str(row.action)] = (byAction[str(row.action)] ?? 0) + Number(row.n);
      byReason[str(row.reason)] = (byReason[str(row.reason)] ?? 0) + Number(row.n);
    }
    const rollbacksByState: Record<string, number> = {};
    for (const row of await this.#db.all(
      'SELECT state, COUNT(*) AS n FROM rollbacks WHERE created_at >= ? GROUP BY state',
      [from],
    )) {
      rollbacksByState[str(row.state)] = Number(row.n);
    }
    const durations = await this.#db.all(
      `SELECT r.finished_at - COALESCE(a.received_at, d.decided_at) AS duration_ms
        FROM rollbacks r JOIN decisions d ON d.id = r.decision_id LEFT JOIN alerts a ON a.id = d.alert_id
        WHERE r.state = 'succeeded' AND r.created_at >= ? AND r.finished_at IS NOT NULL
        ORDER BY duration_ms LIMIT 100000`,
      [from],
    );
    return {
      byAction,
      byReason,
      rollbacksByState,
      timeToRollbackMs: durations.map((row) => Number(row.duration_ms)),
    };
  }

  acknowledgeAlert(alertId: string, by: string, at: Date): Promise<AlertRecord | null> {
    return this.#db.transaction(async (tx) => {
      const changed = await tx.run(
        'UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE id = ? AND acknowledged_at IS NULL',
        [by, at.getTime(), alertId],
      );
      const row = await first(tx, `SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = ?`, [alertId]);
      if (row === null) return null;
      const alert = toAlert(row);
      // Only the first acknowledgement changes anything; the later ones are answered with it.
      if (changed === 1) {
        const decision = await first(tx, 'SELECT id FROM decisions WHERE alert_id = ?', [alertId]);
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

  async decisionHistory(since: Date, until: Date, limit: number): Promise<DecisionHistoryItem[]> {
    const alertColumns = ALERT_COLUMNS.split(', ')
      .map((column) => `a.${column} AS a_${column}`)
      .join(', ');
    const rows = await this.#db.all(
      `SELECT ${DECISION_COLUMNS}, ${ROLLBACK_COLUMNS}, ${alertColumns}
        FROM decisions d
        LEFT JOIN alerts a ON a.id = d.alert_id
        LEFT JOIN rollbacks r ON r.decision_id = d.id
        WHERE d.decided_at >= ? AND d.decided_at < ?
        ORDER BY d.decided_at, d.id
        LIMIT ?`,
      [since.getTime(), until.getTime(), limit],
    );
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

  claimJob(owner: string, now: Date, leaseMs: number): Promise<JobRecord | null> {
    return this.#db.transaction(async (tx) => {
      const at = now.getTime();
      // SKIP LOCKED lets replicas claim different jobs at once instead of queueing on the same row.
      const lock = tx.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
      const row = await first(
        tx,
        `SELECT j.id, j.decision_id, j.state, j.attempts, j.lease_owner, r.target_name FROM jobs j
          JOIN rollbacks r ON r.decision_id = j.decision_id
          WHERE (j.state = 'queued' AND j.run_after <= ?) OR (j.state = 'running' AND j.lease_expires_at < ?)
          ORDER BY j.run_after, j.id LIMIT 1${lock}`,
        [at, at],
      );
      if (!row) return null;
      const takenOverFrom = str(row.state) === 'running' ? strOrNull(row.lease_owner) : null;
      const job: JobRecord = {
        id: str(row.id),
        decisionId: str(row.decision_id),
        targetName: str(row.target_name),
        attempts: Number(row.attempts) + 1,
        leaseOwner: owner,
        leaseExpiresAt: new Date(at + leaseMs),
        takenOverFrom,
      };
      await tx.run(
        "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, attempts = ?, updated_at = ? WHERE id = ?",
        [owner, job.leaseExpiresAt.getTime(), job.attempts, at, job.id],
      );
      await tx.run("UPDATE rollbacks SET state = 'running', updated_at = ? WHERE decision_id = ?", [
        at,
        job.decisionId,
      ]);
      await appendTimeline(tx, job.decisionId, {
        at: now,
        step: takenOverFrom === null ? 'job_claimed' : 'job_taken_over',
        detail: {
          worker: owner,
          attempt: job.attempts,
          ...(takenOverFrom === null ? {} : { from: takenOverFrom }),
        },
      });
      return job;
    });
  }

  async renewLease(jobId: string, owner: string, now: Date, leaseMs: number): Promise<boolean> {
    const changed = await this.#db.run(
      "UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'",
      [now.getTime() + leaseMs, now.getTime(), jobId, owner],
    );
    return changed === 1;
  }

  async releaseJob(jobId: string, owner: string, now: Date): Promise<void> {
    await this.#db.run(
      `UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, run_after = ?, updated_at = ?
        WHERE id = ? AND lease_owner = ? AND state = 'running'`,
      [now.getTime(), now.getTime(), jobId, owner],
    );
  }

  recordProgress(
    decisionId: string,
    progress: RollbackProgress,
    events: readonly TimelineEvent[],
    lease?: HeldLease,
  ): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      if (lease !== undefined) {
        const held = await tx.run(
          "UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'",
          [lease.now.getTime() + lease.leaseMs, lease.now.getTime(), lease.jobId, lease.owner],
        );
        if (held !== 1) return false;
      }
      const columns = {
        fromRevision: 'from_revision',
        toRevision: 'to_revision',
        lkgRule: 'lkg_rule',
      } as const;
      const sets: string[] = [];
      const params: SqlValue[] = [];
      for (const [key, column] of Object.entries(columns)) {
        const value = progress[key as keyof RollbackProgress];
        if (value === undefined) continue;
        sets.push(`${column} = ?`);
        params.push(value);
      }
      if (sets.length > 0) {
        await tx.run(`UPDATE rollbacks SET ${sets.join(', ')}, updated_at = ? WHERE decision_id = ?`, [
          ...params,
          (events.at(-1)?.at ?? new Date()).getTime(),
          decisionId,
        ]);
      }
      await appendTimeline(tx, decisionId, ...events);
      const mutations = events.filter((event) => MUTATION_STEPS.has(event.step));
      if (mutations.length > 0) {
        const rollback = await first(tx, 'SELECT target_name FROM rollbacks WHERE decision_id = ?', [
          decisionId,
        ]);
        await appendEvents(
          tx,
          mutations.map((event) => ({
            type: 'google_mutation',
            severity: 'info',
            at: event.at,
            target: strOrNull(rollback?.target_name),
            decisionId,
            actor: SYSTEM_ACTOR,
            data: { step: event.step, method: MUTATION_STEPS.get(event.step), ...event.detail },
          })),
        );
      }
      return true;
    });
  }

  completeJob(
    job: JobRecord,
    outcome: RollbackOutcome,
    event: TimelineEvent,
    verificationWindowMs: number,
  ): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      const at = event.at.getTime();
      const owned = await tx.run(
        "UPDATE jobs SET state = 'done', lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'",
        [at, job.id, job.leaseOwner],
      );
      if (owned !== 1) return false;
      await tx.run(
        // What an earlier step learnt stays when the outcome does not know better.
        `UPDATE rollbacks SET state = ?, from_revision = COALESCE(?, from_revision), to_revision = COALESCE(?, to_revision),
          lkg_rule = COALESCE(?, lkg_rule), error_code = ?, error_message = ?, updated_at = ?, finished_at = ?
          WHERE decision_id = ?`,
        [
          outcome.state,
          outcome.fromRevision,
          outcome.toRevision,
          outcome.lkgRule,
          outcome.errorCode,
          outcome.errorMessage,
          at,
          at,
          job.decisionId,
        ],
      );
      await appendTimeline(tx, job.decisionId, event);
      if (outcome.state === 'succeeded') {
        await tx.run("UPDATE rollbacks SET verification = 'pending', verify_by = ? WHERE decision_id = ?", [
          at + verificationWindowMs,
          job.decisionId,
        ]);
      }
      const events = [rollbackFinishedEvent(await this.#rollbackFacts(tx, job.decisionId), event.at)];
      const closed = outcome.state === 'succeeded' ? await this.#closedSince(tx, job.decisionId) : null;
      if (closed !== null) {
        events.push(...(await this.#recordVerification(tx, job.decisionId, 'healed', event.at, closed)));
      }
      await appendEvents(tx, events);
      return true;
    });
  }

  /** The incident's closing alert, if it arrived while the rollback ran (for a manual one: any on the target). */
  async #closedSince(tx: SqlDriver, decisionId: string): Promise<Record<string, unknown> | null> {
    const row = await first(
      tx,
      `SELECT c.id, c.incident_id FROM decisions d
        LEFT JOIN alerts o ON o.id = d.alert_id
        JOIN alerts c ON c.target_name = d.target_name AND c.state = 'closed' AND c.received_at >= d.decided_at
          AND (o.id IS NULL OR c.incident_id = o.incident_id)
        WHERE d.id = ? ORDER BY c.received_at LIMIT 1`,
      [decisionId],
    );
    return row === null ? null : { closedBy: str(row.id), closedIncident: str(row.incident_id) };
  }

  expireVerifications(now: Date): Promise<number> {
    return this.#db.transaction(async (tx) => {
      // Replicas sweep at once; each takes the rows no other holds, and the update applies once per rollback.
      const lock = tx.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
      const rows = await tx.all(
        `SELECT decision_id, verify_by FROM rollbacks WHERE verification = 'pending' AND verify_by < ?
          ORDER BY verify_by LIMIT 100${lock}`,
        [now.getTime()],
      );
      const events: LastgoodEvent[] = [];
      for (const row of rows) {
        events.push(
          ...(await this.#recordVerification(tx, str(row.decision_id), 'not_healed', now, {
            verifyBy: ms(row.verify_by).toISOString(),
            explanation: 'the incident did not close within the verification window',
          })),
        );
      }
      await appendEvents(tx, events);
      return events.length;
    });
  }

  resumeTarget(targetName: string, actor: string, at: Date): Promise<string[]> {
    return this.#db.transaction(async (tx) => {
      await tx.lockTarget(targetName);
      const rows = await tx.all(
        `SELECT decision_id FROM rollbacks WHERE target_name = ? AND ${BLOCKING} ORDER BY created_at DESC`,
        [targetName],
      );
      const cleared = rows.map((row) => str(row.decision_id));
      await tx.run(
        `UPDATE rollbacks SET resumed_by = ?, resumed_at = ? WHERE target_name = ? AND ${BLOCKING}`,
        [actor, at.getTime(), targetName],
      );
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

  /** A rollback with the decision and incident behind it, as rollback events describe it. */
  async #rollbackFacts(tx: SqlDriver, decisionId: string): Promise<RollbackFacts> {
    const row = await first(
      tx,
      `SELECT ${ROLLBACK_COLUMNS}, d.reason, d.confidence, d.requested_by, a.incident_id
        FROM rollbacks r JOIN decisions d ON d.id = r.decision_id LEFT JOIN alerts a ON a.id = d.alert_id
        WHERE r.decision_id = ?`,
      [decisionId],
    );
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

  async pendingJobCount(): Promise<number> {
    const row = await first(this.#db, "SELECT COUNT(*) AS n FROM jobs WHERE state <> 'done'", []);
    return Number(row?.n ?? 0);
  }

  async recordTrafficObservation(targetName: string, observation: TrafficObservation): Promise<void> {
    await this.#db.run(
      'INSERT INTO traffic_observations (id, target_name, observed_at, full_revision) VALUES (?, ?, ?, ?)',
      [
        newId('obs', observation.observedAt.getTime()),
        targetName,
        observation.observedAt.getTime(),
        observation.fullRevision,
      ],
    );
  }

  async trafficHistory(targetName: string, since: Date): Promise<TrafficObservation[]> {
    const rows = await this.#db.all(
      `SELECT observed_at, full_revision FROM traffic_observations
        WHERE target_name = ? AND observed_at >= ? ORDER BY observed_at, id`,
      [targetName, since.getTime()],
    );
    return rows.map((row) => ({
      observedAt: ms(row.observed_at),
      fullRevision: strOrNull(row.full_revision),
    }));
  }

  async incidentWindows(targetName: string, since: Date): Promise<IncidentWindow[]> {
    const rows = await this.#db.all(
      'SELECT incident_id, state, signal FROM alerts WHERE target_name = ? AND received_at >= ? ORDER BY received_at',
      [targetName, since.getTime()],
    );
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

  recordEvent(event: LastgoodEvent): Promise<RecordedEvent> {
    return this.#db.transaction(async (tx) => toRecordedEvent((await appendEvents(tx, [event]))[0]!));
  }

  async listAudit(beforeSeq: number | null, limit: number): Promise<RecordedEvent[]> {
    return (await auditRowsBefore(this.#db, beforeSeq, limit)).map(toRecordedEvent);
  }

  auditRows(afterSeq: number, limit: number): Promise<AuditRow[]> {
    return auditRowsAfter(this.#db, afterSeq, limit);
  }

  auditHead(): Promise<ChainHead> {
    return readAuditHead(this.#db);
  }

  claimNotifications(owner: string, now: Date, leaseMs: number, limit: number): Promise<OutboxItem[]> {
    return this.#db.transaction(async (tx) => {
      const at = now.getTime();
      // As with jobs: replicas skip the rows another one is claiming instead of waiting for them.
      const lock = tx.dialect === 'postgres' ? ' FOR UPDATE OF o SKIP LOCKED' : '';
      const rows = await tx.all(
        `${OUTBOX_SELECT}
          WHERE o.state = 'pending' AND o.next_attempt_at <= ? AND (o.lease_expires_at IS NULL OR o.lease_expires_at < ?)
          ORDER BY o.next_attempt_at, o.id LIMIT ?${lock}`,
        [at, at, limit],
      );
      const items = rows.map(toOutboxItem);
      for (const item of items) {
        item.attempts += 1;
        await tx.run(
          'UPDATE outbox SET attempts = ?, lease_owner = ?, lease_expires_at = ?, updated_at = ? WHERE id = ?',
          [item.attempts, owner, at + leaseMs, at, item.id],
        );
      }
      return items;
    });
  }

  async finishNotification(id: string, owner: string, outcome: NotificationOutcome): Promise<boolean> {
    const changed = await this.#db.run(
      `UPDATE outbox SET state = ?, delivered_to = ?, last_error = ?, next_attempt_at = ?, lease_owner = NULL,
        lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'pending'`,
      [
        outcome.state,
        JSON.stringify(outcome.deliveredTo),
        outcome.lastError,
        outcome.nextAttemptAt.getTime(),
        outcome.at.getTime(),
        id,
        owner,
      ],
    );
    return changed === 1;
  }

  async listDeadLetters(beforeId: string | null, limit: number): Promise<OutboxItem[]> {
    const rows = await this.#db.all(
      `${OUTBOX_SELECT} WHERE o.state = 'dead' AND o.id < ? ORDER BY o.id DESC LIMIT ?`,
      // Ids sort by creation time; '~' sorts after every id.
      [beforeId ?? '~', limit],
    );
    return rows.map(toOutboxItem);
  }

  retryNotification(id: string, actor: string, at: Date): Promise<OutboxItem | null> {
    return this.#db.transaction(async (tx) => {
      const changed = await tx.run(
        `UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
          WHERE id = ? AND state = 'dead'`,
        [at.getTime(), at.getTime(), id],
      );
      if (changed !== 1) return null;
      const row = await first(tx, `${OUTBOX_SELECT} WHERE o.id = ?`, [id]);
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

  async outboxBacklog(): Promise<number> {
    const row = await first(this.#db, "SELECT COUNT(*) AS n FROM outbox WHERE state <> 'delivered'", []);
    return Number(row?.n ?? 0);
  }

  controls(targetName: string | null): Promise<StoredControls> {
    return readControls(this.#db, targetName);
  }

  async controlOverview(): Promise<ControlOverview> {
    const settings = await this.#db.all('SELECT key, value, reason, changed_by, changed_at FROM settings');
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
    for (const row of await this.#db.all(
      `SELECT target_name, decision_id, state FROM rollbacks WHERE ${BLOCKING} ORDER BY created_at DESC`,
    )) {
      const target = str(row.target_name);
      if (blocks.has(target)) continue;
      blocks.set(target, toBlock(row.decision_id, row.state));
    }
    return { enabled, modes, blocks };
  }

  changeControl(change: ControlChange): Promise<void> {
    return this.#db.transaction(async (tx) => {
      const at = change.at.getTime();
      const target = change.kind === 'mode' ? change.target : null;
      // A mode change waits for the target's decisions in flight, so every later one sees it.
      if (target !== null) await tx.lockTarget(target);
      const key = target === null ? KILL_SWITCH_KEY : modeKey(target);
      const value = change.kind === 'mode' ? change.mode : change.enabled;
      const previous = await first(tx, 'SELECT value FROM settings WHERE key = ?', [key]);
      await tx.run(
        `INSERT INTO settings (key, value, reason, changed_by, changed_at) VALUES (?, ?, ?, ?, ?)
          ON CONFLICT (key) DO UPDATE SET value = excluded.value, reason = excluded.reason,
            changed_by = excluded.changed_by, changed_at = excluded.changed_at`,
        [key, value === null ? null : JSON.stringify(value), change.reason, change.actor, at],
      );
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
}
