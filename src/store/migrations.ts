import { GENESIS_HASH } from '../audit/chain.ts';

/**
 * Numbered migrations, applied in order at start. The SQL is the portable subset SQLite and PostgreSQL share:
 * times are epoch milliseconds in BIGINT, JSON is TEXT, booleans are INTEGER 0/1.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'alerts, decisions, rollbacks, timeline, jobs',
    sql: `
CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  dedupe_key TEXT NOT NULL UNIQUE,
  source TEXT NOT NULL,
  incident_id TEXT NOT NULL,
  state TEXT NOT NULL,
  target_name TEXT,
  received_at BIGINT NOT NULL,
  signal TEXT NOT NULL,
  raw_body TEXT NOT NULL,
  acknowledged_by TEXT,
  acknowledged_at BIGINT
);
CREATE INDEX alerts_received_at ON alerts (received_at);
CREATE TABLE decisions (
  id TEXT PRIMARY KEY,
  alert_id TEXT UNIQUE REFERENCES alerts (id),
  target_name TEXT,
  action TEXT NOT NULL,
  reason TEXT NOT NULL,
  confidence DOUBLE PRECISION NOT NULL,
  factors TEXT NOT NULL,
  mode TEXT,
  would_rollback INTEGER NOT NULL,
  next_eligible_at BIGINT,
  requested_by TEXT,
  requested_revision TEXT,
  decided_at BIGINT NOT NULL
);
CREATE INDEX decisions_decided_at ON decisions (decided_at, id);
CREATE TABLE rollbacks (
  decision_id TEXT PRIMARY KEY REFERENCES decisions (id),
  target_name TEXT NOT NULL,
  state TEXT NOT NULL,
  from_revision TEXT,
  to_revision TEXT,
  lkg_rule TEXT,
  error_code TEXT,
  error_message TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  finished_at BIGINT
);
CREATE INDEX rollbacks_target_created ON rollbacks (target_name, created_at);
CREATE INDEX rollbacks_state ON rollbacks (state);
CREATE TABLE timeline (
  id TEXT PRIMARY KEY,
  decision_id TEXT NOT NULL REFERENCES decisions (id),
  at BIGINT NOT NULL,
  step TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX timeline_decision ON timeline (decision_id, at);
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  decision_id TEXT NOT NULL UNIQUE REFERENCES decisions (id),
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  run_after BIGINT NOT NULL,
  lease_owner TEXT,
  lease_expires_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_ready ON jobs (state, run_after);
`,
  },
  {
    version: 2,
    name: 'traffic observations, lease index',
    sql: `
CREATE TABLE traffic_observations (
  id TEXT PRIMARY KEY,
  target_name TEXT NOT NULL,
  observed_at BIGINT NOT NULL,
  full_revision TEXT
);
CREATE INDEX traffic_observations_target ON traffic_observations (target_name, observed_at);
CREATE INDEX jobs_lease ON jobs (state, lease_expires_at);
CREATE INDEX alerts_target_received ON alerts (target_name, received_at);
`,
  },
  {
    version: 3,
    name: 'audit log: a hash chain and its head',
    // The head row is the chain's single point of serialisation: appends lock it (FOR UPDATE on PostgreSQL; SQLite
    // has one writer), so every row is numbered and linked after the one before it.
    sql: `
CREATE TABLE audit_log (
  seq BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  type TEXT NOT NULL,
  severity TEXT NOT NULL,
  target_name TEXT,
  decision_id TEXT,
  actor TEXT NOT NULL,
  data TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${GENESIS_HASH}');
`,
  },
  {
    version: 4,
    name: 'notification outbox',
    // One row per notifiable audit event; the event itself stays in audit_log. `delivered_to` lists the channels
    // that took it, so a retry sends only to the ones that did not.
    sql: `
CREATE TABLE outbox (
  id TEXT PRIMARY KEY,
  audit_seq BIGINT NOT NULL UNIQUE REFERENCES audit_log (seq),
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  lease_owner TEXT,
  lease_expires_at BIGINT,
  delivered_to TEXT NOT NULL,
  last_error TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
`,
  },
  {
    version: 5,
    name: 'rollback verification and blocks a person clears',
    // Rollbacks that failed before lastgood blocked targets on them were dealt with then: they do not block now.
    sql: `
ALTER TABLE rollbacks ADD COLUMN verification TEXT;
ALTER TABLE rollbacks ADD COLUMN verify_by BIGINT;
ALTER TABLE rollbacks ADD COLUMN verified_at BIGINT;
ALTER TABLE rollbacks ADD COLUMN resumed_by TEXT;
ALTER TABLE rollbacks ADD COLUMN resumed_at BIGINT;
UPDATE rollbacks SET resumed_by = 'migration', resumed_at = 0 WHERE state = 'failed';
CREATE INDEX rollbacks_verification ON rollbacks (verification, verify_by);
CREATE INDEX rollbacks_blocking ON rollbacks (target_name, created_at)
  WHERE resumed_at IS NULL AND (state = 'failed' OR verification = 'not_healed');
`,
  },
  {
    version: 6,
    name: 'run-time settings: kill switch and target modes',
    // `key` is `kill_switch` or `mode:<target>`; a NULL value hands the setting back to the environment or policy
    // file, and the row still says who did that and why.
    sql: `
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT,
  reason TEXT NOT NULL,
  changed_by TEXT NOT NULL,
  changed_at BIGINT NOT NULL
);
`,
  },
  {
    version: 7,
    name: 'outbox: one notification per repeated refusal',
    // `coalesce_key` is `notificationKey` of the event: NULL (always notified) except for refusals that repeat
    // during a flood, of which only the first is queued. NULLs never collide, in SQLite or PostgreSQL.
    sql: `
ALTER TABLE outbox ADD COLUMN coalesce_key TEXT;
CREATE UNIQUE INDEX outbox_coalesce ON outbox (coalesce_key);
`,
  },
  {
    version: 8,
    name: 'jobs: a fencing token per claim',
    // Incremented by every claim, a re-claim by the same owner included: the lease's writes check it, not only the
    // owner's name, so a worker's stale run of a job it has since claimed again cannot write or act.
    sql: `
ALTER TABLE jobs ADD COLUMN lease_generation BIGINT NOT NULL DEFAULT 0;
`,
  },
];
