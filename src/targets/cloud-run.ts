import { type IncidentEvidence, type SuspectSelection, selectSuspect } from '../domain/evidence.ts';
import type { Judgement } from '../domain/judgement-policy.ts';
import {
  findLastKnownGood,
  type IncidentWindow,
  type RevisionInfo,
  type TrafficObservation,
} from '../domain/last-known-good.ts';
import { outcomeWithoutChange, type RollbackOutcome } from '../domain/rollback.ts';
import type { CloudRunTargetConfig, TargetConfig } from '../domain/target.ts';
import {
  CloudRunReads,
  type EarlyReads,
  type ServiceRead,
  serviceName,
  startedFor,
} from './cloud-run-reads.ts';
import {
  rollbackTraffic,
  type Service,
  shortName,
  snapshotOf,
  succeeded,
  type TrafficSnapshot,
} from './cloud-run-traffic.ts';
import {
  type ExecutionContext,
  LeaseLostError,
  type RollbackExecutor,
  type StartedRollback,
} from './executor.ts';
import {
  awaitWriteSlot,
  type GoogleCallPolicy,
  GRPC,
  getOperation,
  googleErrorCode,
  pollUntil,
  quickPolls,
  type RollbackJob,
  recordFailedMutation,
  startRollback,
} from './google-call.ts';
import type { CloudRunClients, MonitoringClient } from './google-clients.ts';
import {
  type EvidenceReads,
  gatheredEvidence,
  heldOutcome,
  judgeEvidence,
  startEvidenceReads,
} from './judgement.ts';

/** A rollback re-plans at most this many times when someone else keeps changing the service under it. */
const MAX_CONFLICTS = 2;
const HISTORY_WINDOW_MS = 7 * 24 * 3_600_000;

/** Cloud Run Admin API write quotas are per project and region. */
function writeQuota(target: CloudRunTargetConfig) {
  return { api: 'run', project: target.project, region: target.region };
}

/** What the last-known-good search reads: the service's revisions, lastgood's traffic history and incidents. */
type LkgEvidence = [RevisionInfo[], TrafficObservation[], IncidentWindow[]];

interface Plan {
  from: string;
  to: string;
  rule: string;
}

/** Where a rollback goes, or why it goes nowhere. */
type Choice = (Plan & { explanation: string }) | { noLkg: string } | { held: Judgement };

/** A split's suspect is found by when revisions started serving; without an alert, as of now. */
function unjudgedIncident(now: Date): IncidentEvidence {
  return { startedAt: now, lookbackMs: null, conditionDurationMs: 0 };
}

/**
 * Whether traffic is still as lastgood planned against: the revision it rolls back still serving (for a split,
 * still serving at all; otherwise still the largest share). Anything else is someone else's change, which stands.
 */
function stillAsPlanned(plan: Plan, before: TrafficSnapshot): boolean {
  return plan.rule === 'split_baseline' ? (before.split[plan.from] ?? 0) > 0 : before.serving === plan.from;
}

/**
 * Rolls a Cloud Run service back by moving 100% of its traffic to the last known good revision with one
 * UpdateService call guarded by the service's etag. A retry or a takeover re-reads the service first, so a
 * rollback that already landed is verified, never sent twice.
 */
export class CloudRunExecutor implements RollbackExecutor {
  readonly #clients: Pick<CloudRunClients, 'services' | 'revisions'>;
  readonly #policy: GoogleCallPolicy;
  readonly #monitoring: MonitoringClient | null;
  readonly #reads: CloudRunReads;

  /** Without a `monitoring` client, the judgement decides on change timing alone (telemetry `off`). */
  constructor(
    clients: Pick<CloudRunClients, 'services' | 'revisions'>,
    policy: GoogleCallPolicy,
    monitoring: MonitoringClient | null = null,
  ) {
    this.#clients = clients;
    this.#policy = policy;
    this.#monitoring = monitoring;
    this.#reads = new CloudRunReads(clients, policy, monitoring);
  }

  /**
   * GetService, ListRevisions and the Monitoring read, sent as the rollback is decided (`CloudRunReads.startEarly`).
   * Only the first attempt of an automatic rollback uses them; a retry, a takeover or a manual request reads when it
   * runs.
   */
  startReads(target: TargetConfig, incident: IncidentEvidence, now: () => Date): StartedRollback {
    const early = this.#reads.startEarly(target, incident, now);
    return {
      execute: (context) => {
        if (startedFor(early, context)) return this.#execute(context, early);
        early.recorder.discard();
        return this.#execute(context, null);
      },
      discard: () => early.recorder.discard(),
    };
  }

  checkRequestedRevision(target: TargetConfig, revision: string): Promise<void> {
    return this.#reads.checkRevision(target, revision);
  }

  execute(job: ExecutionContext): Promise<RollbackOutcome> {
    return this.#execute(job, null);
  }

  async #execute(job: ExecutionContext, early: EarlyReads | null): Promise<RollbackOutcome> {
    const context = startRollback(job, this.#policy);
    early?.recorder.attach(context);
    const target = context.target;
    if (target.kind !== 'cloud-run') throw new Error(`${target.name} is not a Cloud Run target`);
    const name = serviceName(target);
    let plan =
      context.previous.toRevision && context.previous.fromRevision
        ? {
            from: context.previous.fromRevision,
            to: context.previous.toRevision,
            rule: context.previous.lkgRule ?? '',
          }
        : null;
    // Asked for before the slower reads below, which a server answering in order (the emulator) would put first.
    let firstRead: Promise<ServiceRead> | null =
      early?.service ?? this.#reads.readService(context, name, context.now);
    firstRead.catch(() => {}); // Awaited in the loop; until then a failure is no unhandled rejection.
    // What the last-known-good search reads does not depend on the service's current state, so it is fetched
    // alongside the first GetService rather than after it: one Google round trip fewer before UpdateService.
    // (Leaving out the traffic observation this attempt records changes nothing: it is of the serving
    // revision, which is never a candidate.)
    const evidence: Promise<LkgEvidence> | null =
      plan === null && context.requestedRevision === null
        ? Promise.all([
            early?.revisions ?? this.#reads.revisions(context, name),
            context.trafficHistory(),
            context.incidents(),
          ])
        : null;
    evidence?.catch(() => {}); // As firstRead.
    // The judgement's own reads (one Monitoring call, the other targets' incidents) run alongside GetService too.
    const reads =
      evidence === null
        ? null
        : startEvidenceReads(context, this.#monitoring, target, this.#policy, early?.telemetry ?? null);
    for (let conflicts = 0; ; conflicts++) {
      const { service, readAt } = await (firstRead ?? this.#reads.readService(context, name, context.now));
      firstRead = null;
      const before = snapshotOf(service);
      // The verdict on what was read, once there is one: written with the reading, as the first of its steps.
      let recordJudgement: (() => Promise<void>) | null = null;
      // Written with whatever follows from it, once the plan is known: writes asked for in one turn share one
      // commit, so judging, reading, planning and the lease check cost one fsync before acting. The reading keeps
      // the time of the read: the judgement, which waits for telemetry, comes after it.
      const recordReading = () => [
        ...(recordJudgement === null ? [] : [recordJudgement()]),
        context.observeTraffic({ observedAt: readAt, fullRevision: before.full }),
        context.progress('service_read', { traffic: before.split, etag: before.etag }, {}, readAt),
      ];

      if (plan !== null && before.full === plan.to) {
        await Promise.all([...recordReading(), context.progress('already_on_lkg', { revision: plan.to })]);
        return this.#verify(context, name, plan);
      }
      if (plan !== null && !stillAsPlanned(plan, before)) {
        await Promise.all(recordReading());
        // Someone else moved traffic since lastgood planned: their change stands.
        return outcomeWithoutChange(
          'skipped',
          'CONCURRENT_CHANGE',
          `Traffic changed under lastgood (now ${JSON.stringify(before.split)}); it did not overwrite it`,
          { fromRevision: plan.from, toRevision: plan.to, lkgRule: plan.rule },
        );
      }
      let recordChoice: () => Promise<void> = async () => {};
      if (plan === null) {
        const { chosen, judged } = await this.#plan(context, service, before, evidence, reads);
        recordJudgement = judged;
        if ('held' in chosen) {
          await Promise.all(recordReading());
          return heldOutcome(chosen.held, { fromRevision: chosen.held.summary.suspect ?? before.serving });
        }
        if ('noLkg' in chosen) {
          await Promise.all([
            ...recordReading(),
            context.progress('no_lkg', { explanation: chosen.noLkg, serving: before.serving }),
          ]);
          return outcomeWithoutChange('no_lkg', 'NO_LKG', chosen.noLkg, {
            fromRevision: before.serving ?? '',
          });
        }
        const selected: Plan = { from: chosen.from, to: chosen.to, rule: chosen.rule };
        plan = selected;
        recordChoice = () =>
          context.progress(
            'lkg_selected',
            { revision: selected.to, rule: selected.rule, explanation: chosen.explanation },
            { fromRevision: selected.from, toRevision: selected.to, lkgRule: selected.rule },
          );
      }
      await awaitWriteSlot(context, this.#policy, 'UpdateService', writeQuota(target));
      const traffic = rollbackTraffic(service, plan.to);
      const [, , owner] = await Promise.all([
        Promise.all(recordReading()),
        recordChoice(),
        context.beforeMutation('api_call_issued', { method: 'UpdateService', etag: before.etag, traffic }),
      ]);
      if (!owner) throw new LeaseLostError(context.decisionId);
      let operationName: string;
      try {
        const [operation] = await this.#reads.call(context, 'UpdateService', (options) =>
          this.#clients.services.updateService(
            { service: { name, traffic, etag: before.etag }, updateMask: { paths: ['traffic'] } },
            options,
          ),
        );
        if (!operation.name) throw new Error('UpdateService returned an operation without a name');
        operationName = operation.name;
      } catch (error) {
        if (googleErrorCode(error) === GRPC.ABORTED && conflicts < MAX_CONFLICTS) {
          await context.progress('etag_conflict', { etag: before.etag, action: 're-read and re-decide' });
          continue;
        }
        return this.#afterFailedUpdate(context, name, plan, error);
      }
      const failure = await this.#awaitOperation(context, operationName);
      if (failure !== null) {
        // Google's word that the operation failed is recorded only once the service agrees.
        return this.#readTruth(
          context,
          name,
          plan,
          outcomeWithoutChange('failed', 'OPERATION_FAILED', failure, {
            fromRevision: plan.from,
            toRevision: plan.to,
            lkgRule: plan.rule,
          }),
        );
      }
      return this.#verify(context, name, plan);
    }
  }

  /**
   * An UpdateService that failed may still have changed traffic (an answer lost, a call given up at its deadline
   * that Cloud Run still carries out), so what is recorded is what the service shows: followed until the
   * rollback timeout when the call's fate is in doubt, read once when Google refused it outright.
   */
  async #afterFailedUpdate(
    context: RollbackJob,
    name: string,
    plan: Plan,
    error: unknown,
  ): Promise<RollbackOutcome> {
    const { doubtful, message } = await recordFailedMutation(context, 'UpdateService', error);
    const failed = outcomeWithoutChange('failed', 'GOOGLE_API_ERROR', message, {
      fromRevision: plan.from,
      toRevision: plan.to,
      lkgRule: plan.rule,
    });
    return doubtful
      ? this.#verify(context, name, plan, failed)
      : this.#readTruth(context, name, plan, failed);
  }

  /**
   * Chooses where to go: the requested revision, else the last known good one. It writes nothing: `execute`
   * records the verdict (`judged`, when the evidence was judged) and the choice together with the other steps
   * before the call, in one commit.
   */
  async #plan(
    context: RollbackJob,
    service: Service,
    before: TrafficSnapshot,
    /** Fetched by `execute` unless a revision was requested. */
    evidence: Promise<LkgEvidence> | null,
    /** Started by `execute` when the alert's evidence is to be judged. */
    reads: EvidenceReads | null,
  ): Promise<{ chosen: Choice; judged: (() => Promise<void>) | null }> {
    const from = before.serving ?? '';
    if (context.requestedRevision !== null) {
      await this.checkRequestedRevision(context.target, context.requestedRevision);
      return {
        chosen: {
          from,
          to: context.requestedRevision,
          rule: 'requested',
          explanation: 'named in the manual request',
        },
        judged: null,
      };
    }
    const settings = context.target.execution;
    const since = new Date(context.now().getTime() - HISTORY_WINDOW_MS);
    if (evidence === null)
      throw new Error('execute() fetches the evidence whenever it has no plan to follow');
    const [revisions, history, incidents] = await evidence;
    const tagged = (service.traffic ?? []).find(
      (entry) => entry.tag === settings.stableTag && entry.revision,
    );
    const recent = history.filter((observation) => observation.observedAt >= since);
    const choice = findLastKnownGood({
      revisions,
      servingRevision: before.serving,
      taggedRevision: tagged ? shortName(tagged.revision) : null,
      history: recent,
      incidents,
      minHealthyServingMs: settings.minHealthyServingMs,
    });
    const own = {
      revisions,
      traffic: before.split,
      trafficRecords: recent,
      rollout: null,
      lastKnownGood: choice.revision,
    };
    let split: SuspectSelection | null = null;
    let judged: (() => Promise<void>) | null = null;
    const answer = (chosen: Choice) => ({ chosen, judged });
    if (reads !== null) {
      const { judgement, record } = judgeEvidence(context, await gatheredEvidence(context, reads, own));
      judged = record;
      // No revision to go back to is not a hold: the bad release serves on and a person must act now.
      if (judgement.reason === 'NO_LAST_KNOWN_GOOD') return answer({ noLkg: choice.explanation });
      if (judgement.action === 'hold') return answer({ held: judgement });
      const { summary } = judgement;
      if (summary.split) split = { ...summary, changeTime: summary.change };
    } else if (Object.keys(before.split).length > 1) {
      split = selectSuspect(
        {
          ...own,
          incident: context.incident ?? unjudgedIncident(context.now()),
          telemetry: { status: 'off' },
          correlated: [],
        },
        null,
        0,
      );
    }
    // In a canary split, the suspect is the newest revision to gain traffic, whatever its share: all traffic goes
    // to the baseline serving beside it.
    if (split?.suspect && split.baseline) {
      return answer({
        from: split.suspect,
        to: split.baseline,
        rule: 'split_baseline',
        explanation: `${split.suspect} is the newest revision in the split; ${split.baseline} serves beside it`,
      });
    }
    if (choice.revision === null) return answer({ noLkg: choice.explanation });
    return answer({ from, to: choice.revision, rule: choice.rule, explanation: choice.explanation });
  }

  /**
   * Polls the operation until done; returns its error message, or null when it succeeded or did not finish in
   * time (then the service itself says whether traffic moved).
   */
  #awaitOperation(context: RollbackJob, operationName: string): Promise<string | null> {
    return pollUntil(
      this.#policy,
      context,
      async () => {
        const operation = await this.#reads.call(context, 'GetOperation', (options) =>
          getOperation(this.#clients.services.operationsClient, operationName, options),
        );
        if (!operation.done) return undefined;
        const error = operation.error as { code?: number; message?: string } | undefined;
        if (error && (error.code ?? 0) !== 0) {
          await context.progress('operation_failed', {
            operation: operationName,
            code: error.code,
            message: error.message,
          });
          return `UpdateService operation failed: ${error.message ?? `code ${error.code}`}`;
        }
        await context.progress('operation_done', { operation: operationName });
        return null;
      },
      async () => {
        await context.progress('operation_timeout', { operation: operationName });
        return null;
      },
      quickPolls(this.#policy),
    );
  }

  /**
   * Proves the rollback landed: all traffic on the LKG, not reconciling, terminal condition succeeded. Polls until
   * the rollback timeout, then reads once more and records what it finds: `failure` (by default VERIFY_TIMEOUT)
   * unless the rollback landed after all.
   */
  #verify(
    context: RollbackJob,
    name: string,
    plan: Plan,
    failure?: RollbackOutcome,
  ): Promise<RollbackOutcome> {
    return pollUntil<RollbackOutcome>(
      this.#policy,
      context,
      async () => (await this.#landed(context, name, plan)).outcome ?? undefined,
      () => this.#readTruth(context, name, plan, failure),
      quickPolls(this.#policy),
    );
  }

  /** One last bounded read of the service before a terminal state is recorded: success if the rollback landed. */
  async #readTruth(
    context: RollbackJob,
    name: string,
    plan: Plan,
    failure: RollbackOutcome | undefined,
  ): Promise<RollbackOutcome> {
    let seen: { split?: Record<string, number>; reconciling?: boolean; unreadable?: string };
    try {
      const read = await this.#landed(context, name, plan);
      if (read.outcome !== null) return read.outcome;
      seen = read.seen;
    } catch (error) {
      // Given up at shutdown: another worker takes the job over and reads for itself.
      if (error instanceof LeaseLostError) throw error;
      seen = { unreadable: error instanceof Error ? error.message : String(error) };
    }
    // A failure already known (the call or operation failed) is confirmed by this read; else verifying ran out.
    await context.progress(failure ? 'truth_read' : 'verify_timeout', seen);
    return (
      failure ??
      outcomeWithoutChange(
        'failed',
        'VERIFY_TIMEOUT',
        `Traffic is ${seen.split ? JSON.stringify(seen.split) : 'unreadable'}, not 100% on ${plan.to}, after ${this.#policy.completionTimeoutMs} ms`,
        { fromRevision: plan.from, toRevision: plan.to, lkgRule: plan.rule },
      )
    );
  }

  /** Reads the service: the succeeded outcome when all traffic is settled on the LKG, and what was seen. */
  async #landed(
    context: RollbackJob,
    name: string,
    plan: Plan,
  ): Promise<{
    outcome: RollbackOutcome | null;
    seen: { split: Record<string, number>; reconciling: boolean };
  }> {
    const service = await this.#reads.service(context, name);
    const after = snapshotOf(service);
    const seen = { split: after.split, reconciling: service.reconciling ?? false };
    if (service.reconciling || !succeeded(service.terminalCondition?.state) || after.full !== plan.to) {
      return { outcome: null, seen };
    }
    await Promise.all([
      context.observeTraffic({ observedAt: context.now(), fullRevision: after.full }),
      context.progress('verified', { traffic: after.split }),
    ]);
    const outcome: RollbackOutcome = {
      state: 'succeeded',
      fromRevision: plan.from,
      toRevision: plan.to,
      lkgRule: plan.rule,
      errorCode: null,
      errorMessage: null,
    };
    return { outcome, seen };
  }
}
