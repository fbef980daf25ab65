import type { AuditRow, ChainHead } from '../audit/chain.ts';
import type { ControlSetting, StoredControls } from '../domain/controls.ts';
import type { IncidentWindow, TrafficObservation } from '../domain/last-known-good.ts';
import type { RollbackOutcome, RollbackProgress, RollbackRecord, TimelineEvent } from '../domain/rollback.ts';
import type {
  Action,
  Decision,
  Factor,
  Mode,
  Reason,
  Signal,
  SignalSource,
  TargetBlock,
  TargetHistory,
} from '../domain/types.ts';
import type { LastgoodEvent, RecordedEvent } from '../events/event.ts';

/** An alert as it arrived, before it is stored. */
export interface NewAlert {
  source: SignalSource;
  dedupeKey: string;
  receivedAt: Date;
  targetName: string | null;
  signal: Signal;
  rawBody: string;
}

export interface AlertRecord extends NewAlert {
  id: string;
  acknowledgedBy: string | null;
  acknowledgedAt: Date | null;
}

export interface DecisionRecord {
  id: string;
  alertId: string | null;
  targetName: string | null;
  action: Action;
  reason: Reason;
  confidence: number;
  factors: Factor[];
  mode: Mode | null;
  wouldRollback: boolean;
  nextEligibleAt: Date | null;
  requestedBy: string | null;
  requestedRevision: string | null;
  decidedAt: Date;
}

/** What the engine decided, plus what only the caller knows (mode in force, who asked for a manual rollback). */
export interface DecisionDraft extends Decision {
  mode: Mode | null;
  requestedBy: string | null;
  requestedRevision: string | null;
}

/**
 * One decision to record. `decide` is called inside the store's per-target transaction with the target's history
 * read in that same transaction, so concurrent alerts can never both pass the rate limit or cooldown.
 */
export interface DecisionRequest {
  /** The alert to store first; null for a manual request. */
  alert: NewAlert | null;
  targetName: string | null;
  /** Rollbacks older than this (and no longer active) are left out of the history. */
  historySince: Date;
  now: Date;
  /** Given the target's history and the controls people set at run time, both read in the same transaction. */
  decide: (history: TargetHistory, controls: StoredControls) => DecisionDraft;
  /**
   * Asked when the decision queues a rollback: a lease for the process that will run the job at once, so the job
   * is created already claimed, in the decision's commit; null (or no `leaseJob`) queues it for any worker. It may
   * be asked more than once for one request (a batch that failed is decided again) and must answer the same.
   */
  leaseJob?: () => JobLease | null;
}

/** Whose lease a job is created under, and for how long from the decision. */
export interface JobLease {
  owner: string;
  leaseMs: number;
}

/** Every run-time control, and the targets waiting for a person, for `GET /v1/kill-switch`. */
export interface ControlOverview {
  enabled: ControlSetting<boolean> | null;
  modes: ReadonlyMap<string, ControlSetting<Mode>>;
  blocks: ReadonlyMap<string, TargetBlock>;
}

/** A change to the kill switch or a target's mode; null hands it back to the environment or policy file. */
export type ControlChange = (
  | { kind: 'kill_switch'; enabled: boolean | null }
  | { kind: 'mode'; target: string; mode: Mode | null }
) & { reason: string; actor: string; at: Date };

export interface DecisionOutcome {
  alert: AlertRecord | null;
  decision: DecisionRecord;
  rollback: RollbackRecord | null;
  /** The rollback's job when it was created claimed under the request's `leaseJob`; null otherwise. */
  job: JobRecord | null;
  /** True when the alert was a redelivery: nothing new was stored or decided. */
  duplicate: boolean;
}

export interface StatusView {
  alert: AlertRecord | null;
  decision: DecisionRecord;
  rollback: RollbackRecord | null;
  timeline: TimelineEvent[];
}

export interface RecentQuery {
  since: Date;
  limit: number;
  action: Action | null;
  /** Only this target's decisions; all when absent or null. */
  target?: string | null;
  /** Only decisions for this reason; all when absent or null. */
  reason?: Reason | null;
  /** Opaque cursor from the previous page. */
  cursor: { decidedAt: Date; id: string } | null;
}

export interface RecentItem {
  decision: DecisionRecord;
  alert: { id: string; incidentId: string; receivedAt: Date; source: SignalSource } | null;
  rollback: RollbackRecord | null;
}

/** A decision with its whole alert (signal included) and its rollback: what `lastgood replay` decides again. */
export interface DecisionHistoryItem {
  decision: DecisionRecord;
  alert: AlertRecord | null;
  rollback: RollbackRecord | null;
}

/**
 * A decision as correlating incidents reads it: a slice of `DecisionHistoryItem` without the alert's body or the
 * decision's factors, since every judged rollback reads up to a thousand of them.
 */
export interface DecisionSignalItem {
  decidedAt: Date;
  targetName: string | null;
  reason: Reason;
  /** Of the decision's alert; null for a manual request. */
  signal: Pick<Signal, 'startedAt' | 'isTest'> | null;
  rollback: Pick<RollbackRecord, 'state' | 'errorCode'> | null;
}

export interface DecisionStats {
  byAction: Record<string, number>;
  byReason: Record<string, number>;
  rollbacksByState: Record<string, number>;
  /** Alert received (or manual request) to rollback succeeded, for rollbacks that succeeded in the window. */
  timeToRollbackMs: number[];
}

/** A persisted rollback job. Whoever holds an unexpired lease runs it; an expired lease may be taken over. */
export interface JobRecord {
  id: string;
  decisionId: string;
  targetName: string;
  attempts: number;
  leaseOwner: string;
  /**
   * This claim's fencing token: every claim of the job, a re-claim by the same owner included, takes a new one, so
   * a write fenced by an earlier claim's token is refused even when the owner's name is the same.
   */
  generation: number;
  leaseExpiresAt: Date;
  /** The owner whose lease expired when this claim took the job over; null for a first claim. */
  takenOverFrom: string | null;
}

/** A job lease a write is conditional on, renewed by that write (never shortened). */
export interface HeldLease {
  jobId: string;
  owner: string;
  /** The claim's `JobRecord.generation`. */
  generation: number;
  now: Date;
  leaseMs: number;
}

/**
 * The fence before a Google mutation: the lease (held for `leaseMs`, long enough to cover the call), and whether
 * the run-time controls, read in the same transaction as the announcement, still let lastgood change the target.
 */
export interface MutationFence extends HeldLease {
  permits(controls: StoredControls): boolean;
}

/**
 * What became of a progress write: `written`; or nothing was written because the lease was lost to a later claim
 * (`lease_lost`), the controls forbade the mutation (`refused`), or the rollback has already ended (`finished`).
 */
export type ProgressWrite = 'written' | 'lease_lost' | 'refused' | 'finished';

/** Where a notification stands: waiting (perhaps leased to a sender), delivered everywhere, or given up. */
export type NotificationState = 'pending' | 'delivered' | 'dead';

/** A notification in the outbox, with the audited event it tells about. */
export interface OutboxItem {
  id: string;
  event: RecordedEvent;
  state: NotificationState;
  /** Delivery attempts so far, the one under way included. */
  attempts: number;
  nextAttemptAt: Date;
  /** Channels that took it; a retry sends only to the others. */
  deliveredTo: string[];
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** How a delivery attempt ended, as its sender records it. */
export interface NotificationOutcome {
  /** `pending` again (to be retried at `nextAttemptAt`), `delivered` everywhere, or `dead` (given up). */
  state: NotificationState;
  deliveredTo: string[];
  lastError: string | null;
  nextAttemptAt: Date;
  at: Date;
}

/** The port every storage adapter implements; `test/store/contract.ts` is its executable definition. */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  ping(): Promise<void>;
  /**
   * Resolves when the store takes writes: at once while they succeed. After one failed it rejects (a
   * StoreUnavailableError) for a moment, then tries a write of its own and resolves once one succeeds. For /readyz.
   */
  checkWritable(): Promise<void>;
  close(): Promise<void>;
  recordDecision(request: DecisionRequest): Promise<DecisionOutcome>;
  getStatus(id: string): Promise<StatusView | null>;
  listRecent(query: RecentQuery): Promise<RecentItem[]>;
  decisionStats(since: Date): Promise<DecisionStats>;
  acknowledgeAlert(alertId: string, by: string, at: Date): Promise<AlertRecord | null>;
  /** Decisions made in [since, until), oldest first, at most `limit`: the history a what-if replay runs over. */
  decisionHistory(since: Date, until: Date, limit: number): Promise<DecisionHistoryItem[]>;
  /** The decisions `decisionHistory` answers, each with only what correlating incidents needs. */
  decisionSignals(since: Date, until: Date, limit: number): Promise<DecisionSignalItem[]>;

  /** Claims the oldest runnable job (queued, or running with an expired lease) for `owner`. */
  claimJob(owner: string, now: Date, leaseMs: number): Promise<JobRecord | null>;
  /** Extends a held lease; false when the lease was lost (expired and claimed again, by anyone). */
  renewLease(lease: HeldLease): Promise<boolean>;
  /** Gives a job back unfinished (graceful shutdown), so another worker can run it at once. */
  releaseJob(jobId: string, owner: string, now: Date): Promise<void>;
  /**
   * Records what is known so far of a running rollback, with the steps that learnt it, in one write; never once the
   * rollback has ended. Given a `fence`, the write happens only while its claim still holds the lease (and renews
   * it) and the controls read with it permit the change; else nothing is written. That is the fence before a
   * mutating call.
   */
  recordProgress(
    decisionId: string,
    progress: RollbackProgress,
    events: readonly TimelineEvent[],
    fence?: MutationFence,
  ): Promise<ProgressWrite>;
  /**
   * Ends a job: the rollback's terminal state, its last timeline step and the job's completion in one
   * transaction, only while the job's claim (its `generation`) still holds the lease and the rollback has not
   * ended. False otherwise, and the outcome is not written. A rollback that succeeded is verified for
   * `verificationWindowMs` from then (healed already if its incident closed meanwhile).
   */
  completeJob(
    job: JobRecord,
    outcome: RollbackOutcome,
    event: TimelineEvent,
    verificationWindowMs: number,
  ): Promise<boolean>;
  /**
   * Records `not_healed` for rollbacks whose verification window ended before `now` without their incident
   * closing, escalating each; safe to run from every replica at once. Answers how many it recorded.
   */
  expireVerifications(now: Date): Promise<number>;
  /** The run-time controls that apply to a target (the kill switch alone when `targetName` is null). */
  controls(targetName: string | null): Promise<StoredControls>;
  controlOverview(): Promise<ControlOverview>;
  /** Sets (or hands back) the kill switch or a target's mode, audited and notified in the same transaction. */
  changeControl(change: ControlChange): Promise<void>;
  /**
   * A person hands a target back to lastgood: the rollbacks that blocked it (failed or not healed) no longer do.
   * Audited and notified; answers the decisions of the rollbacks it cleared, newest first.
   */
  resumeTarget(targetName: string, actor: string, at: Date): Promise<string[]>;
  /** Jobs not yet done (for metrics and shutdown). */
  pendingJobCount(): Promise<number>;
  /**
   * Runs the code of a decision and of a rollback's first steps on made-up data, reading and preparing statements
   * but changing nothing, so the first alert finds it compiled. Call once the process is ready.
   */
  warmUp(): Promise<void>;

  /** Remembers how a target's traffic looked, for the traffic-history rule of the last-known-good search. */
  recordTrafficObservation(targetName: string, observation: TrafficObservation): Promise<void>;
  /** Observations since `since`, oldest first. */
  trafficHistory(targetName: string, since: Date): Promise<TrafficObservation[]>;
  /** The target's incidents that were open at any time since `since`. */
  incidentWindows(targetName: string, since: Date): Promise<IncidentWindow[]>;

  /**
   * Appends an event that goes with no state change in the store (a person's call that changed something at
   * Google). Every state change the store makes appends its own events in its own transaction.
   */
  recordEvent(event: LastgoodEvent): Promise<RecordedEvent>;
  /** Audit events before `beforeSeq` (from the newest when null), newest first. */
  listAudit(beforeSeq: number | null, limit: number): Promise<RecordedEvent[]>;
  /** A decision's audit events, oldest first, at most `limit`: what its status page lists. */
  decisionAudit(decisionId: string, limit: number): Promise<RecordedEvent[]>;
  /** Raw audit rows after `afterSeq`, oldest first, as stored: what `verifyAuditChain` recomputes. */
  auditRows(afterSeq: number, limit: number): Promise<AuditRow[]>;
  /** The last row the chain head records. */
  auditHead(): Promise<ChainHead>;

  /**
   * Leases up to `limit` notifications that are due (pending, no live lease) to `owner`, counting an attempt on
   * each; replicas never get the same one while its lease runs.
   */
  claimNotifications(owner: string, now: Date, leaseMs: number, limit: number): Promise<OutboxItem[]>;
  /** Records how a leased delivery went, only while `owner` still holds the lease. False when it lost it. */
  finishNotification(id: string, owner: string, outcome: NotificationOutcome): Promise<boolean>;
  /** Notifications given up on, newest first, before the dead letter `beforeId` when given. */
  listDeadLetters(beforeId: string | null, limit: number): Promise<OutboxItem[]>;
  /** The notifications a decision's events queued, oldest first, at most `limit`, with how each delivery went. */
  decisionNotifications(decisionId: string, limit: number): Promise<OutboxItem[]>;
  /** Puts a dead letter back in the queue with a fresh count of attempts, audited; null when no such dead letter. */
  retryNotification(id: string, actor: string, at: Date): Promise<OutboxItem | null>;
  /** Notifications not delivered: waiting, retrying or dead. */
  outboxBacklog(): Promise<number>;
}
