import type { AuditRow, ChainHead } from '../audit/chain.ts';
import type { StoredControls } from '../domain/controls.ts';
import type { IncidentWindow, TrafficObservation } from '../domain/last-known-good.ts';
import type { RollbackOutcome, RollbackProgress, TimelineEvent } from '../domain/rollback.ts';
import type { LastgoodEvent, RecordedEvent } from '../events/event.ts';
import * as audit from './audit.ts';
import * as controlSettings from './controls.ts';
import { DecisionBatches } from './decisions.ts';
import type { GuardedDriver } from './driver.ts';
import * as jobs from './jobs.ts';
import { MIGRATIONS } from './migrations.ts';
import * as outbox from './outbox.ts';
import * as queries from './queries.ts';
import {
  APPLIED_MIGRATIONS,
  CREATE_MIGRATIONS_TABLE,
  PING,
  RECORD_MIGRATION,
  WRITE_PROBE,
} from './sql/schema.ts';
import type {
  AlertRecord,
  ControlChange,
  ControlOverview,
  DecisionHistoryItem,
  DecisionOutcome,
  DecisionRequest,
  DecisionSignalItem,
  DecisionStats,
  HeldLease,
  JobRecord,
  MutationFence,
  NotificationOutcome,
  OutboxItem,
  ProgressWrite,
  RecentItem,
  RecentQuery,
  StatusView,
  Store,
} from './store.ts';
import * as traffic from './traffic.ts';
import * as verification from './verification.ts';
import { warmUpStore } from './warm-up.ts';

/**
 * The Store over any SqlDriver, written once for both databases: each concern's queries live in its own file
 * (their SQL text under `sql/`), and this class only hands each call to the one that owns it.
 */
export class SqlStore implements Store {
  readonly kind: 'sqlite' | 'postgres';
  readonly #db: GuardedDriver;
  readonly #decisions: DecisionBatches;

  constructor(db: GuardedDriver) {
    this.#db = db;
    this.kind = db.dialect;
    this.#decisions = new DecisionBatches(db);
  }

  async migrate(): Promise<void> {
    await this.#db.withMigrationLock(async () => {
      await this.#db.exec(CREATE_MIGRATIONS_TABLE);
      const applied = new Set((await this.#db.all(APPLIED_MIGRATIONS)).map((row) => Number(row.version)));
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await this.#db.transaction(async (tx) => {
          await tx.exec(migration.sql);
          await tx.run(RECORD_MIGRATION, [migration.version, migration.name, Date.now()]);
        });
      }
    });
  }

  async ping(): Promise<void> {
    await this.#db.all(PING);
  }

  /** A real, committed write; rejects with StoreUnavailableError when the store will not take it. */
  async probeWrite(): Promise<void> {
    await this.#db.run(WRITE_PROBE, [Date.now()]);
  }

  async checkWritable(): Promise<void> {
    const recent = this.#db.writes.recentFailure();
    if (recent !== null) throw recent;
    if (this.#db.writes.unproven) await this.probeWrite();
  }

  async close(): Promise<void> {
    // Decisions asked for before close() are still made, as they would be without batching.
    await this.#decisions.drain();
    await this.#db.close();
  }

  recordDecision(request: DecisionRequest): Promise<DecisionOutcome> {
    return this.#decisions.record(request);
  }

  getStatus(id: string): Promise<StatusView | null> {
    return queries.getStatus(this.#db, id);
  }

  listRecent(query: RecentQuery): Promise<RecentItem[]> {
    return queries.listRecent(this.#db, query);
  }

  decisionStats(since: Date): Promise<DecisionStats> {
    return queries.decisionStats(this.#db, since);
  }

  acknowledgeAlert(alertId: string, by: string, at: Date): Promise<AlertRecord | null> {
    return queries.acknowledgeAlert(this.#db, alertId, by, at);
  }

  decisionHistory(since: Date, until: Date, limit: number): Promise<DecisionHistoryItem[]> {
    return queries.decisionHistory(this.#db, since, until, limit);
  }

  decisionSignals(since: Date, until: Date, limit: number): Promise<DecisionSignalItem[]> {
    return queries.decisionSignals(this.#db, since, until, limit);
  }

  claimJob(owner: string, now: Date, leaseMs: number): Promise<JobRecord | null> {
    return jobs.claimJob(this.#db, owner, now, leaseMs);
  }

  renewLease(lease: HeldLease): Promise<boolean> {
    return jobs.renewLease(this.#db, lease);
  }

  releaseJob(jobId: string, owner: string, now: Date): Promise<void> {
    return jobs.releaseJob(this.#db, jobId, owner, now);
  }

  recordProgress(
    decisionId: string,
    progress: RollbackProgress,
    events: readonly TimelineEvent[],
    fence?: MutationFence,
  ): Promise<ProgressWrite> {
    return jobs.recordProgress(this.#db, decisionId, progress, events, fence);
  }

  completeJob(
    job: JobRecord,
    outcome: RollbackOutcome,
    event: TimelineEvent,
    verificationWindowMs: number,
  ): Promise<boolean> {
    return jobs.completeJob(this.#db, job, outcome, event, verificationWindowMs);
  }

  expireVerifications(now: Date): Promise<number> {
    return verification.expireVerifications(this.#db, now);
  }

  pendingJobCount(): Promise<number> {
    return jobs.pendingJobCount(this.#db);
  }

  async warmUp(): Promise<void> {
    await warmUpStore(this.#db);
  }

  resumeTarget(targetName: string, actor: string, at: Date): Promise<string[]> {
    return controlSettings.resumeTarget(this.#db, targetName, actor, at);
  }

  recordTrafficObservation(targetName: string, observation: TrafficObservation): Promise<void> {
    return traffic.recordTrafficObservation(this.#db, targetName, observation);
  }

  trafficHistory(targetName: string, since: Date): Promise<TrafficObservation[]> {
    return traffic.trafficHistory(this.#db, targetName, since);
  }

  incidentWindows(targetName: string, since: Date): Promise<IncidentWindow[]> {
    return traffic.incidentWindows(this.#db, targetName, since);
  }

  recordEvent(event: LastgoodEvent): Promise<RecordedEvent> {
    return audit.recordEvent(this.#db, event);
  }

  listAudit(beforeSeq: number | null, limit: number): Promise<RecordedEvent[]> {
    return audit.listAudit(this.#db, beforeSeq, limit);
  }

  decisionAudit(decisionId: string, limit: number): Promise<RecordedEvent[]> {
    return audit.decisionAudit(this.#db, decisionId, limit);
  }

  auditRows(afterSeq: number, limit: number): Promise<AuditRow[]> {
    return audit.auditRowsAfter(this.#db, afterSeq, limit);
  }

  auditHead(): Promise<ChainHead> {
    return audit.readAuditHead(this.#db);
  }

  claimNotifications(owner: string, now: Date, leaseMs: number, limit: number): Promise<OutboxItem[]> {
    return outbox.claimNotifications(this.#db, owner, now, leaseMs, limit);
  }

  finishNotification(id: string, owner: string, outcome: NotificationOutcome): Promise<boolean> {
    return outbox.finishNotification(this.#db, id, owner, outcome);
  }

  listDeadLetters(beforeId: string | null, limit: number): Promise<OutboxItem[]> {
    return outbox.listDeadLetters(this.#db, beforeId, limit);
  }

  decisionNotifications(decisionId: string, limit: number): Promise<OutboxItem[]> {
    return outbox.decisionNotifications(this.#db, decisionId, limit);
  }

  retryNotification(id: string, actor: string, at: Date): Promise<OutboxItem | null> {
    return outbox.retryNotification(this.#db, id, actor, at);
  }

  outboxBacklog(): Promise<number> {
    return outbox.outboxBacklog(this.#db);
  }

  controls(targetName: string | null): Promise<StoredControls> {
    return controlSettings.readControls(this.#db, targetName);
  }

  controlOverview(): Promise<ControlOverview> {
    return controlSettings.controlOverview(this.#db);
  }

  changeControl(change: ControlChange): Promise<void> {
    return controlSettings.changeControl(this.#db, change);
  }
}
