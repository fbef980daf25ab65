import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** A fixture that does not match the schema, or whose references do not resolve; the message lists every problem. */
export class FixtureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FixtureError';
  }
}

const timestamp = z.iso.datetime({ offset: true }).transform((text) => Date.parse(text));

export const CLOUD_RUN_SERVICE_NAME = /^projects\/([^/]+)\/locations\/([^/]+)\/services\/([^/]+)$/;

/** A traffic target: to a revision (by its short name) or, with no `revision`, to the latest ready revision. */
export const trafficTargetFixture = z.strictObject({
  revision: z.string().min(1).optional(),
  percent: z.number().int().min(0).max(100),
  tag: z.string().min(1).optional(),
});

const cloudRunRevisionFixture = z.strictObject({
  /** Short name, prefixed by the service's, e.g. `checkout-00001-abc`. */
  name: z
    .string()
    .regex(/^[a-z][-a-z0-9]*[a-z0-9]$/, 'must be a short revision name like checkout-00001-abc'),
  createTime: timestamp,
  /** Whether the revision's `Ready` condition succeeded; a revision that is not ready cannot take traffic. */
  ready: z.boolean().default(true),
  failureMessage: z.string().default('Revision failed to become ready: the container did not start.'),
  image: z.string().min(1).default('us-docker.pkg.dev/cloudrun/container/hello'),
});

const cloudRunServiceFixture = z.strictObject({
  name: z
    .string()
    .regex(CLOUD_RUN_SERVICE_NAME, 'must be projects/PROJECT/locations/REGION/services/SERVICE'),
  labels: z.record(z.string(), z.string()).default({}),
  revisions: z.array(cloudRunRevisionFixture).min(1),
  traffic: z.array(trafficTargetFixture).min(1),
});

export const CLOUD_DEPLOY_PIPELINE_NAME =
  /^projects\/([^/]+)\/locations\/([^/]+)\/deliveryPipelines\/([^/]+)$/;
export const CLOUD_DEPLOY_TARGET_NAME = /^projects\/([^/]+)\/locations\/([^/]+)\/targets\/([^/]+)$/;
/** The id rule Cloud Deploy applies to releases, rollouts and targets (RFC 1035 labels). */
export const CLOUD_DEPLOY_ID = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const cloudDeployId = z
  .string()
  .regex(CLOUD_DEPLOY_ID, 'must be lowercase letters, digits and -, like rel-001');

export const ROLLOUT_STATES = [
  'PENDING',
  'IN_PROGRESS',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'HALTED',
] as const;

const cloudDeployRolloutFixture = z.strictObject({
  id: cloudDeployId,
  /** The target's id, one of the pipeline's stages. */
  target: cloudDeployId,
  /** Fixture rollouts keep this state; only rollouts created through the API progress. */
  state: z.enum(ROLLOUT_STATES).default('SUCCEEDED'),
  createTime: timestamp,
  failureReason: z.string().default(''),
});

const cloudDeployReleaseFixture = z.strictObject({
  id: cloudDeployId,
  createTime: timestamp,
  /** Build artifacts: the image name in the Skaffold config, and the image it was built as. */
  images: z.record(z.string(), z.string()).default({}),
  abandoned: z.boolean().default(false),
  rollouts: z.array(cloudDeployRolloutFixture).default([]),
});

const cloudDeployPipelineFixture = z.strictObject({
  name: z
    .string()
    .regex(
      CLOUD_DEPLOY_PIPELINE_NAME,
      'must be projects/PROJECT/locations/REGION/deliveryPipelines/PIPELINE',
    ),
  suspended: z.boolean().default(false),
  /** Target ids in promotion order; each must be a target of the same project and region. */
  stages: z.array(cloudDeployId).min(1),
  releases: z.array(cloudDeployReleaseFixture).default([]),
});

const cloudDeployTargetFixture = z.strictObject({
  name: z
    .string()
    .regex(CLOUD_DEPLOY_TARGET_NAME, 'must be projects/PROJECT/locations/REGION/targets/TARGET'),
  /** The Cloud Run location it deploys to, `projects/P/locations/L`. */
  run: z.string().regex(/^projects\/[^/]+\/locations\/[^/]+$/, 'must be projects/PROJECT/locations/REGION'),
});

export const SECRET_NAME = /^projects\/([^/]+)\/secrets\/([^/]+)$/;
export const SECRET_VERSION_STATES = ['ENABLED', 'DISABLED', 'DESTROYED'] as const;

const secretVersionFixture = z.strictObject({
  /** The payload as UTF-8 text; a DESTROYED version's payload is discarded. */
  data: z.string(),
  createTime: timestamp,
  state: z.enum(SECRET_VERSION_STATES).default('ENABLED'),
});

const secretFixture = z.strictObject({
  name: z.string().regex(SECRET_NAME, 'must be projects/PROJECT/secrets/SECRET'),
  labels: z.record(z.string(), z.string()).default({}),
  /** Oldest first: they become versions 1, 2, 3... */
  versions: z.array(secretVersionFixture).default([]),
});

const fixtureSchema = z.strictObject({
  cloudRun: z.strictObject({ services: z.array(cloudRunServiceFixture).default([]) }).prefault({}),
  cloudDeploy: z
    .strictObject({
      targets: z.array(cloudDeployTargetFixture).default([]),
      pipelines: z.array(cloudDeployPipelineFixture).default([]),
    })
    .prefault({}),
  secretManager: z.strictObject({ secrets: z.array(secretFixture).default([]) }).prefault({}),
});

/** The emulator's seed state as written in YAML or JSON: see `examples/emulator-fixture.yaml`. */
export type EmulatorFixture = z.input<typeof fixtureSchema>;
/** A validated fixture, times in epoch milliseconds and defaults filled in. */
export type ParsedFixture = z.output<typeof fixtureSchema>;
export type TrafficTargetFixture = z.output<typeof trafficTargetFixture>;
export type CloudRunServiceFixture = z.output<typeof cloudRunServiceFixture>;
export type CloudDeployFixture = ParsedFixture['cloudDeploy'];
export type SecretFixture = z.output<typeof secretFixture>;

/** Validates a fixture; `source` names it in the error message. */
export function parseFixture(input: unknown, source = 'fixture'): ParsedFixture {
  const result = fixtureSchema.safeParse(input ?? {});
  if (!result.success) throw new FixtureError(describeIssues(source, result.error));
  return result.data;
}

/** Reads and validates a YAML (or JSON) fixture file. */
export async function loadFixtureFile(path: string): Promise<EmulatorFixture> {
  const document: unknown = parseYaml(await readFile(path, 'utf8'));
  parseFixture(document, path);
  return document as EmulatorFixture;
}

/** Formats zod issues with their paths, as `src/config/policy.ts` does for lastgood's own configuration. */
export function describeIssues(source: string, error: z.ZodError): string {
  const lines = error.issues.map((issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  return `Invalid ${source}:\n${lines.join('\n')}`;
}
