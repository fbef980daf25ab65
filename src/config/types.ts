import type { OperatorToken } from '../auth/roles.ts';
import type { TargetConfig } from '../domain/target.ts';

/** The whole validated, frozen configuration. Only `loadConfig` (env.ts) reads the environment's keys. */
export interface Config {
  port: number;
  host: string;
  logLevel: string;
  /** How lines are written, and what Cloud Logging and Error Reporting are told about where lastgood runs. */
  log: {
    /** `auto`: pretty when stdout is a terminal, JSON otherwise. */
    format: 'auto' | 'json' | 'pretty';
    /** GOOGLE_CLOUD_PROJECT: traces are named in it; null writes no trace fields. */
    traceProject: string | null;
    /** Error Reporting's service (K_SERVICE) and version (K_REVISION). */
    service: string;
    version: string | null;
  };
  production: boolean;
  dataDir: string;
  databaseUrl: string | null;
  enabled: boolean;
  webhookTokens: readonly string[];
  operatorTokens: readonly OperatorToken[];
  policyFile: string;
  targets: ReadonlyMap<string, TargetConfig>;
  emulators: {
    cloudRun: string | null;
    cloudDeploy: string | null;
    secretManager: string | null;
    monitoring: string | null;
  };
  shutdownGraceMs: number;
  /** Port of the token-free `GET /metrics` on 127.0.0.1, for a collector in the same instance; null: none. */
  metricsLocalPort: number | null;
  google: {
    deadlineMs: number;
    retryDelaysMs: readonly number[];
    pollMs: number;
    completionTimeoutMs: number;
    /** Mutating calls allowed per API, project and region within a window: Google's write quotas. */
    writeRate: RateBudget;
    /** How often the Google clients' channels are touched to keep them connected through idle. */
    rewarmMs: number;
  };
  /** `concurrency`: rollback jobs one process runs at once. */
  jobs: { workerId: string | null; leaseMs: number; pollMs: number; concurrency: number };
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
    /** How long a request's headers and body may take to arrive; past it the connection is answered 408 and closed. */
    requestTimeoutMs: number;
    /** Open connections one peer address may hold; more are closed at once. 0: no cap. */
    maxConnectionsPerAddress: number;
  };
  notify: NotifyConfig;
  /** The status page's sessions (see docs/status-page.md). */
  ui: UiConfig;
  /** Problems that do not stop a start outside production (look-alike variables): main.ts logs each. */
  warnings: readonly string[];
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

/** The status page's session cookie. The secret is a credential: never log it. */
export interface UiConfig {
  /** Keys the session cookie; null outside production means a random key per process (sessions end on restart). */
  sessionSecret: string | null;
  /** How long a session lasts from sign-in. */
  sessionTtlMs: number;
}

/** Separate budgets, so a flood of bad requests cannot use up the one alerts arrive on. */
export type RateLimitBudget = 'intake' | 'operator' | 'anonymous';
export interface RateBudget {
  max: number;
  windowMs: number;
}
