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

const ISO_TIMESTAMP = z.iso.datetime({ offset: true });
/** `now`, or a signed offset from now in days, hours, minutes and seconds: `-20m`, `-4d`, `-1h30m`, `+2m`. */
const RELATIVE_TIME = /^(?:now|[+-](?:\d+[dhms])+)$/;
const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

/**
 * A point in time: an ISO 8601 timestamp, or a time relative to `now` (see RELATIVE_TIME), so a fixture tells the
 * same story whatever day it runs. Relative times are resolved each time the fixture is seeded (start, reset) or an
 * admin call is made, against the emulator's clock.
 */
function timeAt(now: number) {
  return z.string().transform((text, context) => {
    if (ISO_TIMESTAMP.safeParse(text).success) return Date.parse(text);
    if (RELATIVE_TIME.test(text)) return now + relativeMs(text);
    context.issues.push({
      code: 'custom',
      input: text,
      message:
        'must be an ISO 8601 timestamp like 2025-06-03T14:20:00Z, or relative like now, -20m, -4d, -1h30m',
    });
    return z.NEVER;
  });
}

function relativeMs(text: string): number {
  if (text === 'now') return 0;
  const magnitude = [...text.matchAll(/(\d+)([dhms])/g)].reduce(
    (sum, [, amount, unit]) => sum + Number(amount) * (UNIT_MS[unit ?? ''] ?? 0),
    0,
  );
  return text.startsWith('-') ? -magnitude : magnitude;
}

export const CLOUD_RUN_SERVICE_NAME = /^projects\/([^/]+)\/locations\/([^/]+)\/services\/([^/]+)$/;

/** A traffic target: to a revision (by its short name) or, with no `revision`, to the latest ready revision. */
export const trafficTargetFixture = z.strictObject({
  revision: z.string().min(1).optional(),
  percent: z.number().int().min(0).max(100),
  tag: z.string().min(1).optional(),
});

/** A revision; `createTime` (absolute or relative) orders a service's revisions and is its Revision.create_time. */
export const cloudRunRevisionFixture = (now: number) =>
  z.strictObject({
    /** Short name, prefixed by the service's, e.g. `checkout-00001-abc`. */
    name: z
      .string()
      .regex(/^[a-z][-a-z0-9]*[a-z0-9]$/, 'must be a short revision name like checkout-00001-abc'),
    createTime: timeAt(now),
    /** Whether the revision's `Ready` condition succeeded; a revision that is not ready cannot take traffic. */
    ready: z.boolean().default(true),
    failureMessage: z.string().default('Revision failed to become ready: the container did not start.'),
    image: z.string().min(1).default('us-docker.pkg.dev/cloudrun/container/hello'),
  });

/** The response code classes Cloud Run's request_count carries in `metric.labels.response_code_class`. */
const RESPONSE_CODE_CLASS = /^[1-5]xx$/;

/**
 * Requests a revision served: from `from` until `to` (open-ended when omitted), `perMinute` requests of each
 * response code class in every minute that starts inside [from, to). Several rows add up.
 */
export const requestRowFixture = (now: number) =>
  z
    .strictObject({
      /** The short name of one of the service's revisions. */
      revision: z.string().min(1),
      from: timeAt(now),
      to: timeAt(now).optional(),
      perMinute: z
        .record(
          z.string().regex(RESPONSE_CODE_CLASS, 'must be a response code class like 2xx or 5xx'),
          z.number().int().min(0),
        )
        .refine((counts) => Object.keys(counts).length > 0, 'must give at least one class, like 2xx: 100'),
    })
    .refine((row) => row.to === undefined || row.from < row.to, {
      message: 'from must be earlier than to',
      path: ['to'],
    });

const cloudRunServiceFixture = (now: number) =>
  z.strictObject({
    name: z
      .string()
      .regex(CLOUD_RUN_SERVICE_NAME, 'must be projects/PROJECT/locations/REGION/services/SERVICE'),
    labels: z.record(z.string(), z.string()).default({}),
    revisions: z.array(cloudRunRevisionFixture(now)).min(1),
    traffic: z.array(trafficTargetFixture).min(1),
    /** What Cloud Monitoring serves as `run.googleapis.com/request_count` for the service's revisions. */
    requests: z.array(requestRowFixture(now)).default([]),
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

/** A rollout; fixture rollouts keep their state, only rollouts created through the API progress. */
export const cloudDeployRolloutFixture = (now: number) =>
  z.strictObject({
    id: cloudDeployId,
    /** The target's id, one of the pipeline's stages. */
    target: cloudDeployId,
    state: z.enum(ROLLOUT_STATES).default('SUCCEEDED'),
    createTime: timeAt(now),
    /** Default: `createTime` unless the rollout is PENDING. */
    deployStartTime: timeAt(now).optional(),
    /** Default: `createTime` once the rollout SUCCEEDED or FAILED. */
    deployEndTime: timeAt(now).optional(),
    failureReason: z.string().default(''),
    /** The Cloud Run service and revision the rollout deployed, served as `metadata.cloud_run`. */
    cloudRun: z
      .strictObject({
        service: z
          .string()
          .regex(CLOUD_RUN_SERVICE_NAME, 'must be projects/P/locations/L/services/S')
          .optional(),
        revision: z.string().min(1),
      })
      .optional(),
  });

/** A release of a pipeline, with its rollouts. */
export const cloudDeployReleaseFixture = (now: number) =>
  z.strictObject({
    id: cloudDeployId,
    createTime: timeAt(now),
    /** Build artifacts: the image name in the Skaffold config, and the image it was built as. */
    images: z.record(z.string(), z.string()).default({}),
    abandoned: z.boolean().default(false),
    rollouts: z.array(cloudDeployRolloutFixture(now)).default([]),
  });

const cloudDeployPipelineFixture = (now: number) =>
  z.strictObject({
    name: z
      .string()
      .regex(
        CLOUD_DEPLOY_PIPELINE_NAME,
        'must be projects/PROJECT/locations/REGION/deliveryPipelines/PIPELINE',
      ),
    suspended: z.boolean().default(false),
    /** Target ids in promotion order; each must be a target of the same project and region. */
    stages: z.array(cloudDeployId).min(1),
    releases: z.array(cloudDeployReleaseFixture(now)).default([]),
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

const secretVersionFixture = (now: number) =>
  z.strictObject({
    /** The payload as UTF-8 text; a DESTROYED version's payload is discarded. */
    data: z.string(),
    createTime: timeAt(now),
    state: z.enum(SECRET_VERSION_STATES).default('ENABLED'),
  });

const secretFixture = (now: number) =>
  z.strictObject({
    name: z.string().regex(SECRET_NAME, 'must be projects/PROJECT/secrets/SECRET'),
    labels: z.record(z.string(), z.string()).default({}),
    /** Oldest first: they become versions 1, 2, 3... */
    versions: z.array(secretVersionFixture(now)).default([]),
  });

const fixtureSchema = (now: number) =>
  z.strictObject({
    cloudRun: z.strictObject({ services: z.array(cloudRunServiceFixture(now)).default([]) }).prefault({}),
    cloudDeploy: z
      .strictObject({
        targets: z.array(cloudDeployTargetFixture).default([]),
        pipelines: z.array(cloudDeployPipelineFixture(now)).default([]),
      })
      .prefault({}),
    secretManager: z.strictObject({ secrets: z.array(secretFixture(now)).default([]) }).prefault({}),
  });

/** The emulator's seed state as written in YAML or JSON: see `examples/emulator-fixture.yaml`. */
export type EmulatorFixture = z.input<ReturnType<typeof fixtureSchema>>;
/** A validated fixture, times in epoch milliseconds and defaults filled in. */
export type ParsedFixture = z.output<ReturnType<typeof fixtureSchema>>;
export type TrafficTargetFixture = z.output<typeof trafficTargetFixture>;
export type CloudRunServiceFixture = z.output<ReturnType<typeof cloudRunServiceFixture>>;
export type CloudRunRevisionFixture = z.output<ReturnType<typeof cloudRunRevisionFixture>>;
export type RequestRowFixture = z.output<ReturnType<typeof requestRowFixture>>;
export type CloudDeployFixture = ParsedFixture['cloudDeploy'];
export type CloudDeployReleaseFixture = z.output<ReturnType<typeof cloudDeployReleaseFixture>>;
export type CloudDeployRolloutFixture = z.output<ReturnType<typeof cloudDeployRolloutFixture>>;
export type SecretFixture = z.output<ReturnType<typeof secretFixture>>;

/**
 * Validates a fixture and resolves its relative times against `now`; `source` names it in the error message.
 */
export function parseFixture(input: unknown, source = 'fixture', now = Date.now()): ParsedFixture {
  const result = fixtureSchema(now).safeParse(input ?? {});
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
