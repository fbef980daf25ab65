import type { v1 } from '@google-cloud/deploy';
import type { google } from '@google-cloud/deploy/build/protos/protos.js';
import { planRelease, type ReleasePlan, type RolloutInfo, releaseSucceeded } from '../domain/release-plan.ts';
import { outcomeWithoutChange, type RollbackOutcome } from '../domain/rollback.ts';
import type { CloudDeployTargetConfig, TargetConfig } from '../domain/target.ts';
import { LastgoodError } from '../errors.ts';
import { type ExecutionContext, LeaseLostError, type RollbackExecutor } from './executor.ts';
import {
  awaitWriteSlot,
  callGoogleRecorded,
  type GoogleCallOptions,
  type GoogleCallPolicy,
  GRPC,
  googleErrorCode,
  inDoubt,
  pollUntil,
  type RollbackCalls,
  type RollbackJob,
  recordFailedMutation,
  startRollback,
} from './google-call.ts';
import type { MonitoringClient } from './google-clients.ts';
import {
  type EvidenceReads,
  gatheredEvidence,
  heldOutcome,
  judgeEvidence,
  startEvidenceReads,
} from './judgement.ts';
import { PipelineSuspension, pipelineName } from './pipeline-suspension.ts';

type Rollout = google.cloud.deploy.v1.IRollout;
type Known = { fromRevision: string | null; toRevision: string | null; lkgRule: string | null };

/** What a rollout is read as when it does not exist (yet), or could not be read when the time ran out. */
const NOT_FOUND = 'NOT_FOUND';
const UNREADABLE = 'UNREADABLE';
/** What a takeover's look-up finds when the earlier attempt created no rollout. */
const ABSENT = Symbol('no rollout');

/** Rollout.State by number, since gax may hand enums over either way. */
const ROLLOUT_STATES = [
  'STATE_UNSPECIFIED',
  'SUCCEEDED',
  'FAILED',
  'IN_PROGRESS',
  'PENDING_APPROVAL',
  'APPROVAL_REJECTED',
  'PENDING',
  'PENDING_RELEASE',
  'CANCELLING',
  'CANCELLED',
  'HALTED',
] as const;
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'HALTED', 'CANCELLED', 'APPROVAL_REJECTED']);

function rolloutState(rollout: Rollout): string {
  const state = rollout.state;
  return typeof state === 'number' ? (ROLLOUT_STATES[state] ?? 'STATE_UNSPECIFIED') : String(state ?? '');
}

function lastSegment(name: string | null | undefined): string {
  return (name ?? '').split('/').pop() ?? '';
}

/** `projects/p/locations/r/deliveryPipelines/d/releases/REL/rollouts/RO` -> `REL`. */
function releaseOf(rollout: Rollout): string {
  const parts = (rollout.name ?? '').split('/');
  return parts[parts.indexOf('releases') + 1] ?? '';
}

function millis(timestamp: google.protobuf.ITimestamp | null | undefined): number {
  return Number(timestamp?.seconds ?? 0) * 1000 + Math.floor((timestamp?.nanos ?? 0) / 1e6);
}

function createdMs(rollout: Rollout): number {
  return millis(rollout.createTime);
}

/** Cloud Deploy's write quotas, like Cloud Run's, are per project and region. */
function writeQuota(target: CloudDeployTargetConfig) {
  return { api: 'clouddeploy', project: target.project, region: target.region };
}

/**
 * The rollout id for a decision's rollback. Derived, never random, so a retry or a takeover after a crash asks
 * for the same rollout and Cloud Deploy answers ALREADY_EXISTS instead of creating a second one.
 */
export function rolloutIdFor(decisionId: string): string {
  const id = `lastgood-rb-${decisionId
    .replace(/^dec_/, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')}`;
  return id.slice(0, 63).replace(/-+$/, '');
}

function rolloutInfo(rollout: Rollout): RolloutInfo {
  return {
    name: rollout.name ?? '',
    release: releaseOf(rollout),
    state: rolloutState(rollout),
    rolledBack: (rollout.rolledBackByRollouts ?? []).length > 0,
    deployedAt: new Date(rollout.deployEndTime ? millis(rollout.deployEndTime) : createdMs(rollout)),
    revision: lastSegment(rollout.metadata?.cloudRun?.revision) || null,
  };
}

function releaseUnusable(target: CloudDeployTargetConfig, release: string): LastgoodError {
  return new LastgoodError(
    'LASTGOOD_ERR_REVISION_UNUSABLE',
    `Release ${release} never rolled out successfully to target ${target.target}`,
    { details: { release, problem: 'never_succeeded_on_target' } },
  );
}

/**
 * Rolls a Cloud Deploy target back through `rollbackTarget`, so the pipeline's own view of what is deployed
 * stays right and the next promotion does not bring the bad release back. Optionally suspends the pipeline
 * afterwards so the bad release is not promoted again until a person unfreezes it.
 */
export class CloudDeployExecutor implements RollbackExecutor {
  readonly #client: v1.CloudDeployClient;
  readonly #policy: GoogleCallPolicy;
  readonly #monitoring: MonitoringClient | null;
  readonly #suspension: PipelineSuspension;

  /** Without a `monitoring` client, or a `service` on the target, the rollout's timing alone is judged. */
  constructor(
    client: v1.CloudDeployClient,
    policy: GoogleCallPolicy,
    monitoring: MonitoringClient | null = null,
  ) {
    this.#client = client;
    this.#policy = policy;
    this.#monitoring = monitoring;
    this.#suspension = new PipelineSuspension(client, policy);
  }

  #call<T>(
    context: RollbackCalls | null,
    method: string,
    call: (options: GoogleCallOptions) => Promise<T>,
  ): Promise<T> {
    return callGoogleRecorded(context, method, this.#policy, call);
  }

  /** Every rollout to the target, newest first. */
  async #rolloutsOnTarget(
    context: RollbackJob | null,
    target: CloudDeployTargetConfig,
  ): Promise<RolloutInfo[]> {
    const [releases] = await this.#call(context, 'ListReleases', (options) =>
      this.#client.listReleases({ parent: pipelineName(target) }, options),
    );
    const perRelease = await Promise.all(
      releases.map(async (release) => {
        const [rollouts] = await this.#call(context, 'ListRollouts', (options) =>
          this.#client.listRollouts({ parent: release.name ?? '' }, options),
        );
        return rollouts.filter((rollout) => rollout.targetId === target.target);
      }),
    );
    return perRelease
      .flat()
      .sort((a, b) => createdMs(b) - createdMs(a))
      .map(rolloutInfo);
  }

  async checkRequestedRevision(target: TargetConfig, release: string): Promise<void> {
    if (target.kind !== 'cloud-deploy') throw new Error(`${target.name} is not a Cloud Deploy target`);
    if (!releaseSucceeded(await this.#rolloutsOnTarget(null, target), release)) {
      throw releaseUnusable(target, release);
    }
  }

  async execute(job: ExecutionContext): Promise<RollbackOutcome> {
    const context = startRollback(job, this.#policy);
    const target = context.target;
    if (target.kind !== 'cloud-deploy') throw new Error(`${target.name} is not a Cloud Deploy target`);
    const pipeline = pipelineName(target);
    const rolloutId = rolloutIdFor(context.decisionId);
    const previous = context.previous;
    const known = { fromRevision: previous.fromRevision ?? null, toRevision: previous.toRevision ?? null };

    // A retry or takeover first looks for the rollout an earlier attempt may already have created.
    if (previous.toRevision) {
      const name = `${pipeline}/releases/${previous.toRevision}/rollouts/${rolloutId}`;
      // A takeover may meet the very GetRollout trouble its predecessor died in: asked again until the budget ends.
      const lookUp = async () => (await this.#findRollout(context, name)) ?? ABSENT;
      const found = await pollUntil(this.#policy, context, lookUp, lookUp);
      const existing = found === ABSENT ? null : found;
      if (existing) {
        await context.progress('rollout_found', { rollout: existing.name, state: rolloutState(existing) });
        return this.#follow(context, existing.name ?? '', { ...known, lkgRule: previous.lkgRule ?? null });
      }
    }

    const reads =
      context.requestedRevision === null
        ? startEvidenceReads(
            context,
            this.#monitoring,
            target.service === null ? null : { ...target, service: target.service },
            this.#policy,
          )
        : null;
    const deliveryPipeline = await this.#suspension.read(context, pipeline);
    if (deliveryPipeline.suspended) {
      await context.progress('pipeline_suspended', { pipeline });
      return outcomeWithoutChange(
        'skipped',
        'PIPELINE_SUSPENDED',
        `Delivery pipeline ${target.pipeline} is suspended; Cloud Deploy refuses rollbacks until it is resumed`,
      );
    }
    const plan = await this.#plan(context, target, reads);
    if ('outcome' in plan) return plan.outcome;

    const request = {
      name: pipeline,
      targetId: target.target,
      rolloutId,
      releaseId: plan.toRelease,
      rolloutToRollBack: plan.rolloutToRollBack,
    };
    // A validate_only request counts against the write quota like the real one.
    await awaitWriteSlot(context, this.#policy, 'RollbackTarget', writeQuota(target));
    await this.#call(context, 'RollbackTarget', (options) =>
      this.#client.rollbackTarget({ ...request, validateOnly: true }, options),
    );
    await awaitWriteSlot(context, this.#policy, 'RollbackTarget', writeQuota(target));
    const [, owner] = await Promise.all([
      context.progress('rollback_validated', { rolloutId, release: plan.toRelease }),
      context.beforeMutation('api_call_issued', { method: 'RollbackTarget', ...request }),
    ]);
    if (!owner) throw new LeaseLostError(context.decisionId);
    let rolloutName = `${pipeline}/releases/${plan.toRelease}/rollouts/${rolloutId}`;
    const planned = { fromRevision: plan.fromRelease, toRevision: plan.toRelease, lkgRule: plan.rule };
    let created: string | null | undefined;
    try {
      const [response] = await this.#call(context, 'RollbackTarget', (options) =>
        this.#client.rollbackTarget(request, options),
      );
      created = response.rollbackConfig?.rollout?.name;
    } catch (error) {
      // Our own id already exists: an earlier attempt created this very rollout. Follow it, never make another.
      if (googleErrorCode(error) !== GRPC.ALREADY_EXISTS) {
        return this.#afterFailedRollback(context, rolloutName, planned, error);
      }
      await context.progress('rollout_already_exists', { rollout: rolloutName });
      return this.#follow(context, rolloutName, planned);
    }
    rolloutName = created ?? rolloutName;
    await context.progress('rollout_created', { rollout: rolloutName });
    return this.#follow(context, rolloutName, planned);
  }

  /**
   * A RollbackTarget that failed may still have created its rollout (an answer lost, a call given up at its
   * deadline), and the rollout's id is ours, so Cloud Deploy says what happened: followed until the rollback
   * timeout when the call's fate is in doubt, read once when Google refused it outright.
   */
  async #afterFailedRollback(
    context: RollbackJob,
    rolloutName: string,
    known: Known,
    error: unknown,
  ): Promise<RollbackOutcome> {
    const { doubtful, message } = await recordFailedMutation(context, 'RollbackTarget', error);
    // Cloud Deploy's own guard (`rolloutToRollBack` must be the latest rollout, the pipeline not suspended): someone
    // else changed the target since lastgood planned, and their change stands, as on Cloud Run.
    const notCreated =
      googleErrorCode(error) === GRPC.FAILED_PRECONDITION
        ? outcomeWithoutChange('skipped', 'CONCURRENT_CHANGE', message, known)
        : outcomeWithoutChange('failed', 'GOOGLE_API_ERROR', message, known);
    if (doubtful) return this.#follow(context, rolloutName, known, notCreated);
    return this.#settle(context, rolloutName, await this.#lastRead(context, rolloutName), known, notCreated);
  }

  async #findRollout(context: RollbackJob, name: string): Promise<Rollout | null> {
    try {
      const [rollout] = await this.#call(context, 'GetRollout', (options) =>
        this.#client.getRollout({ name }, options),
      );
      return rollout;
    } catch (error) {
      if (googleErrorCode(error) === GRPC.NOT_FOUND) return null;
      throw error;
    }
  }

  /** Plans the rollback by the domain's release rule, recording the choice (or why there is none). */
  async #plan(
    context: RollbackJob,
    target: CloudDeployTargetConfig,
    reads: EvidenceReads | null,
  ): Promise<Extract<ReleasePlan, { kind: 'rollback' }> | { outcome: RollbackOutcome }> {
    const rollouts = await this.#rolloutsOnTarget(context, target);
    const plan = planRelease(rollouts, target.target, context.requestedRevision);
    const current = rollouts.find(
      (rollout) => plan.kind === 'rollback' && rollout.name === plan.rolloutToRollBack,
    );
    // The verdict is written with the choice it allows, in one commit; a hold is written alone.
    let recordJudgement = async () => {};
    if (reads !== null && current !== undefined) {
      const { judgement, record } = judgeEvidence(
        context,
        await gatheredEvidence(context, reads, {
          revisions: [],
          traffic: {},
          trafficRecords: [],
          rollout: { deployEndTime: current.deployedAt, revision: current.revision },
        }),
      );
      if (judgement.action === 'hold') {
        await record();
        return { outcome: heldOutcome(judgement, { fromRevision: current.release }) };
      }
      recordJudgement = record;
    }
    switch (plan.kind) {
      case 'deploy_in_progress': {
        const { rollout } = plan;
        await context.progress('deploy_in_progress', { rollout: rollout.name, state: rollout.state });
        return {
          outcome: outcomeWithoutChange(
            'skipped',
            'DEPLOY_IN_PROGRESS',
            `Rollout ${lastSegment(rollout.name)} of release ${rollout.release} is ${rollout.state} on target ` +
              `${target.target}; lastgood does not race a deploy`,
          ),
        };
      }
      case 'nothing_deployed': {
        const why = `nothing rolled out successfully to ${target.target}`;
        await context.progress('no_lkg', { explanation: why });
        return { outcome: outcomeWithoutChange('no_lkg', 'NO_LKG', `Target ${target.target}: ${why}`) };
      }
      case 'requested_unusable':
        throw releaseUnusable(target, plan.release);
      case 'no_lkg': {
        const why = `no release rolled out successfully to ${target.target} before ${plan.fromRelease}`;
        await context.progress('no_lkg', { explanation: why, current: plan.fromRelease });
        return { outcome: outcomeWithoutChange('no_lkg', 'NO_LKG', why, { fromRevision: plan.fromRelease }) };
      }
      case 'rollback':
        await Promise.all([
          recordJudgement(),
          context.progress(
            'lkg_selected',
            {
              release: plan.toRelease,
              rule: plan.rule,
              explanation: plan.explanation,
              rolloutToRollBack: lastSegment(plan.rolloutToRollBack),
            },
            { fromRevision: plan.fromRelease, toRevision: plan.toRelease, lkgRule: plan.rule },
          ),
        ]);
        return plan;
    }
  }

  /**
   * Follows the rollback rollout to a terminal state, recording each change, until the rollback timeout; read
   * errors along the way only mean asking again. Then records what Cloud Deploy shows (see `#settle`).
   */
  async #follow(
    context: RollbackJob,
    rolloutName: string,
    known: Known,
    notCreated: RollbackOutcome | null = null,
  ): Promise<RollbackOutcome> {
    const seen = { state: '' };
    const final = await pollUntil<string>(
      this.#policy,
      context,
      async () => {
        const state = await this.#readRollout(context, rolloutName, seen);
        return TERMINAL.has(state) ? state : undefined;
      },
      () => this.#lastRead(context, rolloutName, seen),
    );
    return this.#settle(context, rolloutName, final, known, notCreated);
  }

  /** The rollout's state (NOT_FOUND when it does not exist), recorded when it differs from the one `seen` last. */
  async #readRollout(context: RollbackJob, rolloutName: string, seen: { state: string }): Promise<string> {
    const rollout = await this.#findRollout(context, rolloutName);
    const state = rollout === null ? NOT_FOUND : rolloutState(rollout);
    if (state !== seen.state) {
      seen.state = state;
      await context.progress('rollout_state', { rollout: rolloutName, state });
    }
    return state;
  }

  /** The read made once the time is up: its answer is what is recorded, so a failure to read is one too. */
  async #lastRead(context: RollbackJob, rolloutName: string, seen = { state: '' }): Promise<string> {
    try {
      return await this.#readRollout(context, rolloutName, seen);
    } catch (error) {
      if (!inDoubt(error)) throw error;
      return UNREADABLE;
    }
  }

  /**
   * Records the rollback as Cloud Deploy shows it: succeeded (and the pipeline frozen) whenever the rollout
   * succeeded, however troubled the way there; `notCreated` when a failed RollbackTarget left no rollout.
   */
  async #settle(
    context: RollbackJob,
    rolloutName: string,
    final: string,
    known: Known,
    notCreated: RollbackOutcome | null,
  ): Promise<RollbackOutcome> {
    const rollout = lastSegment(rolloutName);
    if (final === 'SUCCEEDED') {
      if (context.target.execution.freezeAfterRollback) {
        try {
          await this.#suspension.freeze(context);
        } catch (error) {
          // The rollback itself succeeded; a pipeline left unfrozen is worth a warning, not a failed rollback.
          await context.progress('freeze_failed', {
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
      return { state: 'succeeded', ...known, errorCode: null, errorMessage: null };
    }
    if (TERMINAL.has(final)) {
      return outcomeWithoutChange('failed', 'ROLLOUT_FAILED', `Rollout ${rollout} ended ${final}`, known);
    }
    if (notCreated !== null && (final === NOT_FOUND || final === UNREADABLE)) return notCreated;
    return outcomeWithoutChange(
      'failed',
      'VERIFY_TIMEOUT',
      `Rollout ${rollout} did not finish within ${this.#policy.completionTimeoutMs} ms (last state ${final})`,
      known,
    );
  }

  /** Resumes a pipeline lastgood suspended after a rollback; see `PipelineSuspension.unfreeze`. */
  unfreeze(target: TargetConfig): Promise<boolean> {
    return this.#suspension.unfreeze(target);
  }
}
