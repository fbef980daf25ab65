import type { PipelineRecord, ReleaseRecord, RolloutRecord, TargetRecord } from './cloud-deploy-model.ts';
import { toTimestamp } from './wire.ts';

/** A `google.cloud.deploy.v1.DeliveryPipeline` as the proto loader encodes it. */
export function pipelineMessage(pipeline: PipelineRecord) {
  const updateTime = toTimestamp(pipeline.updateTime);
  return {
    name: pipeline.name,
    uid: pipeline.uid,
    description: pipeline.description,
    annotations: pipeline.annotations,
    labels: pipeline.labels,
    createTime: toTimestamp(pipeline.createTime),
    updateTime,
    serialPipeline: { stages: pipeline.stages.map((targetId) => ({ targetId })) },
    condition: {
      pipelineReadyCondition: { status: true, updateTime },
      targetsPresentCondition: { status: true, updateTime },
    },
    etag: pipeline.etag,
    suspended: pipeline.suspended,
  };
}

/** A `google.cloud.deploy.v1.Target` as the proto loader encodes it. */
export function targetMessage(target: TargetRecord) {
  return {
    name: target.name,
    targetId: target.targetId,
    uid: target.uid,
    createTime: toTimestamp(target.createTime),
    updateTime: toTimestamp(target.createTime),
    run: { location: target.run },
    requireApproval: false,
  };
}

/** A `google.cloud.deploy.v1.Release` as the proto loader encodes it. */
export function releaseMessage(release: ReleaseRecord) {
  return {
    name: release.name,
    uid: release.uid,
    abandoned: release.abandoned,
    createTime: toTimestamp(release.createTime),
    renderStartTime: toTimestamp(release.createTime),
    renderEndTime: toTimestamp(release.createTime),
    renderState: 'SUCCEEDED',
    buildArtifacts: Object.entries(release.images).map(([image, tag]) => ({ image, tag })),
    condition: { releaseReadyCondition: { status: true } },
  };
}

/** A `google.cloud.deploy.v1.Rollout` as the proto loader encodes it. */
export function rolloutMessage(rollout: RolloutRecord) {
  return {
    name: rollout.name,
    uid: rollout.uid,
    createTime: toTimestamp(rollout.createTime),
    ...(rollout.deployStartTime === null ? {} : { deployStartTime: toTimestamp(rollout.deployStartTime) }),
    ...(rollout.deployEndTime === null ? {} : { deployEndTime: toTimestamp(rollout.deployEndTime) }),
    targetId: rollout.targetId,
    approvalState: 'DOES_NOT_NEED_APPROVAL',
    state: rollout.state,
    failureReason: rollout.failureReason,
    ...(rollout.state === 'FAILED' ? { deployFailureCause: 'EXECUTION_FAILED' } : {}),
    rollbackOfRollout: rollout.rollbackOfRollout,
    rolledBackByRollouts: rollout.rolledBackByRollouts,
    ...(rollout.cloudRun ? { metadata: { cloudRun: rollout.cloudRun } } : {}),
  };
}
