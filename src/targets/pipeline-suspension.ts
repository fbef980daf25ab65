import type { v1 } from '@google-cloud/deploy';
import type { google } from '@google-cloud/deploy/build/protos/protos.js';
import type { CloudDeployTargetConfig, TargetConfig } from '../domain/target.ts';
import { LastgoodError } from '../errors.ts';
import {
  awaitWriteSlot,
  type CallBudget,
  callGoogleRecorded,
  type GoogleCallPolicy,
  GRPC,
  getOperation,
  googleErrorCode,
  pollUntil,
  type RollbackCalls,
  type RollbackJob,
  startBudget,
} from './google-call.ts';

type DeliveryPipeline = google.cloud.deploy.v1.IDeliveryPipeline;

/**
 * The pipeline annotation lastgood sets, with its decision id, when it suspends a pipeline: Cloud Deploy keeps no
 * record of who suspended one, and lastgood must lift only the suspensions it made.
 */
export const SUSPENDED_BY_ANNOTATION = 'lastgood/suspended-by';

/** The delivery pipeline's full name. */
export function pipelineName(target: CloudDeployTargetConfig): string {
  return `projects/${target.project}/locations/${target.region}/deliveryPipelines/${target.pipeline}`;
}

/**
 * Freezes a Cloud Deploy pipeline after a rollback, and lifts such a freeze, marking each suspension lastgood makes
 * so that it never takes over, or lifts, one it did not make.
 */
export class PipelineSuspension {
  readonly #client: v1.CloudDeployClient;
  readonly #policy: GoogleCallPolicy;

  constructor(client: v1.CloudDeployClient, policy: GoogleCallPolicy) {
    this.#client = client;
    this.#policy = policy;
  }

  /** Reads the pipeline, within the rollback's budget when given one. */
  async read(context: RollbackCalls | null, name: string): Promise<DeliveryPipeline> {
    const [pipeline] = await callGoogleRecorded(context, 'GetDeliveryPipeline', this.#policy, (options) =>
      this.#client.getDeliveryPipeline({ name }, options),
    );
    return pipeline;
  }

  /**
   * Suspends the pipeline, marked as lastgood's by `SUSPENDED_BY_ANNOTATION`, and records `pipeline_frozen`. A
   * pipeline someone else suspended meanwhile is left alone and recorded as `pipeline_already_suspended`: lastgood
   * did not freeze it, so it will not lift it. The write is guarded by the etag just read.
   */
  async freeze(context: RollbackJob): Promise<void> {
    const name = pipelineName(context.target as CloudDeployTargetConfig);
    // A succeeded rollback is always frozen, so the freeze gets at least one deadline of its own even when the
    // rollback's time ran out.
    const job: RollbackJob = {
      ...context,
      endsAt: Math.max(context.endsAt, context.now().getTime() + this.#policy.deadlineMs),
    };
    for (let conflicts = 0; ; conflicts++) {
      const pipeline = await this.read(job, name);
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
        const now = await this.read(job, name).catch(() => null);
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
    // projects/P/locations/R/deliveryPipelines/X: the write quota is Cloud Deploy's, per project and region.
    const [, project = '', , region = ''] = name.split('/');
    await awaitWriteSlot(job, this.#policy, 'UpdateDeliveryPipeline', {
      api: 'clouddeploy',
      project,
      region,
    });
    const [operation] = await callGoogleRecorded(job, 'UpdateDeliveryPipeline', this.#policy, (options) =>
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
        const progress = await callGoogleRecorded(job, 'GetOperation', this.#policy, (options) =>
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
    const pipeline = await this.read(null, pipelineName(target));
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
