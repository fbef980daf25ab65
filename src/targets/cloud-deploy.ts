import type { v1 } from '@google-cloud/deploy';
import type { google } from '@google-cloud/deploy/build/protos/protos.js';
import { planRelease, type ReleasePlan, type RolloutInfo, releaseSucceeded } from '../domain/release-plan.ts';
import { outcomeWithoutChange, type RollbackOutcome } from '../domain/rollback.ts';
import type { CloudDeployTargetConfig, TargetConfig } from '../domain/target.ts';
import { LastgoodError } from '../errors.ts';
import { type ExecutionContext, LeaseLostError, type RollbackExecutor } from './executor.ts';
import {
  type CallBudget,
  callGoogleRecorded,
  type GoogleCallOptions,
  type GoogleCallPolicy,
  GRPC,
  getOperation,
  googleErrorCode,
  inDoubt,
  pollUntil,
  type RollbackCalls,
  type RollbackJob,
  recordFailedMutation,
  startBudget,
  startRollback,
} from './google-call.ts';

type Rollout = google.cloud.deploy.v1.IRollout;
type DeliveryPipeline = google.cloud.deploy.v1.IDeliveryPipeline;
type Known = { fromRevision: string | null; toRevision: string | null; lkgRule: string | null };

/**
 * The pipeline annotation lastgood sets, with its decision id, when it suspends a pipeline: Cloud Deploy keeps no
 * record of who suspended one, and lastgood must lift only the suspensions it made.
 */
export const SUSPENDED_BY_ANNOTATION = 'lastgood/suspended-by';
/** What a rollout is read as when it does not exist (yet), or could not be read when the time ran out. */
const NOT_FOUND = 'NOT_FOUND';
const UNREADABLE = 'UNREADABLE';

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

function createdMs(rollout: Rollout): number {
  return Number(rollout.createTime?.seconds ?? 0) * 1000 + Math.floor((rollout.createTime?.nanos ?? 0) / 1e6);
}

function pipelineName(target: CloudDeployTargetConfig): string {
  return `projects/${target.project}/locations/${target.region}/deliveryPipelines/${target.pipeline}`;
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

  constructor(client: v1.CloudDeployClient, policy: GoogleCallPolicy) {
    this.#client = client;
    this.#policy = policy;
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
      const existing = await this.#findRollout(
        context,
        `${pipeline}/releases/${previous.toRevision}/rollouts/${rolloutId}`,
      );
      if (existing) {
        await context.progress('rollout_found', { rollout: existing.name, state: rolloutState(existing) });
        return this.#follow(context, existing.name ?? '', { ...known, lkgRule: previous.lkgRule ?? null });
      }
    }

    const deliveryPipeline = await this.#getPipeline(context, pipeline);
    if (deliveryPipeline.suspended) {
      await context.progress('pipeline_suspended', { pipeline });
      return outcomeWithoutChange(
        'skipped',
        'PIPELINE_SUSPENDED',
        `Delivery pipeline ${target.pipeline} is suspended; Cloud Deploy refuses rollbacks until it is resumed`,
      );
    }
    const plan = await this.#plan(context, target);
    if ('outcome' in plan) return plan.outcome;

    const request = {
      name: pipeline,
      targetId: target.target,
      rolloutId,
      releaseId: plan.toRelease,
      rolloutToRollBack: plan.rolloutToRollBack,
    };
    await this.#call(context, 'RollbackTarget', (options) =>
      this.#client.rollbackTarget({ ...request, validateOnly: true }, options),
    );
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
    const notCreated = outcomeWithoutChange('failed', 'GOOGLE_API_ERROR', message, known);
    if (doubtful) return this.#follow(context, rolloutName, known, notCreated);
    return this.#settle(context, rolloutName, await this.#lastRead(context, rolloutName), known, notCreated);
  }

  async #getPipeline(context: RollbackCalls | null, name: string): Promise<DeliveryPipeline> {
    const [pipeline] = await this.#call(context, 'GetDeliveryPipeline', (options) =>
      this.#client.getDeliveryPipeline({ name }, options),
    );
    return pipeline;
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
  ): Promise<Extract<ReleasePlan, { kind: 'rollback' }> | { outcome: RollbackOutcome }> {
    const plan = planRelease(
      await this.#rolloutsOnTarget(context, target),
      target.target,
      context.requestedRevision,
    );
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
        await context.progress(
          'lkg_selected',
          {
            release: plan.toRelease,
            rule: plan.rule,
            explanation: plan.explanation,
            rolloutToRollBack: lastSegment(plan.rolloutToRollBack),
          },
          { fromRevision: plan.fromRelease, toRevision: plan.toRelease, lkgRule: plan.rule },
        );
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
          await this.#freeze(context);
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

  /**
   * Suspends the pipeline, marked as lastgood's by `SUSPENDED_BY_ANNOTATION`, and records `pipeline_frozen`. A
   * pipeline someone else suspended meanwhile is left alone and recorded as `pipeline_already_suspended`: lastgood
   * did not freeze it, so it will not lift it. The write is guarded by the etag just read.
   */
  async #freeze(context: RollbackJob): Promise<void> {
    const name = pipelineName(context.target as CloudDeployTargetConfig);
    // A succeeded rollback is always frozen, so the freeze gets at least one deadline of its own even when the
    // rollback's time ran out.
    const job: RollbackJob = {
      ...context,
      endsAt: Math.max(context.endsAt, context.now().getTime() + this.#policy.deadlineMs),
    };
    for (let conflicts = 0; ; conflicts++) {
      const pipeline = await this.#getPipeline(job, name);
      if (pipeline.suspended) {
        const by = suspendedBy(pipeline);
        // Our own mark: an earlier attempt at this rollback froze it and died before recording that.
        if (by === context.decisionId) await job.progress('pipeline_frozen', { pipeline: name, by });
        else await job.progress('pipeline_already_suspended', { pipeline: name, by });
        return;
      }
      try {
        await this.#setSuspended(job, pipeline, context.decisionId);
        await job.progress('pipeline_frozen', { pipeline: name, by: context.decisionId });
        return;
      } catch (error) {
        // The pipeline changed since it was read (someone may have suspended it): read it again and decide.
        if (googleErrorCode(error) === GRPC.ABORTED && conflicts < 1) continue;
        // The write failed or its fate is unknown: the pipeline says whether it is suspended, and by whom.
        const now = await this.#getPipeline(job, name).catch(() => null);
        if (now?.suspended && suspendedBy(now) === context.decisionId) {
          await job.progress('pipeline_frozen', { pipeline: name, by: context.decisionId });
          return;
        }
        throw error;
      }
    }
  }

  /**
   * Suspends the pipeline with lastgood's mark naming `decisionId`, or, given null, resumes it and removes the
   * mark; other annotations are kept. Waits for the operation within the budget (the plain timeout outside one).
   */
  async #setSuspended(
    job: RollbackJob | null,
    pipeline: DeliveryPipeline,
    decisionId: string | null,
  ): Promise<void> {
    const name = pipeline.name ?? '';
    const { [SUSPENDED_BY_ANNOTATION]: _previous, ...annotations } = pipeline.annotations ?? {};
    if (decisionId !== null) annotations[SUSPENDED_BY_ANNOTATION] = decisionId;
    const [operation] = await this.#call(job, 'UpdateDeliveryPipeline', (options) =>
      this.#client.updateDeliveryPipeline(
        {
          deliveryPipeline: { name, suspended: decisionId !== null, etag: pipeline.etag ?? '', annotations },
          updateMask: { paths: ['suspended', 'annotations'] },
        },
        options,
      ),
    );
    const budget: CallBudget & Partial<RollbackCalls> = job ?? startBudget(this.#policy, () => new Date());
    const failure = await pollUntil<string | null>(
      this.#policy,
      budget,
      async () => {
        const progress = await this.#call(job, 'GetOperation', (options) =>
          getOperation(this.#client.operationsClient, operation.name ?? '', options),
        );
        if (!progress.done) return undefined;
        const error = progress.error;
        return error && (error.code ?? 0) !== 0 ? (error.message ?? `code ${error.code}`) : null;
      },
      async () => 'the operation did not finish in time',
    );
    if (failure !== null) {
      throw new LastgoodError('LASTGOOD_ERR_GOOGLE_API', `UpdateDeliveryPipeline failed: ${failure}`, {
        details: { method: 'UpdateDeliveryPipeline', grpcCode: null },
      });
    }
  }

  /**
   * Resumes a pipeline lastgood suspended after a rollback. A suspension lastgood did not make is refused with
   * LASTGOOD_ERR_FREEZE_NOT_OURS: whoever made it must lift it. False when the pipeline was not suspended at all.
   */
  async unfreeze(target: TargetConfig): Promise<boolean> {
    if (target.kind !== 'cloud-deploy') throw new Error(`${target.name} is not a Cloud Deploy target`);
    const pipeline = await this.#getPipeline(null, pipelineName(target));
    if (!pipeline.suspended) return false;
    if (suspendedBy(pipeline) === null) {
      throw new LastgoodError(
        'LASTGOOD_ERR_FREEZE_NOT_OURS',
        `Delivery pipeline ${target.pipeline} was suspended by someone other than lastgood; whoever suspended it ` +
          'must resume it in Cloud Deploy (Cloud Audit Logs name them). lastgood lifts only the freezes it made.',
        { details: { pipeline: pipeline.name, suspendedBy: 'not lastgood' } },
      );
    }
    await this.#setSuspended(null, pipeline, null);
    return true;
  }
}

/** The decision whose rollback suspended the pipeline, or null when lastgood did not suspend it. */
function suspendedBy(pipeline: DeliveryPipeline): string | null {
  return pipeline.annotations?.[SUSPENDED_BY_ANNOTATION] ?? null;
}
