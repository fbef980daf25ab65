import { status as grpcStatus } from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { REASONS, type Reason, type SignalSource } from './domain/types.ts';
import type { Store } from './store/store.ts';

/** One attempt at a Google call: its method, gRPC code (0 on success, null when the error had none) and duration. */
export interface GoogleCallObservation {
  method: string;
  grpcCode: number | null;
  durationMs: number;
}

/** How an intake request ended: stored and decided, a redelivery of one already stored, or refused. */
export type IntakeOutcome = 'accepted' | 'duplicate' | 'rejected';

/** Terminal rollback states, as the rollbacks counter labels them. */
const ROLLBACK_RESULTS = ['succeeded', 'failed', 'no_lkg', 'skipped', 'held'] as const;
const INTAKE_SOURCES: readonly SignalSource[] = ['cloud-monitoring', 'pubsub'];
const INTAKE_OUTCOMES: readonly IntakeOutcome[] = ['accepted', 'duplicate', 'rejected'];

/** What the gauges read at scrape time (the store), so they are never stale and nothing keeps them up to date. */
export type MetricsSources = Pick<Store, 'pendingJobCount' | 'outboxBacklog'>;

/**
 * lastgood's Prometheus metrics in a registry of their own (never prom-client's global one), so every app, and
 * every test, counts from zero. The methods are the only way the rest of lastgood touches them.
 */
export interface Metrics {
  readonly registry: Registry;
  /** The scrape body, in the Prometheus text format. */
  render(): Promise<string>;
  readonly contentType: string;
  alertReceived(source: SignalSource, outcome: IntakeOutcome): void;
  decisionRecorded(decision: { reason: Reason; targetName: string | null }): void;
  /** A rollback reached a terminal state; `durationMs` (alert received to traffic restored) when it succeeded. */
  rollbackFinished(target: string, result: string, durationMs: number | null): void;
  /** `count` succeeded rollbacks were found not to have healed the service. */
  rollbacksNotHealed(count: number): void;
  /** One Google API call attempt (each retry is its own); the observer `callGoogle` is given. */
  googleCall(observation: GoogleCallObservation): void;
}

/** A gRPC status code as a label: its name (`UNAVAILABLE`), `OK` on success, `UNKNOWN` when none was given. */
function codeLabel(code: number | null): string {
  return code === null ? 'UNKNOWN' : (grpcStatus[code] ?? String(code));
}

/**
 * Creates the registry and every metric. `targets` are the configured target names: their counters start at 0, so
 * the first rollback is an increase Prometheus can see (a series born at 1 has no increase to alert on).
 */
export function createMetrics(sources: MetricsSources, targets: Iterable<string>): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const alerts = new Counter({
    name: 'lastgood_alerts_received_total',
    help: 'Alerts received on the intake routes, by source and outcome (accepted, duplicate, rejected).',
    labelNames: ['source', 'outcome'] as const,
    registers,
  });
  const decisions = new Counter({
    name: 'lastgood_decisions_total',
    help: 'Decisions recorded, by reason and target (empty when no target matched).',
    labelNames: ['reason', 'target'] as const,
    registers,
  });
  const rollbacks = new Counter({
    name: 'lastgood_rollbacks_total',
    help: 'Rollbacks that reached a terminal state, by target and result.',
    labelNames: ['target', 'result'] as const,
    registers,
  });
  const timeToRollback = new Histogram({
    name: 'lastgood_time_to_rollback_seconds',
    help: 'From the alert being received (or the manual request) to the rollback verified, for succeeded rollbacks.',
    labelNames: ['target'] as const,
    // The rollback timeout defaults to 5 minutes; the emulator finishes in well under a second.
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 180, 300, 600],
    registers,
  });
  const notHealed = new Counter({
    name: 'lastgood_rollbacks_not_healed_total',
    help:
      'Succeeded rollbacks whose incident did not close within the verification window: escalated, and the target ' +
      'waits for a person (POST /v1/targets/:name/resume).',
    registers,
  });
  const googleLatency = new Histogram({
    name: 'lastgood_google_api_call_duration_seconds',
    help: 'Latency of each Google API call attempt, by method and gRPC code (OK on success).',
    labelNames: ['method', 'code'] as const,
    // Up to the default 10 s call deadline.
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const googleErrors = new Counter({
    name: 'lastgood_google_api_errors_total',
    help: 'Google API call attempts that failed, by method and gRPC code; retried attempts included.',
    labelNames: ['method', 'code'] as const,
    registers,
  });
  new Gauge({
    name: 'lastgood_job_queue_depth',
    help: 'Rollback jobs queued or running, read from the store at scrape time.',
    registers,
    async collect() {
      this.set(await sources.pendingJobCount());
    },
  });
  new Gauge({
    name: 'lastgood_outbox_backlog',
    help: 'Notifications not delivered: waiting, retrying or given up (dead letters); read from the store at scrape time.',
    registers,
    async collect() {
      this.set(await sources.outboxBacklog());
    },
  });

  for (const source of INTAKE_SOURCES) {
    for (const outcome of INTAKE_OUTCOMES) alerts.inc({ source, outcome }, 0);
  }
  for (const target of targets) {
    for (const result of ROLLBACK_RESULTS) rollbacks.inc({ target, result }, 0);
    for (const reason of REASONS) decisions.inc({ reason, target }, 0);
  }

  return {
    registry,
    render: () => registry.metrics(),
    contentType: registry.contentType,
    alertReceived(source, outcome) {
      alerts.inc({ source, outcome });
    },
    decisionRecorded({ reason, targetName }) {
      decisions.inc({ reason, target: targetName ?? '' });
    },
    rollbackFinished(target, result, durationMs) {
      rollbacks.inc({ target, result });
      if (durationMs !== null) timeToRollback.observe({ target }, durationMs / 1000);
    },
    rollbacksNotHealed(count) {
      notHealed.inc(count);
    },
    googleCall({ method, grpcCode, durationMs }) {
      const code = grpcCode === 0 ? 'OK' : codeLabel(grpcCode);
      googleLatency.observe({ method, code }, durationMs / 1000);
      if (code !== 'OK') googleErrors.inc({ method, code });
    },
  };
}
