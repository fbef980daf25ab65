import { randomUUID } from 'node:crypto';
import {
  CLOUD_DEPLOY_PIPELINE_NAME,
  CLOUD_DEPLOY_TARGET_NAME,
  type CloudDeployFixture,
  type CloudDeployReleaseFixture,
  type CloudDeployRolloutFixture,
  FixtureError,
  type ROLLOUT_STATES,
} from './fixture.ts';
import { newEtag } from './wire.ts';

export type RolloutState = (typeof ROLLOUT_STATES)[number];

/** One rollout of a release to a target, as the emulation keeps it. */
export interface RolloutRecord {
  name: string;
  releaseName: string;
  targetId: string;
  uid: string;
  state: RolloutState;
  createTime: number;
  deployStartTime: number | null;
  deployEndTime: number | null;
  failureReason: string;
  rollbackOfRollout: string;
  rolledBackByRollouts: string[];
  /** What it deployed on Cloud Run, served as `metadata.cloud_run`; null when the fixture does not say. */
  cloudRun: { service: string; revision: string } | null;
}

/** One release of a pipeline with its rollouts newest first, as the emulation keeps it. */
export interface ReleaseRecord {
  name: string;
  uid: string;
  createTime: number;
  images: Record<string, string>;
  abandoned: boolean;
  rollouts: RolloutRecord[];
}

/** One delivery pipeline with its releases newest first, as the emulation keeps it. */
export interface PipelineRecord {
  name: string;
  project: string;
  location: string;
  uid: string;
  createTime: number;
  updateTime: number;
  etag: string;
  suspended: boolean;
  stages: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  description: string;
  releases: ReleaseRecord[];
}

/** One Cloud Deploy target, as the emulation keeps it. */
export interface TargetRecord {
  name: string;
  targetId: string;
  uid: string;
  createTime: number;
  run: string;
}

/** A rollout as the admin endpoint and tests see it. */
export interface CloudDeployRolloutSnapshot {
  name: string;
  targetId: string;
  state: RolloutState;
  createTime: string;
  deployStartTime: string | null;
  deployEndTime: string | null;
  failureReason: string;
  rollbackOfRollout: string;
  cloudRunRevision: string;
}

/** A delivery pipeline as the admin endpoint and tests see it. */
export interface CloudDeployPipelineSnapshot {
  name: string;
  suspended: boolean;
  /** Who suspended it, for one: lastgood marks its own suspensions here. */
  annotations: Record<string, string>;
  etag: string;
  /** Per stage, what runs there: the latest successful rollout and its release ('' when nothing was deployed). */
  targets: { targetId: string; currentRollout: string; currentRelease: string }[];
  /** Newest first, each with its rollouts newest first. */
  releases: { name: string; createTime: string; rollouts: CloudDeployRolloutSnapshot[] }[];
}

/** Builds the targets and pipelines of a fixture; throws `FixtureError` when a reference does not resolve. */
export function seedCloudDeploy(fixture: CloudDeployFixture): {
  targets: Map<string, TargetRecord>;
  pipelines: Map<string, PipelineRecord>;
} {
  const problems: string[] = [];
  const targets = new Map<string, TargetRecord>();
  for (const target of fixture.targets) {
    const [, , , targetId = ''] = CLOUD_DEPLOY_TARGET_NAME.exec(target.name) ?? [];
    targets.set(target.name, {
      name: target.name,
      targetId,
      uid: randomUUID(),
      createTime: 0,
      run: target.run,
    });
  }
  const pipelines = new Map<string, PipelineRecord>();
  fixture.pipelines.forEach((pipelineFixture, index) => {
    const path = `cloudDeploy.pipelines.${index}`;
    const [, project = '', location = ''] = CLOUD_DEPLOY_PIPELINE_NAME.exec(pipelineFixture.name) ?? [];
    for (const stage of pipelineFixture.stages) {
      if (!targets.has(`projects/${project}/locations/${location}/targets/${stage}`)) {
        problems.push(`${path}.stages: no target "${stage}" in projects/${project}/locations/${location}`);
      }
    }
    const releases = pipelineFixture.releases.map((releaseFixture, releaseIndex) => {
      releaseFixture.rollouts.forEach((rollout, rolloutIndex) => {
        if (!pipelineFixture.stages.includes(rollout.target)) {
          problems.push(
            `${path}.releases.${releaseIndex}.rollouts.${rolloutIndex}.target: "${rollout.target}" is not a stage`,
          );
        }
      });
      return releaseRecord(pipelineFixture.name, releaseFixture);
    });
    const createTime = Math.min(...releases.map((release) => release.createTime), Date.now());
    pipelines.set(pipelineFixture.name, {
      name: pipelineFixture.name,
      project,
      location,
      uid: randomUUID(),
      createTime,
      updateTime: createTime,
      etag: newEtag(),
      suspended: pipelineFixture.suspended,
      stages: pipelineFixture.stages,
      labels: {},
      annotations: {},
      description: '',
      releases: releases.sort(newestFirst),
    });
  });
  if (problems.length > 0) throw new FixtureError(`Invalid fixture:\n  ${problems.join('\n  ')}`);
  return { targets, pipelines };
}

/** A release and its rollouts as a fixture describes them. */
export function releaseRecord(pipelineName: string, fixture: CloudDeployReleaseFixture): ReleaseRecord {
  const name = `${pipelineName}/releases/${fixture.id}`;
  return {
    name,
    uid: randomUUID(),
    createTime: fixture.createTime,
    images: fixture.images,
    abandoned: fixture.abandoned,
    rollouts: fixture.rollouts.map((rollout) => rolloutRecord(name, rollout)).sort(newestFirst),
  };
}

/** A rollout as a fixture describes it; deploy times default to its create time once it started or finished. */
export function rolloutRecord(releaseName: string, fixture: CloudDeployRolloutFixture): RolloutRecord {
  const finished = fixture.state === 'SUCCEEDED' || fixture.state === 'FAILED';
  return {
    name: `${releaseName}/rollouts/${fixture.id}`,
    releaseName,
    targetId: fixture.target,
    uid: randomUUID(),
    state: fixture.state,
    createTime: fixture.createTime,
    deployStartTime: fixture.deployStartTime ?? (fixture.state === 'PENDING' ? null : fixture.createTime),
    deployEndTime: fixture.deployEndTime ?? (finished ? fixture.createTime : null),
    failureReason: fixture.failureReason,
    rollbackOfRollout: '',
    rolledBackByRollouts: [],
    cloudRun: fixture.cloudRun
      ? { service: fixture.cloudRun.service ?? '', revision: fixture.cloudRun.revision }
      : null,
  };
}

/** Moves a rollout to a state, stamping when its deploy started and ended as Cloud Deploy does. */
export function moveRollout(
  rollout: RolloutRecord,
  state: RolloutState,
  failureReason: string,
  now: number,
): void {
  rollout.state = state;
  rollout.failureReason = failureReason;
  if (state === 'PENDING') return;
  rollout.deployStartTime ??= now;
  if (state !== 'IN_PROGRESS') rollout.deployEndTime = now;
}

/** The order Cloud Deploy lists releases and rollouts in. */
export function newestFirst(
  a: { createTime: number; name: string },
  b: { createTime: number; name: string },
): number {
  return b.createTime - a.createTime || b.name.localeCompare(a.name);
}

/** A copy of the pipeline's state for the admin endpoint and tests. */
export function pipelineSnapshot(pipeline: PipelineRecord): CloudDeployPipelineSnapshot {
  const rollouts = pipeline.releases.flatMap((release) => release.rollouts).sort(newestFirst);
  return {
    name: pipeline.name,
    suspended: pipeline.suspended,
    annotations: { ...pipeline.annotations },
    etag: pipeline.etag,
    targets: pipeline.stages.map((targetId) => {
      const current = rollouts.find(
        (rollout) => rollout.targetId === targetId && rollout.state === 'SUCCEEDED',
      );
      return { targetId, currentRollout: current?.name ?? '', currentRelease: current?.releaseName ?? '' };
    }),
    releases: pipeline.releases.map((release) => ({
      name: release.name,
      createTime: new Date(release.createTime).toISOString(),
      rollouts: release.rollouts.map(rolloutSnapshot),
    })),
  };
}

/** A copy of the rollout's state for the admin endpoint and tests. */
export function rolloutSnapshot(rollout: RolloutRecord): CloudDeployRolloutSnapshot {
  return {
    name: rollout.name,
    targetId: rollout.targetId,
    state: rollout.state,
    createTime: new Date(rollout.createTime).toISOString(),
    deployStartTime: isoOrNull(rollout.deployStartTime),
    deployEndTime: isoOrNull(rollout.deployEndTime),
    failureReason: rollout.failureReason,
    rollbackOfRollout: rollout.rollbackOfRollout,
    cloudRunRevision: rollout.cloudRun?.revision ?? '',
  };
}

function isoOrNull(epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString();
}
