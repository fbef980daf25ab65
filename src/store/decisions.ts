import type { StoredControls } from '../domain/controls.ts';
import type { RollbackRecord, TimelineEvent } from '../domain/rollback.ts';
import { isActiveRollback, type RollbackState, type TargetHistory } from '../domain/types.ts';
import { StoreUnavailableError } from '../errors.ts';
import { decisionEvent, type LastgoodEvent } from '../events/event.ts';
import { appendEvents, chainHead, lostToAnotherAppend } from './audit.ts';
import { controlKeys, toControls } from './controls.ts';
import type { SqlDriver, Statement } from './driver.ts';
import { newId } from './ids.ts';
import { claimedStep } from './jobs.ts';
import { first, ms, str, strOrNull, toAlert, toBlock, toDecision, toRollback } from './rows.ts';
import { alertInsert, decisionInputs, decisionInsert, rollbackInserts } from './sql/decisions.ts';
import { ALERT_BY_ID, decisionWithRollback, timelineInsert } from './sql/shared.ts';
import type { AlertRecord, DecisionOutcome, DecisionRecord, DecisionRequest, JobRecord } from './store.ts';
import { healOnClose } from './verification.ts';

/** What a decision is made from, all read in one query under the target's lock. */
interface DecisionInputs {
  /** The id of the alert already stored under the same dedupe key: this one is a redelivery. */
  earlierAlertId: string | null;
  history: TargetHistory;
  controls: StoredControls;
}

/**
 * Reads what each of `requests` is decided from, in one query: each alert's earlier delivery, each target's
 * rollbacks since the earliest `historySince` asked for it (and any still active) newest first, the rollbacks
 * blocking it, and the controls people set.
 */
async function readDecisionInputs(
  tx: SqlDriver,
  requests: readonly DecisionRequest[],
): Promise<DecisionInputs[]> {
  const dedupeKeys = [...new Set(requests.flatMap(({ alert }) => alert?.dedupeKey ?? []))];
  const since = new Map<string, number>();
  for (const { targetName, historySince } of requests) {
    if (targetName === null) continue;
    since.set(
      targetName,
      Math.min(since.get(targetName) ?? Number.POSITIVE_INFINITY, historySince.getTime()),
    );
  }
  const keys = [...new Set(requests.flatMap(({ targetName }) => controlKeys(targetName)))];
  const { sql, params } = decisionInputs(dedupeKeys, since, keys);
  const rows = await tx.all(sql, params);
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

/** A rollback as a decision makes it: queued, or `running` when its job is created claimed. */
function newRollback(
  decisionId: string,
  targetName: string,
  now: Date,
  state: 'queued' | 'running',
): RollbackRecord {
  return {
    decisionId,
    targetName,
    state,
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

/** A decision asked for and not yet made: it joins the next batch. */
interface QueuedDecision {
  request: DecisionRequest;
  resolve: (outcome: DecisionOutcome) => void;
  reject: (error: unknown) => void;
}

/** The most decisions one transaction makes: it bounds the statements' parameters and how long locks are held. */
const MAX_BATCH = 100;

/**
 * How many batches lock the audit chain head up front after one lost it to another append. While another replica
 * appends as busily, most unlocked appends would lose (each loss costs its two round trips and a batch made again),
 * so three round trips that cannot lose are cheaper; afterwards the batches try the unlocked head again.
 */
const LOCKED_HEAD_BATCHES = 50;

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
 * Decisions are group-committed: those asked for while a batch is being made (or in the same event-loop turn)
 * are made together in the next one, one transaction, each after the one before it and seeing it, and none is
 * answered before it commits. Under an alert flood the per-alert costs of a transaction (a commit, an fsync,
 * on PostgreSQL its round trips and the audit chain's head, a global lock) are paid once per batch; a lone
 * decision waits one loop turn. One batch at a time per process: more would only queue on the same target locks,
 * each holding a pooled connection.
 */
export class DecisionBatches {
  readonly #db: SqlDriver;
  readonly #queued: QueuedDecision[] = [];
  /** Set while batches of decisions are being made; it ends when the queue is empty. */
  #deciding: Promise<void> | null = null;
  /** Batches still to lock the chain head up front (see LOCKED_HEAD_BATCHES). */
  #lockedHeadBatches = 0;

  constructor(db: SqlDriver) {
    this.#db = db;
  }

  /** Stores the request's alert and decision (and any rollback) in the next batch; answers once it commits. */
  record(request: DecisionRequest): Promise<DecisionOutcome> {
    const outcome = new Promise<DecisionOutcome>((resolve, reject) => {
      this.#queued.push({ request, resolve, reject });
    });
    this.#startDeciding();
    return outcome;
  }

  /** Resolves once every decision asked for so far is made. */
  async drain(): Promise<void> {
    while (this.#deciding !== null) await this.#deciding;
  }

  #startDeciding(): void {
    // setImmediate runs after the event loop has handled every request that arrived with this one: they join.
    this.#deciding ??= new Promise((resolve) => setImmediate(resolve))
      .then(async () => {
        while (this.#queued.length > 0) {
          const lockHead = this.#lockedHeadBatches > 0;
          if (lockHead) this.#lockedHeadBatches -= 1;
          await this.#decideBatch(this.#queued.splice(0, MAX_BATCH), lockHead);
        }
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
   * deadlock, whichever targets they share.
   *
   * The chain head is read unlocked with the decisions' inputs, in the same round trip, and locked only by the
   * append, which PostgreSQL receives with the COMMIT: a batch takes two round trips, and holds the one global
   * lock for none of them. Should another transaction append first (a job's step, a person's control, a batch
   * for another target on another replica), the append fails and the batch is made again with the head locked
   * up front, which cannot fail that way (see appendEvents), as are the next LOCKED_HEAD_BATCHES. One member
   * that fails otherwise fails the transaction; then each is made again alone, so only the one at fault fails,
   * unless the store itself could not be written.
   */
  async #decideBatch(batch: readonly QueuedDecision[], lockHead: boolean): Promise<void> {
    let outcomes: DecisionOutcome[];
    try {
      outcomes = await this.#db.transaction(async (tx) => {
        const targets = new Set(batch.flatMap(({ request }) => request.targetName ?? []));
        for (const target of [...targets].sort()) await tx.lockTarget(target);
        const decided: { outcome: DecisionOutcome; events: LastgoodEvent[] }[] = [];
        const requests = batch.map(({ request }) => request);
        const [inputs, head] = await Promise.all([
          readDecisionInputs(tx, requests),
          lockHead ? undefined : chainHead(tx, false),
        ]);
        const writes = new BatchWrites();
        for (const [i, request] of requests.entries()) {
          decided.push(await decide(tx, request, inputs[i]!, writes));
        }
        // Before the audit head is locked, which must come last (above).
        await writes.flush(tx);
        await appendEvents(
          tx,
          decided.flatMap(({ events }) => events),
          head,
        );
        return decided.map(({ outcome }) => outcome);
      });
    } catch (error) {
      if (!lockHead && lostToAnotherAppend(error)) {
        this.#lockedHeadBatches = LOCKED_HEAD_BATCHES;
        return this.#decideBatch(batch, true);
      }
      // A store that cannot be written fails every member alike: trying each alone would only add load to it.
      if (batch.length === 1 || error instanceof StoreUnavailableError)
        for (const member of batch) member.reject(error);
      else for (const member of batch) await this.#decideBatch([member], lockHead);
      return;
    }
    for (const [i, member] of batch.entries()) member.resolve(outcomes[i]!);
  }
}

/**
 * The rollback a decision to roll back makes, and its job's id. When the request leases the job to a process, the
 * job's first claim is made here, to commit with the decision: the same record, fencing token and timeline step as
 * `claimJob` gives a claim, without a commit of its own.
 */
function rollbackAndJob(
  request: DecisionRequest,
  decision: DecisionRecord,
): { rollback: RollbackRecord; jobId: string; job: JobRecord | null } | null {
  if (decision.targetName === null) return null;
  const jobId = newId('job', request.now.getTime());
  const lease = request.leaseJob?.() ?? null;
  const job: JobRecord | null =
    lease === null
      ? null
      : {
          id: jobId,
          decisionId: decision.id,
          targetName: decision.targetName,
          attempts: 1,
          leaseOwner: lease.owner,
          generation: 1,
          leaseExpiresAt: new Date(request.now.getTime() + lease.leaseMs),
          takenOverFrom: null,
        };
  const rollback = newRollback(
    decision.id,
    decision.targetName,
    request.now,
    job === null ? 'queued' : 'running',
  );
  return { rollback, jobId, job };
}

/**
 * Stores an alert and decides on it, under its target's lock, from the `prefetched` inputs unless the batch has
 * changed them since; the writes that store the alert, the decision, its timeline and any rollback and job join
 * the batch's `writes`. Answers the outcome and the events to append.
 */
async function decide(
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
    return { outcome: await duplicateOf(tx, inputs.earlierAlertId), events: [] };
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
  const made = decision.action === 'rollback' ? rollbackAndJob(request, decision) : null;
  const job = made?.job ?? null;
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
    ...(job === null ? [] : [claimedStep(job, request.now)]),
  ];
  const rollback = made?.rollback ?? null;
  writes.add(
    [
      // Under the target's lock the read above saw any earlier delivery, so a conflict here is one that raced
      // in from a replica that routes the alert elsewhere: the alert is stored once, and this batch fails.
      ...(alert === null ? [] : [alertInsert(alert)]),
      decisionInsert(decision),
      timelineInsert(decision.id, steps),
      ...(made === null ? [] : rollbackInserts(made.rollback, made.jobId, job)),
    ],
    alert,
    rollback,
  );
  let healed: LastgoodEvent[] = [];
  if (alert !== null && alert.signal.state === 'closed' && alert.targetName !== null) {
    await writes.flush(tx);
    healed = await healOnClose(tx, alert, alert.targetName, request.now);
    if (healed.length > 0) writes.touched(alert.targetName);
  }
  return {
    outcome: { alert, decision, rollback, job, duplicate: false },
    events: [decisionEvent({ ...decision, incidentId: alert?.signal.incidentId ?? null }), ...healed],
  };
}

/** A redelivered alert's outcome: the alert, decision and rollback stored when it first arrived. */
async function duplicateOf(tx: SqlDriver, alertId: string): Promise<DecisionOutcome> {
  const alertRow = await first(tx, ALERT_BY_ID, [alertId]);
  if (!alertRow) throw new Error(`alert ${alertId} vanished inside its transaction`);
  const alert = toAlert(alertRow);
  const row = await first(tx, decisionWithRollback('d.alert_id'), [alert.id]);
  if (!row) throw new Error(`alert ${alert.id} has no decision`);
  return { alert, decision: toDecision(row), rollback: toRollback(row), job: null, duplicate: true };
}
