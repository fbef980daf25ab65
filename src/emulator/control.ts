import { z } from 'zod';
import type { CloudDeployEmulation } from './cloud-deploy.ts';
import type { CloudDeployPipelineSnapshot, CloudDeployRolloutSnapshot } from './cloud-deploy-model.ts';
import type { CloudRunEmulation } from './cloud-run.ts';
import type { CloudRunServiceSnapshot } from './cloud-run-model.ts';
import {
  cloudDeployReleaseFixture,
  cloudDeployRolloutFixture,
  cloudRunRevisionFixture,
  describeIssues,
  ROLLOUT_STATES,
  requestRowFixture,
  trafficTargetFixture,
} from './fixture.ts';
import type { MonitoringEmulation, RequestRowSnapshot } from './monitoring.ts';
import { invalidArgument } from './rpc-error.ts';

const resourceName = z.string().min(1);

// Bodies of the control calls, in the fixture's format; relative times count from the moment of the call.
const createReleaseBody = (now: number) =>
  z.strictObject({ pipeline: resourceName, release: cloudDeployReleaseFixture(now) });
const createRolloutBody = (now: number) =>
  z.strictObject({ release: resourceName, rollout: cloudDeployRolloutFixture(now) });
const rolloutStateBody = z.strictObject({
  rollout: resourceName,
  state: z.enum(ROLLOUT_STATES),
  failureReason: z.string().default(''),
});
const trafficBody = z.strictObject({ service: resourceName, traffic: z.array(trafficTargetFixture).min(1) });
const createRevisionBody = (now: number) =>
  z.strictObject({ service: resourceName, revision: cloudRunRevisionFixture(now) });
const requestsBody = (now: number) =>
  z.strictObject({ service: resourceName, rows: z.array(requestRowFixture(now)) });

/** `{pipeline, release: {id, createTime, images?, rollouts?}}`: a release as the fixture writes one. */
export type CreateReleaseBody = z.input<ReturnType<typeof createReleaseBody>>;
/** `{release, rollout: {id, target, state?, createTime, deployStartTime?, deployEndTime?, failureReason?, cloudRun?}}`. */
export type CreateRolloutBody = z.input<ReturnType<typeof createRolloutBody>>;
/** `{rollout, state, failureReason?}`. */
export type RolloutStateBody = z.input<typeof rolloutStateBody>;
/** `{service, traffic: [{revision?, percent, tag?}]}`. */
export type TrafficBody = z.input<typeof trafficBody>;
/** `{service, revision: {name, createTime, ready?, failureMessage?, image?}}`. */
export type CreateRevisionBody = z.input<ReturnType<typeof createRevisionBody>>;
/** `{service, rows: [{revision, from, to?, perMinute}]}`: request rows as the fixture's `requests:` writes them. */
export type RequestsBody = z.input<ReturnType<typeof requestsBody>>;

/**
 * Changes made from outside lastgood while it runs, as a person or CI would make them: a newer deploy mid-rollback,
 * a canary split, traffic that turns bad. Each throws an `RpcError` (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
 * FAILED_PRECONDITION) when the change does not fit the state, and answers the changed resource.
 */
export interface EmulatorControl {
  /** Adds a release to a delivery pipeline, with any rollouts it lists. */
  createRelease(body: CreateReleaseBody): CloudDeployPipelineSnapshot;
  /** Adds a rollout of a release on one of its pipeline's targets, in the given state (default SUCCEEDED). */
  createRollout(body: CreateRolloutBody): CloudDeployRolloutSnapshot;
  /** Moves a rollout to a state; IN_PROGRESS stamps its deploy start, a final state its deploy end. */
  setRolloutState(body: RolloutStateBody): CloudDeployRolloutSnapshot;
  /** Sets a Cloud Run service's traffic at once (no operation), moving its etag on. */
  setTraffic(body: TrafficBody): CloudRunServiceSnapshot;
  /** Adds a revision to a Cloud Run service with the given create time; it takes no traffic by name until set. */
  createRevision(body: CreateRevisionBody): CloudRunServiceSnapshot;
  /** Puts these request rows in place of the service's; answers the service's rows. */
  replaceRequests(body: RequestsBody): RequestRowSnapshot[];
  /** Adds request rows to the service's; answers the service's rows. */
  appendRequests(body: RequestsBody): RequestRowSnapshot[];
}

/** The control calls over the emulations, validating each body as the admin endpoint receives it. */
export function createControl(emulations: {
  cloudRun: CloudRunEmulation;
  cloudDeploy: CloudDeployEmulation;
  monitoring: MonitoringEmulation;
}): EmulatorControl {
  const { cloudRun, cloudDeploy, monitoring } = emulations;
  return {
    createRelease(body) {
      const { pipeline, release } = parse(createReleaseBody(Date.now()), body);
      return cloudDeploy.createRelease(pipeline, release);
    },
    createRollout(body) {
      const { release, rollout } = parse(createRolloutBody(Date.now()), body);
      return cloudDeploy.createRollout(release, rollout);
    },
    setRolloutState(body) {
      const { rollout, state, failureReason } = parse(rolloutStateBody, body);
      return cloudDeploy.setRolloutState(rollout, state, failureReason);
    },
    setTraffic(body) {
      const { service, traffic } = parse(trafficBody, body);
      return cloudRun.setTraffic(service, traffic);
    },
    createRevision(body) {
      const { service, revision } = parse(createRevisionBody(Date.now()), body);
      return cloudRun.createRevision(service, revision);
    },
    replaceRequests(body) {
      const { service, rows } = parse(requestsBody(Date.now()), body);
      return monitoring.setRequests(service, rows, 'replace');
    },
    appendRequests(body) {
      const { service, rows } = parse(requestsBody(Date.now()), body);
      return monitoring.setRequests(service, rows, 'append');
    },
  };
}

function parse<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body);
  if (!result.success) throw invalidArgument(describeIssues('body', result.error));
  return result.data;
}
