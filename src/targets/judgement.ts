import type { CorrelatedIncident, Evidence, IncidentEvidence, Telemetry } from '../domain/evidence.ts';
import { judge, judgedStep } from '../domain/judge.ts';
import { type Judgement, monitoringWindow } from '../domain/judgement-policy.ts';
import { outcomeWithoutChange, type RollbackOutcome, type RollbackProgress } from '../domain/rollback.ts';
import type { TargetConfig } from '../domain/target.ts';
import type { ExecutionContext } from './executor.ts';
import type { GoogleCallPolicy, StepRecorder } from './google-call.ts';
import type { MonitoringClient } from './google-clients.ts';
import { readRequestCounts, type ServiceLocation } from './monitoring.ts';

/** The reads the judgement needs beyond the executor's own, started together before the service is read. */
export interface EvidenceReads {
  telemetry: Promise<Telemetry>;
  correlated: Promise<CorrelatedIncident[]>;
}

/**
 * Starts the Monitoring read of the service's per-revision request counts that `incident` is judged on, over the
 * window the target's judgement settings give as of `now`. `{ status: 'off' }` when there is no service to read or
 * no client to read it with; null when nothing is judged (`evidence: off`).
 */
export function startTelemetryRead(
  monitoring: MonitoringClient | null,
  service: ServiceLocation | null,
  target: TargetConfig,
  incident: IncidentEvidence,
  now: Date,
  policy: GoogleCallPolicy,
  recorder: StepRecorder,
): Promise<Telemetry> | null {
  const judgement = target.execution.judgement;
  if (judgement.evidence === 'off') return null;
  return monitoring === null || service === null
    ? Promise.resolve({ status: 'off' })
    : readRequestCounts(monitoring, service, monitoringWindow(incident, judgement, now), policy, recorder);
}

/**
 * Starts the evidence reads an automatic rollback is judged on: the Monitoring read (`startTelemetryRead`, unless
 * `started` is the one already under way) and the other targets' incidents. Null when nothing is judged: a manual
 * request (a person judged), or `evidence: off`.
 */
export function startEvidenceReads(
  context: ExecutionContext,
  monitoring: MonitoringClient | null,
  service: ServiceLocation | null,
  policy: GoogleCallPolicy,
  started: Promise<Telemetry> | null = null,
): EvidenceReads | null {
  if (context.incident === null) return null;
  const telemetry =
    started ??
    startTelemetryRead(monitoring, service, context.target, context.incident, context.now(), policy, context);
  if (telemetry === null) return null;
  const correlated = context.correlatedIncidents(
    context.incident.startedAt,
    context.target.execution.judgement.correlationWindowMs,
  );
  // Awaited only once the service is read; until then a failure must not count as an unhandled rejection.
  correlated.catch(() => {});
  return { telemetry, correlated };
}

/** The evidence the reads gathered, completed by what the executor read itself. */
export async function gatheredEvidence(
  context: ExecutionContext,
  reads: EvidenceReads,
  own: Omit<Evidence, 'incident' | 'telemetry' | 'correlated'>,
): Promise<Evidence> {
  const [telemetry, correlated] = await Promise.all([reads.telemetry, reads.correlated]);
  if (context.incident === null) throw new Error('evidence is gathered only for an alert');
  return { ...own, incident: context.incident, telemetry, correlated };
}

/** A verdict, and the `judged` step that records it with everything it rests on, not yet written. */
export interface UnrecordedJudgement {
  judgement: Judgement;
  /** Writes the `judged` step; it must be durable before any mutation. */
  record(): Promise<void>;
}

/**
 * Judges the evidence. The verdict is recorded (the `judged` step, so the status API, the CLI and a replay can
 * show and re-run it) when the caller says, so it can share the commit of the steps written with it.
 */
export function judgeEvidence(context: ExecutionContext, evidence: Evidence): UnrecordedJudgement {
  const judgement = judge(evidence, context.target.execution.judgement);
  return {
    judgement,
    record: () => context.progress('judged', judgedStep(judgement, evidence)),
  };
}

/** One sentence a person reads in the notification: why lastgood stood aside. */
function holdExplanation(judgement: Judgement): string {
  const decisive = judgement.factors.findLast((factor) => factor.name !== 'telemetry');
  return decisive === undefined
    ? `Held: ${judgement.reason}`
    : `Held (${judgement.reason}): ${decisive.name} ${String(decisive.value)}: ${decisive.effect}`;
}

/** The outcome of a judgement that holds: nothing changed, and the reason is the hold's. */
export function heldOutcome(judgement: Judgement, known: RollbackProgress = {}): RollbackOutcome {
  if (judgement.reason === 'ROLLBACK') throw new Error('a judgement to roll back is not a hold');
  return {
    ...outcomeWithoutChange('held', judgement.reason, holdExplanation(judgement), known),
    judgement: judgement.summary,
  };
}
