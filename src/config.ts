import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Mode, Policy, TargetKind } from './domain/types.ts';
import { LastgoodError } from './errors.ts';
import { assertProductionSafe } from './production-safety.ts';

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses "500ms", "10s", "30m", "1h", "3d" into milliseconds. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS];
}

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration like 500ms, 10s, 30m, 1h or 3d` });
    return z.NEVER;
  }
  return ms;
});

/** Target names double as Cloud Monitoring user label values, so they follow the label rules. */
export const TARGET_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

const policyOverrides = {
  mode: z.enum(['auto', 'dry-run', 'notify', 'off']).optional(),
  errorRateThreshold: z.number().gt(0).lt(1).optional(),
  minConfidence: z.number().min(0).max(1).optional(),
  maxRollbacksPerHour: z.number().int().min(1).max(60).optional(),
  cooldown: duration.optional(),
  maxAlertAge: duration.optional(),
  signal: z.enum(['error_ratio', 'burn_rate']).optional(),
  sloGoal: z.number().gt(0).lt(1).optional(),
  stableTag: z
    .string()
    .regex(/^[a-z]([a-z0-9-]{0,44}[a-z0-9])?$/, 'a Cloud Run traffic tag')
    .optional(),
  minHealthyServing: duration.optional(),
  freezeAfterRollback: z.boolean().optional(),
  verificationWindow: duration.optional(),
};

const cloudRunTarget = z.strictObject({
  kind: z.literal('cloud-run'),
  project: z.string().min(1),
  region: z.string().min(1),
  service: z.string().min(1),
  ...policyOverrides,
});

const cloudDeployTarget = z.strictObject({
  kind: z.literal('cloud-deploy'),
  project: z.string().min(1),
  region: z.string().min(1),
  pipeline: z.string().min(1),
  target: z.string().min(1),
  ...policyOverrides,
});

const policyFileSchema = z.strictObject({
  defaults: z.strictObject(policyOverrides).default({}),
  targets: z
    .record(
      z
        .string()
        .regex(TARGET_NAME, 'target names are lowercase letters, digits, _ and -, starting with a letter'),
      z.discriminatedUnion('kind', [cloudRunTarget, cloudDeployTarget]),
    )
    .default({}),
});

type PolicyOverrides = z.infer<z.ZodObject<typeof policyOverrides>>;
type ResolvedOverrides = {
  [K in Exclude<keyof PolicyOverrides, 'sloGoal'>]-?: NonNullable<PolicyOverrides[K]>;
} & {
  sloGoal?: number | undefined;
};

const POLICY_DEFAULTS = {
  mode: 'auto',
  errorRateThreshold: 0.01,
  minConfidence: 0.8,
  maxRollbacksPerHour: 3,
  cooldown: 30 * 60_000,
  maxAlertAge: 15 * 60_000,
  signal: 'error_ratio',
  stableTag: 'stable',
  minHealthyServing: 10 * 60_000,
  freezeAfterRollback: true,
  verificationWindow: 15 * 60_000,
} as const satisfies PolicyOverrides;

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const operatorToken = z.string().transform((entry, ctx) => {
  const [name, role, hash, ...rest] = entry.trim().split(':');
  if (
    rest.length > 0 ||
    !name ||
    !/^[A-Za-z0-9_.@-]{1,64}$/.test(name) ||
    !ROLES.includes(role as Role) ||
    !hash ||
    !/^[0-9a-f]{64}$/.test(hash)
  ) {
    ctx.addIssue({
      code: 'custom',
      message:
        'each entry must be name:role:sha256hex with role viewer, operator or admin (see `lastgood hash-token`)',
    });
    return z.NEVER;
  }
  return { name, role: role as Role, sha256: hash };
});

const commaList = (text: string | undefined) =>
  (text ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const hostPort = z.string().regex(/^[^:\s]+:\d{1,5}$/, 'must be host:port');

const durationList = z.string().transform((text, ctx) => {
  const values = commaList(text).map(parseDuration);
  if (values.some((value) => value === null)) {
    ctx.addIssue({ code: 'custom', message: 'a comma-separated list of durations, e.g. 5s,10s,30s' });
    return z.NEVER;
  }
  return values as number[];
});

/** A rate-limit budget: "600/1m" is 600 requests per minute. */
const rateBudget = z.string().transform((text, ctx) => {
  const match = /^(\d{1,7})\/(\w+)$/.exec(text.trim());
  const windowMs = match ? parseDuration(match[2]!) : null;
  if (!match || Number(match[1]) === 0 || !windowMs) {
    ctx.addIssue({ code: 'custom', message: 'a budget like 600/1m: requests per duration, both above 0' });
    return z.NEVER;
  }
  return { max: Number(match[1]), windowMs };
});

/** An http(s) URL without a trailing slash (links are built by appending a path). */
const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .transform((url) => url.replace(/\/+$/, ''));

/** Browser origins allowed to call the API; `*` is refused in production. */
const originList = z.string().transform((text, ctx) => {
  const origins = commaList(text);
  if (origins.some((origin) => origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin))) {
    ctx.addIssue({ code: 'custom', message: 'comma-separated origins like https://ops.example.com, or *' });
    return z.NEVER;
  }
  return origins;
});

const envSchema = z.strictObject({
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.string().optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  CLOUD_RUN_EMULATOR_HOST: hostPort.optional(),
  CLOUD_DEPLOY_EMULATOR_HOST: hostPort.optional(),
  SECRET_MANAGER_EMULATOR_HOST: hostPort.optional(),
  LASTGOOD_CONFIG: z.string().min(1, 'path to the policy YAML file, e.g. examples/lastgood.yaml'),
  LASTGOOD_DATA_DIR: z.string().min(1).default('./.lastgood'),
  LASTGOOD_ENABLED: z.enum(['true', 'false', '1', '0']).default('true'),
  LASTGOOD_WEBHOOK_TOKENS: z.string().optional(),
  LASTGOOD_OPERATOR_TOKENS: z.string().optional(),
  LASTGOOD_SHUTDOWN_GRACE: duration.default(10_000),
  LASTGOOD_GOOGLE_DEADLINE: duration.default(10_000),
  LASTGOOD_GOOGLE_RETRY_DELAYS: durationList.default([5_000, 10_000, 30_000]),
  LASTGOOD_POLL_INTERVAL: duration.default(1_000),
  LASTGOOD_ROLLBACK_TIMEOUT: duration.default(5 * 60_000),
  LASTGOOD_JOB_LEASE: duration.default(30_000),
  LASTGOOD_JOB_POLL: duration.default(1_000),
  LASTGOOD_WORKER_ID: z.string().min(1).max(128).optional(),
  LASTGOOD_WEBHOOK_TOKEN_SECRET: z
    .string()
    .regex(/^projects\/[^/\s]+\/secrets\/[^/\s]+$/, 'must be projects/PROJECT/secrets/SECRET')
    .optional(),
  LASTGOOD_TOKEN_REFRESH: duration.default(5 * 60_000),
  LASTGOOD_PUBSUB_AUDIENCE: z.string().min(1).max(2048).optional(),
  LASTGOOD_PUBSUB_SERVICE_ACCOUNT: z.email().optional(),
  LASTGOOD_CORS_ORIGINS: originList.default([]),
  LASTGOOD_RATE_LIMIT_INTAKE: rateBudget.default({ max: 600, windowMs: 60_000 }),
  LASTGOOD_RATE_LIMIT_OPERATOR: rateBudget.default({ max: 120, windowMs: 60_000 }),
  LASTGOOD_RATE_LIMIT_ANONYMOUS: rateBudget.default({ max: 60, windowMs: 60_000 }),
  LASTGOOD_TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(1),
  LASTGOOD_PUBLIC_URL: httpUrl.optional(),
  LASTGOOD_SLACK_WEBHOOK_URL: httpUrl.optional(),
  LASTGOOD_PAGERDUTY_ROUTING_KEY: z.string().min(1).max(128).optional(),
  LASTGOOD_PAGERDUTY_URL: httpUrl.default('https://events.pagerduty.com/v2/enqueue'),
  LASTGOOD_NOTIFY_WEBHOOK_URL: httpUrl.optional(),
  LASTGOOD_NOTIFY_WEBHOOK_SECRET: z.string().min(16, 'at least 16 characters').max(512).optional(),
  LASTGOOD_NOTIFY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
  LASTGOOD_NOTIFY_TIMEOUT: duration.default(5_000),
});

export interface CloudRunTargetConfig {
  kind: 'cloud-run';
  project: string;
  region: string;
  service: string;
}
export interface CloudDeployTargetConfig {
  kind: 'cloud-deploy';
  project: string;
  region: string;
  pipeline: string;
  target: string;
}
/** How a target is rolled back, beside the policy that decides whether it is. */
export interface ExecutionSettings {
  /** The Cloud Run traffic tag that marks a known good revision. */
  stableTag: string;
  /** How long a revision must have served 100% with no incident to count as known good. */
  minHealthyServingMs: number;
  /** Cloud Deploy: suspend the pipeline after a rollback so the bad release is not promoted again. */
  freezeAfterRollback: boolean;
  /**
   * After a rollback succeeds, how long the incident has to close: if it has not by then, the rollback did not
   * heal the service, which is escalated and needs a person before the target is rolled back again.
   */
  verificationWindowMs: number;
}

export type TargetConfig = (CloudRunTargetConfig | CloudDeployTargetConfig) & {
  name: string;
  policy: Policy;
  execution: ExecutionSettings;
};

export interface OperatorToken {
  name: string;
  role: Role;
  sha256: string;
}

/** The whole validated, frozen configuration. Only this module reads the environment's keys. */
export interface Config {
  port: number;
  host: string;
  logLevel: string;
  production: boolean;
  dataDir: string;
  databaseUrl: string | null;
  enabled: boolean;
  webhookTokens: readonly string[];
  operatorTokens: readonly OperatorToken[];
  policyFile: string;
  targets: ReadonlyMap<string, TargetConfig>;
  emulators: { cloudRun: string | null; cloudDeploy: string | null; secretManager: string | null };
  shutdownGraceMs: number;
  google: {
    deadlineMs: number;
    retryDelaysMs: readonly number[];
    pollMs: number;
    completionTimeoutMs: number;
  };
  jobs: { workerId: string | null; leaseMs: number; pollMs: number };
  /** `projects/P/secrets/S`: webhook tokens from Secret Manager (its two newest enabled versions). */
  webhookTokenSecret: string | null;
  tokenRefreshMs: number;
  /** Who may push alerts over Pub/Sub: the OIDC token's audience and service account; null disables it. */
  pubsub: { audience: string; serviceAccount: string } | null;
  http: {
    corsOrigins: readonly string[];
    rateLimits: Readonly<Record<RateLimitBudget, RateBudget>>;
    /** Proxies in front that append to X-Forwarded-For (Cloud Run: 1); the client IP is the entry before them. */
    trustProxyHops: number;
  };
  notify: NotifyConfig;
}

/** Where notifications go; a channel is null when it is not configured. Its fields hold secrets: never log them. */
export interface NotifyConfig {
  /** The base URL people reach lastgood at, for links to a decision's status. */
  publicUrl: string | null;
  /** The incoming webhook URL is itself the credential. */
  slack: { webhookUrl: string } | null;
  pagerDuty: { routingKey: string; url: string } | null;
  /** Signed with HMAC-SHA256 of the timestamp and body, keyed with `secret`. */
  webhook: { url: string; secret: string } | null;
  /** Attempts before a notification is dead-lettered. */
  maxAttempts: number;
  /** Per send. */
  timeoutMs: number;
}

/** Separate budgets, so a flood of bad requests cannot use up the one alerts arrive on. */
export type RateLimitBudget = 'intake' | 'operator' | 'anonymous';
export interface RateBudget {
  max: number;
  windowMs: number;
}

function formatIssues(source: string, error: z.ZodError): string {
  const lines = error.issues.map((issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  return `Invalid configuration in ${source}:\n${lines.join('\n')}`;
}

function resolvePolicy(
  defaults: PolicyOverrides,
  overrides: PolicyOverrides,
  path: string,
): { policy: Policy; execution: ExecutionSettings } {
  const merged = {
    ...POLICY_DEFAULTS,
    ...stripUndefined(defaults),
    ...stripUndefined(overrides),
  } as ResolvedOverrides;
  let signal: Policy['signal'];
  if (merged.signal === 'burn_rate') {
    if (merged.sloGoal === undefined) {
      throw new LastgoodError(
        'LASTGOOD_ERR_CONFIG',
        `Invalid configuration in policy file:\n  ${path}.sloGoal: required when signal is burn_rate (e.g. 0.999)`,
      );
    }
    signal = { kind: 'burn_rate', sloGoal: merged.sloGoal };
  } else {
    signal = { kind: 'error_ratio' };
  }
  return {
    policy: {
      mode: merged.mode as Mode,
      errorRateThreshold: merged.errorRateThreshold,
      minConfidence: merged.minConfidence,
      maxRollbacksPerHour: merged.maxRollbacksPerHour,
      cooldownMs: merged.cooldown,
      maxAlertAgeMs: merged.maxAlertAge,
      signal,
    },
    execution: {
      stableTag: merged.stableTag,
      minHealthyServingMs: merged.minHealthyServing,
      freezeAfterRollback: merged.freezeAfterRollback,
      verificationWindowMs: merged.verificationWindow,
    },
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Parses and validates the policy YAML text into resolved targets. */
export function parsePolicyFile(text: string, source: string): Map<string, TargetConfig> {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new LastgoodError('LASTGOOD_ERR_CONFIG', `Invalid configuration in ${source}: not valid YAML`, {
      cause: error,
    });
  }
  const parsed = policyFileSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new LastgoodError('LASTGOOD_ERR_CONFIG', formatIssues(source, parsed.error));
  const defaults = parsed.data.defaults;
  resolvePolicy(defaults, {}, 'defaults');
  const targets = new Map<string, TargetConfig>();
  for (const [name, entry] of Object.entries(parsed.data.targets)) {
    const { policy, execution } = resolvePolicy(defaults, entry, `targets.${name}`);
    const location =
      entry.kind === 'cloud-run'
        ? { kind: entry.kind, project: entry.project, region: entry.region, service: entry.service }
        : {
            kind: entry.kind,
            project: entry.project,
            region: entry.region,
            pipeline: entry.pipeline,
            target: entry.target,
          };
    targets.set(name, Object.freeze({ ...location, name, policy, execution }) as TargetConfig);
  }
  return targets;
}

const ENV_KEYS = new Set(Object.keys(envSchema.shape));
/** The `lastgood` CLI's settings: an operator's shell exports them, and the server started from it must not mind. */
const CLI_KEYS = new Set(['LASTGOOD_URL', 'LASTGOOD_TOKEN']);
/** The emulator's settings (src/emulator/main.ts): a dev shell exports them beside lastgood's, which ignores them. */
const EMULATOR_KEY_PREFIX = 'LASTGOOD_EMULATOR_';

/**
 * Validates the environment and the policy file once at start. Unknown `LASTGOOD_*` variables are refused, so a
 * typo fails loudly instead of silently falling back to a default.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): Config {
  const picked: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || CLI_KEYS.has(key) || key.startsWith(EMULATOR_KEY_PREFIX)) continue;
    if (ENV_KEYS.has(key) || key.startsWith('LASTGOOD_')) picked[key] = value;
  }
  const parsed = envSchema.safeParse(picked);
  if (!parsed.success)
    throw new LastgoodError('LASTGOOD_ERR_CONFIG', formatIssues('environment', parsed.error));
  const e = parsed.data;
  const operatorTokens = z.array(operatorToken).safeParse(commaList(e.LASTGOOD_OPERATOR_TOKENS));
  if (!operatorTokens.success) {
    throw new LastgoodError(
      'LASTGOOD_ERR_CONFIG',
      formatIssues('environment', operatorTokens.error).replace(
        /^ {2}(\d+)/gm,
        '  LASTGOOD_OPERATOR_TOKENS[$1]',
      ),
    );
  }
  if (e.LASTGOOD_WEBHOOK_TOKENS !== undefined && e.LASTGOOD_WEBHOOK_TOKEN_SECRET !== undefined) {
    throw new LastgoodError(
      'LASTGOOD_ERR_CONFIG',
      'Invalid configuration in environment:\n  LASTGOOD_WEBHOOK_TOKENS and LASTGOOD_WEBHOOK_TOKEN_SECRET: set one ' +
        '(Secret Manager rotates without a restart), so which tokens are valid is never in doubt',
    );
  }
  if ((e.LASTGOOD_PUBSUB_AUDIENCE === undefined) !== (e.LASTGOOD_PUBSUB_SERVICE_ACCOUNT === undefined)) {
    throw new LastgoodError(
      'LASTGOOD_ERR_CONFIG',
      'Invalid configuration in environment:\n  LASTGOOD_PUBSUB_AUDIENCE and LASTGOOD_PUBSUB_SERVICE_ACCOUNT: set both ' +
        "(the push subscription's audience and its service account) or neither",
    );
  }
  if ((e.LASTGOOD_NOTIFY_WEBHOOK_URL === undefined) !== (e.LASTGOOD_NOTIFY_WEBHOOK_SECRET === undefined)) {
    throw new LastgoodError(
      'LASTGOOD_ERR_CONFIG',
      'Invalid configuration in environment:\n  LASTGOOD_NOTIFY_WEBHOOK_URL and LASTGOOD_NOTIFY_WEBHOOK_SECRET: set both ' +
        '(every webhook is signed, so receivers can tell it came from lastgood) or neither',
    );
  }
  const policyFile = isAbsolute(e.LASTGOOD_CONFIG) ? e.LASTGOOD_CONFIG : resolve(e.LASTGOOD_CONFIG);
  let policyText: string;
  try {
    policyText = readFile(policyFile);
  } catch (error) {
    throw new LastgoodError('LASTGOOD_ERR_CONFIG', `LASTGOOD_CONFIG: cannot read ${policyFile}`, {
      cause: error,
    });
  }
  const config: Config = {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    production: e.NODE_ENV === 'production',
    dataDir: e.LASTGOOD_DATA_DIR,
    databaseUrl: e.DATABASE_URL ?? null,
    enabled: e.LASTGOOD_ENABLED === 'true' || e.LASTGOOD_ENABLED === '1',
    webhookTokens: Object.freeze(commaList(e.LASTGOOD_WEBHOOK_TOKENS)),
    operatorTokens: Object.freeze(operatorTokens.data.map((token) => Object.freeze(token))),
    policyFile,
    targets: parsePolicyFile(policyText, policyFile),
    emulators: Object.freeze({
      cloudRun: e.CLOUD_RUN_EMULATOR_HOST ?? null,
      cloudDeploy: e.CLOUD_DEPLOY_EMULATOR_HOST ?? null,
      secretManager: e.SECRET_MANAGER_EMULATOR_HOST ?? null,
    }),
    shutdownGraceMs: e.LASTGOOD_SHUTDOWN_GRACE,
    google: Object.freeze({
      deadlineMs: e.LASTGOOD_GOOGLE_DEADLINE,
      retryDelaysMs: Object.freeze(e.LASTGOOD_GOOGLE_RETRY_DELAYS),
      pollMs: e.LASTGOOD_POLL_INTERVAL,
      completionTimeoutMs: e.LASTGOOD_ROLLBACK_TIMEOUT,
    }),
    jobs: Object.freeze({
      workerId: e.LASTGOOD_WORKER_ID ?? null,
      leaseMs: e.LASTGOOD_JOB_LEASE,
      pollMs: e.LASTGOOD_JOB_POLL,
    }),
    webhookTokenSecret: e.LASTGOOD_WEBHOOK_TOKEN_SECRET ?? null,
    tokenRefreshMs: e.LASTGOOD_TOKEN_REFRESH,
    pubsub:
      e.LASTGOOD_PUBSUB_AUDIENCE === undefined || e.LASTGOOD_PUBSUB_SERVICE_ACCOUNT === undefined
        ? null
        : Object.freeze({
            audience: e.LASTGOOD_PUBSUB_AUDIENCE,
            serviceAccount: e.LASTGOOD_PUBSUB_SERVICE_ACCOUNT,
          }),
    http: Object.freeze({
      corsOrigins: Object.freeze(e.LASTGOOD_CORS_ORIGINS),
      rateLimits: Object.freeze({
        intake: Object.freeze(e.LASTGOOD_RATE_LIMIT_INTAKE),
        operator: Object.freeze(e.LASTGOOD_RATE_LIMIT_OPERATOR),
        anonymous: Object.freeze(e.LASTGOOD_RATE_LIMIT_ANONYMOUS),
      }),
      trustProxyHops: e.LASTGOOD_TRUST_PROXY_HOPS,
    }),
    notify: Object.freeze({
      publicUrl: e.LASTGOOD_PUBLIC_URL ?? null,
      slack:
        e.LASTGOOD_SLACK_WEBHOOK_URL === undefined
          ? null
          : Object.freeze({ webhookUrl: e.LASTGOOD_SLACK_WEBHOOK_URL }),
      pagerDuty:
        e.LASTGOOD_PAGERDUTY_ROUTING_KEY === undefined
          ? null
          : Object.freeze({ routingKey: e.LASTGOOD_PAGERDUTY_ROUTING_KEY, url: e.LASTGOOD_PAGERDUTY_URL }),
      webhook:
        e.LASTGOOD_NOTIFY_WEBHOOK_URL === undefined || e.LASTGOOD_NOTIFY_WEBHOOK_SECRET === undefined
          ? null
          : Object.freeze({ url: e.LASTGOOD_NOTIFY_WEBHOOK_URL, secret: e.LASTGOOD_NOTIFY_WEBHOOK_SECRET }),
      maxAttempts: e.LASTGOOD_NOTIFY_MAX_ATTEMPTS,
      timeoutMs: e.LASTGOOD_NOTIFY_TIMEOUT,
    }),
  };
  assertProductionSafe(config);
  return Object.freeze(config);
}

export type { TargetKind };
