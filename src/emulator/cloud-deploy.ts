import { randomUUID } from 'node:crypto';
import { pipelineMessage, releaseMessage, rolloutMessage, targetMessage } from './cloud-deploy-messages.ts';
import {
  type CloudDeployPipelineSnapshot,
  type CloudDeployRolloutSnapshot,
  moveRollout,
  newestFirst,
  type PipelineRecord,
  pipelineSnapshot,
  type ReleaseRecord,
  type RolloutRecord,
  type RolloutState,
  releaseRecord,
  rolloutRecord,
  rolloutSnapshot,
  seedCloudDeploy,
  type TargetRecord,
} from './cloud-deploy-model.ts';
import type { FaultInjector, RolloutFailure } from './faults.ts';
import {
  CLOUD_DEPLOY_ID,
  CLOUD_DEPLOY_PIPELINE_NAME,
  CLOUD_DEPLOY_TARGET_NAME,
  type CloudDeployFixture,
  type CloudDeployReleaseFixture,
  type CloudDeployRolloutFixture,
} from './fixture.ts';
import type { OperationMessage, OperationStore } from './operations.ts';
import type { ApiProtos } from './protos.ts';
import {
  aborted,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  unimplemented,
} from './rpc-error.ts';
import type { Scheduler } from './scheduler.ts';
import { newEtag, paginate, toTimestamp } from './wire.ts';

/** The protos the Cloud Deploy emulation is built from, inside `@google-cloud/deploy` and its google-gax. */
export const CLOUD_DEPLOY_PROTO_FILES = ['google/cloud/deploy/v1/cloud_deploy.proto'] as const;
export const CLOUD_DEPLOY_SERVICE = 'google.cloud.deploy.v1.CloudDeploy';
/** UpdateDeliveryPipeline's operation: a DeliveryPipeline when done, OperationMetadata meanwhile (see the proto). */
const PIPELINE_TYPE = 'google.cloud.deploy.v1.DeliveryPipeline';
const OPERATION_METADATA_TYPE = 'google.cloud.deploy.v1.OperationMetadata';

const RELEASE_NAME = /^(projects\/[^/]+\/locations\/[^/]+\/deliveryPipelines\/[^/]+)\/releases\/([^/]+)$/;
const ROLLOUT_NAME =
  /^(projects\/[^/]+\/locations\/[^/]+\/deliveryPipelines\/[^/]+\/releases\/[^/]+)\/rollouts\/([^/]+)$/;
/** Fields UpdateDeliveryPipeline changes; its update_mask is required. */
const UPDATABLE_FIELDS = ['suspended', 'labels', 'annotations', 'description'] as const;
type UpdatableField = (typeof UPDATABLE_FIELDS)[number];
/** List orders the emulator honours: its natural order, newest first. */
const NEWEST_FIRST_ORDERS = ['', 'create_time desc', 'createTime desc'];
/** Rollouts that reached the target or are on their way; a failed or cancelled one never replaced what ran there. */
const LANDED_OR_LANDING: readonly RolloutState[] = ['SUCCEEDED', 'IN_PROGRESS', 'PENDING'];

interface NameRequest {
  name?: string;
}
interface ListRequest {
  parent?: string;
  pageSize?: number;
  pageToken?: string;
  filter?: string;
  orderBy?: string;
}
interface UpdateDeliveryPipelineRequest {
  deliveryPipeline?: {
    name?: string;
    etag?: string;
    suspended?: boolean;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    description?: string;
  };
  updateMask?: { paths?: string[] };
  validateOnly?: boolean;
}
interface RollbackTargetRequest {
  name?: string;
  targetId?: string;
  rolloutId?: string;
  releaseId?: string;
  rolloutToRollBack?: string;
  validateOnly?: boolean;
}

/** What the Cloud Deploy emulation needs from the rest of the emulator. */
export interface CloudDeployDeps {
  protos: ApiProtos;
  operations: OperationStore;
  faults: FaultInjector;
  scheduler: Scheduler;
  /** How long an UpdateDeliveryPipeline operation runs before it is done. */
  operationDelayMs: number;
  /** How long a rollout created by RollbackTarget stays PENDING, and then IN_PROGRESS. */
  rolloutPhaseDelayMs: number;
}

/**
 * Cloud Deploy v1, stateful: delivery pipelines with releases and their rollouts, and targets. RollbackTarget
 * creates a rollout that moves PENDING -> IN_PROGRESS -> SUCCEEDED (or FAILED, HALTED or CANCELLED when a fault
 * says so); what runs on a target is its latest successful rollout.
 */
export class CloudDeployEmulation {
  readonly #deps: CloudDeployDeps;
  #pipelines = new Map<string, PipelineRecord>();
  #targets = new Map<string, TargetRecord>();

  constructor(deps: CloudDeployDeps) {
    this.#deps = deps;
    deps.faults.addValidator((fault) => {
      if (fault.kind === 'concurrent-pipeline-change') this.#requirePipeline(fault.pipeline);
    });
  }

  /** Replaces the state with the fixture's; throws `FixtureError` when a reference does not resolve. */
  seed(fixture: CloudDeployFixture): void {
    const { targets, pipelines } = seedCloudDeploy(fixture);
    this.#targets = targets;
    this.#pipelines = pipelines;
  }

  /** A delivery pipeline's current state, or null when it does not exist. */
  pipeline(name: string): CloudDeployPipelineSnapshot | null {
    const pipeline = this.#pipelines.get(name);
    return pipeline ? pipelineSnapshot(pipeline) : null;
  }

  pipelines(): CloudDeployPipelineSnapshot[] {
    return [...this.#pipelines.values()].map(pipelineSnapshot);
  }

  /** Adds a release, with the rollouts it lists, as a deploy from outside lastgood would (admin endpoint). */
  createRelease(pipelineName: string, fixture: CloudDeployReleaseFixture): CloudDeployPipelineSnapshot {
    const pipeline = this.#requirePipeline(pipelineName);
    const name = `${pipeline.name}/releases/${fixture.id}`;
    if (pipeline.releases.some((release) => release.name === name)) {
      throw alreadyExists(`Release ${name} already exists.`);
    }
    for (const rollout of fixture.rollouts) requireStage(pipeline, rollout.target);
    pipeline.releases.push(releaseRecord(pipeline.name, fixture));
    pipeline.releases.sort(newestFirst);
    return pipelineSnapshot(pipeline);
  }

  /** Adds a rollout of a release to one of its pipeline's targets, in the state it names (admin endpoint). */
  createRollout(releaseName: string, fixture: CloudDeployRolloutFixture): CloudDeployRolloutSnapshot {
    const release = this.#requireRelease(releaseName);
    requireStage(this.#requirePipeline(RELEASE_NAME.exec(releaseName)?.[1]), fixture.target);
    const rollout = rolloutRecord(release.name, fixture);
    if (release.rollouts.some((candidate) => candidate.name === rollout.name)) {
      throw alreadyExists(`Rollout ${rollout.name} already exists.`);
    }
    release.rollouts.push(rollout);
    release.rollouts.sort(newestFirst);
    return rolloutSnapshot(rollout);
  }

  /** Moves a rollout to a state, e.g. IN_PROGRESS then SUCCEEDED, stamping its deploy times (admin endpoint). */
  setRolloutState(name: string, state: RolloutState, failureReason = ''): CloudDeployRolloutSnapshot {
    const rollout = this.#requireRollout(name);
    moveRollout(rollout, state, failureReason, Date.now());
    return rolloutSnapshot(rollout);
  }

  /** Handlers of `google.cloud.deploy.v1.CloudDeploy`. */
  handlers() {
    return {
      GetDeliveryPipeline: (request: NameRequest) => {
        const pipeline = this.#requirePipeline(request.name);
        const message = pipelineMessage(pipeline);
        const change = this.#deps.faults.takeConcurrentPipelineChange(pipeline.name);
        // Someone else's change lands at once (no operation to wait for) and moves the etag on.
        if (change) {
          Object.assign(pipeline, {
            suspended: pipeline.suspended || change.suspend,
            labels: { ...pipeline.labels, 'changed-by': 'someone-else' },
            etag: newEtag(),
            updateTime: Date.now(),
          });
        }
        return message;
      },
      UpdateDeliveryPipeline: (request: UpdateDeliveryPipelineRequest) => this.#updatePipeline(request),
      GetTarget: (request: NameRequest) => {
        if (!CLOUD_DEPLOY_TARGET_NAME.test(request.name ?? '')) {
          throw invalidArgument(`name "${request.name ?? ''}" is not like projects/P/locations/L/targets/T.`);
        }
        const target = this.#targets.get(request.name ?? '');
        if (!target) throw notFound(`Target ${request.name}`);
        return targetMessage(target);
      },
      ListReleases: (request: ListRequest) => {
        const pipeline = this.#requirePipeline(request.parent);
        checkListOptions(request);
        const { page, nextPageToken } = paginate(pipeline.releases, request.pageSize, request.pageToken);
        return { releases: page.map(releaseMessage), nextPageToken };
      },
      GetRelease: (request: NameRequest) => releaseMessage(this.#requireRelease(request.name)),
      ListRollouts: (request: ListRequest) => {
        const release = this.#requireRelease(request.parent);
        checkListOptions(request);
        const { page, nextPageToken } = paginate(release.rollouts, request.pageSize, request.pageToken);
        return { rollouts: page.map(rolloutMessage), nextPageToken };
      },
      GetRollout: (request: NameRequest) => rolloutMessage(this.#requireRollout(request.name)),
      RollbackTarget: (request: RollbackTargetRequest) => this.#rollbackTarget(request),
    };
  }

  #updatePipeline(request: UpdateDeliveryPipelineRequest): OperationMessage {
    const incoming = request.deliveryPipeline;
    const pipeline = this.#requirePipeline(incoming?.name);
    const paths = request.updateMask?.paths ?? [];
    if (paths.length === 0) throw invalidArgument('update_mask is required.');
    const fields = new Set(paths.map(updatableField));
    if (incoming?.etag && incoming.etag !== pipeline.etag) {
      throw aborted(
        `The delivery pipeline ${pipeline.name} changed since it was read: etag "${incoming.etag}" is stale.`,
      );
    }
    const change = {
      suspended: fields.has('suspended') ? (incoming?.suspended ?? false) : pipeline.suspended,
      labels: fields.has('labels') ? { ...incoming?.labels } : pipeline.labels,
      annotations: fields.has('annotations') ? { ...incoming?.annotations } : pipeline.annotations,
      description: fields.has('description') ? (incoming?.description ?? '') : pipeline.description,
    };
    const parent = `projects/${pipeline.project}/locations/${pipeline.location}`;
    const startTime = Date.now();
    if (request.validateOnly) {
      const metadata = this.#operationMetadata(pipeline, startTime, Date.now());
      const preview = this.#deps.protos.pack(PIPELINE_TYPE, pipelineMessage({ ...pipeline, ...change }));
      return this.#deps.operations.completed(parent, metadata, { response: preview });
    }
    const failure = this.#deps.faults.takeOperationFailure('UpdateDeliveryPipeline');
    const operation = this.#deps.operations.start(parent, this.#operationMetadata(pipeline, startTime, null));
    // The change lands when the operation completes, so a failed operation leaves the pipeline as it was.
    this.#deps.scheduler.after(this.#deps.operationDelayMs, () => {
      const metadata = this.#operationMetadata(pipeline, startTime, Date.now());
      if (failure) {
        this.#deps.operations.finish(operation.name, { error: failure }, metadata);
        return;
      }
      Object.assign(pipeline, change, { etag: newEtag(), updateTime: Date.now() });
      const response = this.#deps.protos.pack(PIPELINE_TYPE, pipelineMessage(pipeline));
      this.#deps.operations.finish(operation.name, { response }, metadata);
    });
    return operation;
  }

  /**
   * Creates a rollout of an earlier release on a target. The checks follow the API reference: a valid rollout id,
   * the release (given, or the one of the previous successful rollout there), a rollout id not yet used under that
   * release (so a retry with a pinned release answers ALREADY_EXISTS), a pipeline that is not suspended, and
   * `rollout_to_roll_back` naming the latest rollout on the target.
   */
  #rollbackTarget(request: RollbackTargetRequest) {
    const pipeline = this.#requirePipeline(request.name);
    const targetId = request.targetId ?? '';
    if (!targetId) throw invalidArgument('target_id is required.');
    requireStage(pipeline, targetId);
    const rolloutId = request.rolloutId ?? '';
    if (!CLOUD_DEPLOY_ID.test(rolloutId)) {
      throw invalidArgument(`rollout_id "${rolloutId}" must match ${CLOUD_DEPLOY_ID.source}.`);
    }
    const onTarget = pipeline.releases
      .flatMap((release) => release.rollouts)
      .filter((rollout) => rollout.targetId === targetId)
      .sort(newestFirst);
    const current = onTarget.find((rollout) => rollout.state === 'SUCCEEDED');
    if (!current)
      throw failedPrecondition(
        `Nothing was deployed to target "${targetId}", so there is nothing to roll back.`,
      );
    const release = request.releaseId
      ? this.#requireRelease(`${pipeline.name}/releases/${request.releaseId}`)
      : previousRelease(pipeline, onTarget, current);
    if (release.abandoned) throw failedPrecondition(`Release ${release.name} is abandoned.`);
    const name = `${release.name}/rollouts/${rolloutId}`;
    if (release.rollouts.some((rollout) => rollout.name === name))
      throw alreadyExists(`Rollout ${name} already exists.`);
    if (pipeline.suspended) {
      throw failedPrecondition(`Delivery pipeline ${pipeline.name} is suspended; it refuses new rollouts.`);
    }
    const latest = onTarget.find((rollout) => LANDED_OR_LANDING.includes(rollout.state));
    if (request.rolloutToRollBack && request.rolloutToRollBack !== latest?.name) {
      throw failedPrecondition(
        `rollout_to_roll_back ${request.rolloutToRollBack} is not the latest rollout on target "${targetId}" ` +
          `(${latest?.name ?? 'none'}).`,
      );
    }

    const rollout: RolloutRecord = {
      name,
      releaseName: release.name,
      targetId,
      uid: randomUUID(),
      state: 'PENDING',
      createTime: Date.now(),
      deployStartTime: null,
      deployEndTime: null,
      failureReason: '',
      rollbackOfRollout: current.name,
      rolledBackByRollouts: [],
      cloudRun: null,
    };
    const response = { rollbackConfig: { rollout: rolloutMessage(rollout), startingPhaseId: 'stable' } };
    if (request.validateOnly) return response;

    release.rollouts.unshift(rollout);
    current.rolledBackByRollouts.push(rollout.name);
    this.#progress(rollout, this.#deps.faults.takeRolloutFailure(targetId));
    return response;
  }

  #progress(rollout: RolloutRecord, failure: RolloutFailure | null): void {
    const { scheduler, rolloutPhaseDelayMs } = this.#deps;
    scheduler.after(rolloutPhaseDelayMs, () => {
      moveRollout(rollout, 'IN_PROGRESS', '', Date.now());
      scheduler.after(rolloutPhaseDelayMs, () => {
        moveRollout(rollout, failure?.state ?? 'SUCCEEDED', failure?.reason ?? '', Date.now());
      });
    });
  }

  #requirePipeline(name: string | undefined): PipelineRecord {
    if (!name || !CLOUD_DEPLOY_PIPELINE_NAME.test(name)) {
      throw invalidArgument(
        `"${name ?? ''}" is not a delivery pipeline name like projects/P/locations/L/deliveryPipelines/D.`,
      );
    }
    const pipeline = this.#pipelines.get(name);
    if (!pipeline) throw notFound(`Delivery pipeline ${name}`);
    return pipeline;
  }

  #requireRollout(name: string | undefined): RolloutRecord {
    const [, releaseName] = ROLLOUT_NAME.exec(name ?? '') ?? [];
    if (!releaseName)
      throw invalidArgument(`name "${name ?? ''}" is not like .../releases/R/rollouts/ROLLOUT.`);
    const rollout = this.#requireRelease(releaseName).rollouts.find((candidate) => candidate.name === name);
    if (!rollout) throw notFound(`Rollout ${name}`);
    return rollout;
  }

  #requireRelease(name: string | undefined): ReleaseRecord {
    const [, pipelineName] = RELEASE_NAME.exec(name ?? '') ?? [];
    if (!pipelineName)
      throw invalidArgument(`"${name ?? ''}" is not a release name like .../deliveryPipelines/D/releases/R.`);
    const release = this.#requirePipeline(pipelineName).releases.find((candidate) => candidate.name === name);
    if (!release) throw notFound(`Release ${name}`);
    return release;
  }

  #operationMetadata(pipeline: PipelineRecord, startTime: number, endTime: number | null) {
    return this.#deps.protos.pack(OPERATION_METADATA_TYPE, {
      createTime: toTimestamp(startTime),
      ...(endTime === null ? {} : { endTime: toTimestamp(endTime) }),
      target: pipeline.name,
      verb: 'update',
      apiVersion: 'v1',
    });
  }
}

/** The release of the latest successful rollout on the target before the current one, with a different release. */
function previousRelease(
  pipeline: PipelineRecord,
  onTarget: readonly RolloutRecord[],
  current: RolloutRecord,
): ReleaseRecord {
  const previous = onTarget.find(
    (rollout) =>
      rollout.state === 'SUCCEEDED' &&
      rollout.createTime <= current.createTime &&
      rollout.releaseName !== current.releaseName,
  );
  const release = pipeline.releases.find((candidate) => candidate.name === previous?.releaseName);
  if (!release) {
    throw failedPrecondition(
      `No earlier successful rollout on target "${current.targetId}" to roll back to; give release_id.`,
    );
  }
  return release;
}

function requireStage(pipeline: PipelineRecord, targetId: string): void {
  if (!pipeline.stages.includes(targetId)) {
    throw invalidArgument(`Target "${targetId}" is not a stage of ${pipeline.name}.`);
  }
}

function updatableField(path: string): UpdatableField {
  const field = UPDATABLE_FIELDS.find((candidate) => candidate === path);
  if (!field) {
    throw invalidArgument(
      `update_mask path "${path}" is not supported by the emulator; it updates ${UPDATABLE_FIELDS.join(', ')}.`,
    );
  }
  return field;
}

function checkListOptions(request: ListRequest): void {
  if (request.filter) throw unimplemented('The emulator does not support filters on list calls.');
  if (!NEWEST_FIRST_ORDERS.includes(request.orderBy ?? '')) {
    throw unimplemented(
      `The emulator lists newest first only; order_by "${request.orderBy}" is not supported.`,
    );
  }
}
