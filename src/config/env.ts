import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ROLES, type Role } from '../auth/roles.ts';
import { LastgoodError } from '../errors.ts';
import { duration, durationOutside, parseDuration } from './durations.ts';
import { lookAlikeWarnings } from './look-alikes.ts';
import { formatIssues, parsePolicyFile } from './policy.ts';
import { assertProductionSafe } from './production-safety.ts';
import type { Config } from './types.ts';

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

/** Waits before each Google retry: long enough not to hammer the API, short enough to finish a rollback. */
const RETRY_DELAY_RANGE = { min: '10ms', max: '10m' };

const durationList = z.string().transform((text, ctx) => {
  const values = commaList(text).map(parseDuration);
  if (values.some((value) => value === null)) {
    ctx.addIssue({ code: 'custom', message: 'a comma-separated list of durations, e.g. 5s,10s,30s' });
    return z.NEVER;
  }
  const outside = (values as number[]).map((ms) => durationOutside(ms, RETRY_DELAY_RANGE)).find(Boolean);
  if (outside) {
    ctx.addIssue({ code: 'custom', message: `each delay ${outside} (got ${text.trim()})` });
    return z.NEVER;
  }
  return values as number[];
});

const RATE_WINDOW_RANGE = { min: '1s', max: '1d' };

/** A rate-limit budget: "600/1m" is 600 requests per minute. */
const rateBudget = z.string().transform((text, ctx) => {
  const match = /^(\d{1,7})\/(\w+)$/.exec(text.trim());
  const windowMs = match ? parseDuration(match[2]!) : null;
  if (!match || Number(match[1]) === 0 || !windowMs) {
    ctx.addIssue({ code: 'custom', message: 'a budget like 600/1m: requests per duration, both above 0' });
    return z.NEVER;
  }
  const outside = durationOutside(windowMs, RATE_WINDOW_RANGE);
  if (outside !== null) {
    ctx.addIssue({ code: 'custom', message: `the window ${outside} (got ${text.trim()})` });
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
  LASTGOOD_LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  LASTGOOD_METRICS_LOCAL_PORT: z.coerce.number().int().min(1).max(65_535).optional(),
  // The platform's own variables, taken as they come so they never stop a start: Cloud Run sets K_SERVICE and
  // K_REVISION, the Terraform module sets GOOGLE_CLOUD_PROJECT.
  GOOGLE_CLOUD_PROJECT: z.string().optional(),
  K_SERVICE: z.string().optional(),
  K_REVISION: z.string().optional(),
  NODE_ENV: z.string().optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  CLOUD_RUN_EMULATOR_HOST: hostPort.optional(),
  CLOUD_DEPLOY_EMULATOR_HOST: hostPort.optional(),
  SECRET_MANAGER_EMULATOR_HOST: hostPort.optional(),
  MONITORING_EMULATOR_HOST: hostPort.optional(),
  LASTGOOD_CONFIG: z.string().min(1, 'path to the policy YAML file, e.g. examples/lastgood.yaml'),
  LASTGOOD_DATA_DIR: z.string().min(1).default('./.lastgood'),
  LASTGOOD_ENABLED: z.enum(['true', 'false', '1', '0']).default('true'),
  LASTGOOD_WEBHOOK_TOKENS: z.string().optional(),
  LASTGOOD_OPERATOR_TOKENS: z.string().optional(),
  LASTGOOD_SHUTDOWN_GRACE: duration({ min: '1s', max: '1h' }).default(10_000),
  LASTGOOD_GOOGLE_DEADLINE: duration({ min: '100ms', max: '10m' }).default(10_000),
  LASTGOOD_GOOGLE_RETRY_DELAYS: durationList.default([5_000, 10_000, 30_000]),
  LASTGOOD_POLL_INTERVAL: duration({ min: '10ms', max: '1m' }).default(1_000),
  LASTGOOD_ROLLBACK_TIMEOUT: duration({ min: '1s', max: '1d' }).default(5 * 60_000),
  LASTGOOD_JOB_LEASE: duration({ min: '100ms', max: '1h' }).default(30_000),
  LASTGOOD_JOB_POLL: duration({ min: '10ms', max: '10m' }).default(1_000),
  LASTGOOD_JOB_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(32),
  LASTGOOD_GOOGLE_WRITE_RATE: rateBudget.default({ max: 60, windowMs: 60_000 }),
  LASTGOOD_GOOGLE_REWARM: duration({ min: '1s', max: '10m' }).default(60_000),
  LASTGOOD_WORKER_ID: z.string().min(1).max(128).optional(),
  LASTGOOD_WEBHOOK_TOKEN_SECRET: z
    .string()
    .regex(/^projects\/[^/\s]+\/secrets\/[^/\s]+$/, 'must be projects/PROJECT/secrets/SECRET')
    .optional(),
  LASTGOOD_TOKEN_REFRESH: duration({ min: '10s', max: '1d' }).default(5 * 60_000),
  LASTGOOD_PUBSUB_AUDIENCE: z.string().min(1).max(2048).optional(),
  LASTGOOD_PUBSUB_SERVICE_ACCOUNT: z.email().optional(),
  LASTGOOD_CORS_ORIGINS: originList.default([]),
  LASTGOOD_RATE_LIMIT_INTAKE: rateBudget.default({ max: 600, windowMs: 60_000 }),
  LASTGOOD_RATE_LIMIT_OPERATOR: rateBudget.default({ max: 120, windowMs: 60_000 }),
  LASTGOOD_RATE_LIMIT_ANONYMOUS: rateBudget.default({ max: 60, windowMs: 60_000 }),
  LASTGOOD_TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(1),
  LASTGOOD_REQUEST_TIMEOUT: duration({ min: '1s', max: '5m' }).default(10_000),
  LASTGOOD_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(0).max(100_000).default(256),
  LASTGOOD_PUBLIC_URL: httpUrl.optional(),
  LASTGOOD_SLACK_WEBHOOK_URL: httpUrl.optional(),
  LASTGOOD_PAGERDUTY_ROUTING_KEY: z.string().min(1).max(128).optional(),
  LASTGOOD_PAGERDUTY_URL: httpUrl.default('https://events.pagerduty.com/v2/enqueue'),
  LASTGOOD_NOTIFY_WEBHOOK_URL: httpUrl.optional(),
  LASTGOOD_NOTIFY_WEBHOOK_SECRET: z.string().min(16, 'at least 16 characters').max(512).optional(),
  LASTGOOD_NOTIFY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
  LASTGOOD_NOTIFY_TIMEOUT: duration({ min: '100ms', max: '5m' }).default(5_000),
  LASTGOOD_SESSION_SECRET: z.string().min(32, 'at least 32 characters').max(512).optional(),
  LASTGOOD_SESSION_TTL: duration({ min: '1m', max: '7d' }).default(12 * 3_600_000),
});

const ENV_KEYS = new Set(Object.keys(envSchema.shape));
/** The `lastgood` CLI's settings: an operator's shell exports them, and the server started from it must not mind. */
const CLI_KEYS = new Set(['LASTGOOD_URL', 'LASTGOOD_TOKEN']);
const KNOWN_KEYS: ReadonlySet<string> = new Set([...ENV_KEYS, ...CLI_KEYS]);

/** The emulator's own settings (src/emulator/main.ts): a shell that runs both exports them. */
function isEmulatorKey(key: string): boolean {
  return key.startsWith('LASTGOOD_EMULATOR_');
}

/**
 * Validates the environment and the policy file once at start. Unknown `LASTGOOD_*` variables are refused, so a
 * typo fails loudly instead of silently falling back to a default; other look-alikes (`DATABSE_URL`,
 * `lastgood_enabled`) come back in `warnings`, for the caller to log, and are refused in production.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): Config {
  const picked: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || CLI_KEYS.has(key) || isEmulatorKey(key)) continue;
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
  if (e.LASTGOOD_METRICS_LOCAL_PORT !== undefined && e.LASTGOOD_METRICS_LOCAL_PORT === e.PORT) {
    throw new LastgoodError(
      'LASTGOOD_ERR_CONFIG',
      'Invalid configuration in environment:\n  LASTGOOD_METRICS_LOCAL_PORT: must differ from PORT (the token-free ' +
        '/metrics listens on 127.0.0.1 beside the API, never instead of it)',
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
    log: Object.freeze({
      format: e.LASTGOOD_LOG_FORMAT,
      traceProject: e.GOOGLE_CLOUD_PROJECT || null,
      service: e.K_SERVICE || 'lastgood',
      version: e.K_REVISION || null,
    }),
    production: e.NODE_ENV === 'production',
    dataDir: e.LASTGOOD_DATA_DIR,
    databaseUrl: e.DATABASE_URL ?? null,
    enabled: e.LASTGOOD_ENABLED === 'true' || e.LASTGOOD_ENABLED === '1',
    webhookTokens: Object.freeze(commaList(e.LASTGOOD_WEBHOOK_TOKENS)),
    operatorTokens: Object.freeze(operatorTokens.data.map((token) => Object.freeze(token))),
    policyFile,
    targets: parsePolicyFile(policyText, policyFile),
    warnings: Object.freeze(lookAlikeWarnings(env, KNOWN_KEYS, isEmulatorKey)),
    emulators: Object.freeze({
      cloudRun: e.CLOUD_RUN_EMULATOR_HOST ?? null,
      cloudDeploy: e.CLOUD_DEPLOY_EMULATOR_HOST ?? null,
      secretManager: e.SECRET_MANAGER_EMULATOR_HOST ?? null,
      monitoring: e.MONITORING_EMULATOR_HOST ?? null,
    }),
    shutdownGraceMs: e.LASTGOOD_SHUTDOWN_GRACE,
    metricsLocalPort: e.LASTGOOD_METRICS_LOCAL_PORT ?? null,
    google: Object.freeze({
      deadlineMs: e.LASTGOOD_GOOGLE_DEADLINE,
      retryDelaysMs: Object.freeze(e.LASTGOOD_GOOGLE_RETRY_DELAYS),
      pollMs: e.LASTGOOD_POLL_INTERVAL,
      completionTimeoutMs: e.LASTGOOD_ROLLBACK_TIMEOUT,
      writeRate: Object.freeze(e.LASTGOOD_GOOGLE_WRITE_RATE),
      rewarmMs: e.LASTGOOD_GOOGLE_REWARM,
    }),
    jobs: Object.freeze({
      workerId: e.LASTGOOD_WORKER_ID ?? null,
      leaseMs: e.LASTGOOD_JOB_LEASE,
      pollMs: e.LASTGOOD_JOB_POLL,
      concurrency: e.LASTGOOD_JOB_CONCURRENCY,
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
      requestTimeoutMs: e.LASTGOOD_REQUEST_TIMEOUT,
      maxConnectionsPerAddress: e.LASTGOOD_MAX_CONNECTIONS_PER_ADDRESS,
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
    ui: Object.freeze({
      sessionSecret: e.LASTGOOD_SESSION_SECRET ?? null,
      sessionTtlMs: e.LASTGOOD_SESSION_TTL,
    }),
  };
  assertProductionSafe(config);
  return Object.freeze(config);
}
