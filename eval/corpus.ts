/**
 * The decision-quality corpus: labelled scenarios (eval/scenarios/*.yaml) run through the real judgement path.
 * For each alert of a scenario, `decide()` applies the alert rules, history, cooldown and staleness; when it says
 * ROLLBACK, the evidence a job would read at that moment is assembled and `judge()` has the last word. The
 * alert-only rule lastgood used before (decide() alone) runs beside it as the baseline.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { decide } from '../src/domain/decide.ts';
import {
  type CorrelatedIncident,
  type Evidence,
  type IncidentEvidence,
  type MinuteCount,
  parseLookbackMs,
  type Telemetry,
} from '../src/domain/evidence.ts';
import { judge } from '../src/domain/judge.ts';
import {
  DEFAULT_JUDGEMENT_POLICY,
  type JudgementPolicy,
  type JudgementReason,
  monitoringWindow,
} from '../src/domain/judgement-policy.ts';
import { findLastKnownGood } from '../src/domain/last-known-good.ts';
import type { Factor, PastRollback, Policy, Reason, Signal, TargetHistory } from '../src/domain/types.ts';

const MINUTE = 60_000;
/** Minute 0 of every scenario. */
export const T0 = new Date('2026-11-23T12:00:00Z');
/** Cloud Run metrics arrive late: a job reading Monitoring at minute m sees counts up to m - 2. */
const INGESTION_DELAY_MINUTES = 2;

const minute = z.number().int();
const segment = z.strictObject({
  from: minute,
  to: minute,
  rpm: z.number().min(0),
  errors: z.number().min(0).max(1),
});
const scenarioSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/),
  category: z.string(),
  expected: z.enum(['rollback', 'hold']),
  rationale: z.string().min(10),
  /** Where a right rollback puts all traffic, when the scenario says (a canary's baseline). */
  rollbackTo: z.string().nullable().default(null),
  kind: z.enum(['cloud-run', 'cloud-deploy']).default('cloud-run'),
  /** The alert condition's filter; its lookback is parsed the way a job would. */
  filter: z
    .string()
    .default(
      'select_slo_burn_rate("projects/shop/services/svc/serviceLevelObjectives/availability", "3600s")',
    ),
  policy: z
    .strictObject({
      mode: z.enum(['auto', 'dry-run', 'notify', 'off']).optional(),
      sloGoal: z.number().optional(),
      maxAlertAgeMinutes: z.number().optional(),
      cooldownMinutes: z.number().optional(),
    })
    .default({}),
  judgement: z
    .strictObject({
      evidence: z.enum(['auto', 'required', 'off']).optional(),
      changeWindowMinutes: z.number().optional(),
      minRequests: z.number().optional(),
    })
    .default({}),
  revisions: z.array(z.strictObject({ name: z.string(), created: minute, ready: z.boolean().default(true) })),
  /** The traffic split while the alerts arrive. */
  traffic: z.record(z.string(), z.number()),
  stableTag: z.string().nullable().default(null),
  trafficRecords: z.array(z.strictObject({ at: minute, full: z.string().nullable() })).default([]),
  telemetry: z.enum(['ok', 'unavailable', 'no_data', 'off']).default('ok'),
  telemetryMessage: z.string().default('DEADLINE_EXCEEDED: Monitoring did not answer within 2 s (1 retry)'),
  series: z.record(z.string(), z.array(segment)).default({}),
  /** Single minutes that differ from their segment: [revision, minute, requests, errors]. */
  noisyMinutes: z
    .array(z.tuple([z.string(), minute, z.number().int().min(0), z.number().int().min(0)]))
    .default([]),
  rollout: z
    .strictObject({ deployEnd: minute, revision: z.string().nullable().default(null) })
    .nullable()
    .default(null),
  history: z
    .strictObject({
      rollbacks: z
        .array(z.strictObject({ at: minute, state: z.enum(['succeeded', 'failed', 'no_lkg', 'skipped']) }))
        .default([]),
      blocked: z.enum(['rollback_failed', 'not_healed']).nullable().default(null),
    })
    .default({ rollbacks: [], blocked: null }),
  correlated: z
    .array(
      z.strictObject({
        target: z.string(),
        startedAt: minute,
        changedRecently: z.union([z.boolean(), z.literal('unknown')]),
      }),
    )
    .default([]),
  alerts: z
    .array(
      z.strictObject({
        at: minute,
        startedAt: minute,
        state: z.enum(['open', 'closed']).default('open'),
        /** The burn rate the alert reports. */
        observed: z.number().nullable(),
        durationSeconds: z.number().default(0),
        isTest: z.boolean().default(false),
      }),
    )
    .min(1),
});
export type Scenario = z.infer<typeof scenarioSchema>;

function at(minutes: number): Date {
  return new Date(T0.getTime() + minutes * MINUTE);
}

/** A small seeded generator, so the noise in the series is the same on every run. */
function random(seedText: string): () => number {
  let seed = 0;
  for (const char of seedText) seed = (Math.imul(seed, 31) + char.charCodeAt(0)) | 0;
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function gaussian(next: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/**
 * Per-minute counts as Monitoring would report them: Poisson-like jitter on the request rate and binomial-like
 * jitter on the errors, so no two minutes are alike.
 */
function seriesOf(scenario: Scenario): Record<string, MinuteCount[]> {
  const next = random(scenario.name);
  const series: Record<string, MinuteCount[]> = {};
  for (const [revision, segments] of Object.entries(scenario.series)) {
    const counts = new Map<number, MinuteCount>();
    for (const { from, to, rpm, errors } of segments) {
      for (let m = from; m < to; m += 1) {
        const total = Math.max(0, Math.round(rpm + Math.sqrt(rpm) * gaussian(next)));
        const mean = total * errors;
        const failed = Math.round(mean + Math.sqrt(mean * (1 - errors)) * gaussian(next));
        counts.set(m, { minuteStart: at(m), total, errors: Math.min(total, Math.max(0, failed)) });
      }
    }
    for (const [noisy, m, total, errors] of scenario.noisyMinutes) {
      if (noisy === revision) counts.set(m, { minuteStart: at(m), total, errors: Math.min(total, errors) });
    }
    series[revision] = [...counts.values()]
      .filter((count) => count.total > 0)
      .sort((a, b) => a.minuteStart.getTime() - b.minuteStart.getTime());
  }
  return series;
}

const DECIDE_POLICY: Policy = {
  mode: 'auto',
  errorRateThreshold: 0.01,
  minConfidence: 0.8,
  maxRollbacksPerHour: 3,
  cooldownMs: 30 * MINUTE,
  maxAlertAgeMs: 15 * MINUTE,
  signal: { kind: 'burn_rate', sloGoal: 0.999 },
};

function decidePolicy(scenario: Scenario): Policy {
  const overrides = scenario.policy;
  return {
    ...DECIDE_POLICY,
    ...(overrides.mode ? { mode: overrides.mode } : {}),
    ...(overrides.maxAlertAgeMinutes === undefined
      ? {}
      : { maxAlertAgeMs: overrides.maxAlertAgeMinutes * MINUTE }),
    ...(overrides.cooldownMinutes === undefined ? {} : { cooldownMs: overrides.cooldownMinutes * MINUTE }),
    signal: { kind: 'burn_rate', sloGoal: overrides.sloGoal ?? 0.999 },
  };
}

function judgementPolicy(scenario: Scenario): JudgementPolicy {
  const overrides = scenario.judgement;
  return {
    ...DEFAULT_JUDGEMENT_POLICY,
    ...(overrides.evidence ? { evidence: overrides.evidence } : {}),
    ...(overrides.changeWindowMinutes === undefined
      ? {}
      : { changeWindowMs: overrides.changeWindowMinutes * MINUTE }),
    ...(overrides.minRequests === undefined ? {} : { minRequests: overrides.minRequests }),
  };
}

/**
 * The evidence a rollback job would read for an alert evaluated at minute `now`: the revisions, the traffic split,
 * lastgood's traffic records so far, one Monitoring read over `monitoringWindow` up to what has been ingested,
 * the last known good as the job would pick it, and the other targets' incidents.
 */
export function assembleEvidence(
  scenario: Scenario,
  series: Record<string, MinuteCount[]>,
  alert: Scenario['alerts'][number],
  policy: JudgementPolicy,
): Evidence {
  const incident: IncidentEvidence = {
    startedAt: at(alert.startedAt),
    lookbackMs: parseLookbackMs(scenario.filter),
    conditionDurationMs: alert.durationSeconds * 1000,
  };
  // Monitoring has ingested counts only up to a couple of minutes ago.
  const { from } = monitoringWindow(incident, policy, at(alert.at));
  const to = at(alert.at - INGESTION_DELAY_MINUTES);
  let telemetry: Telemetry;
  if (scenario.telemetry === 'ok') {
    const visible = Object.fromEntries(
      Object.entries(series).map(([revision, counts]) => [
        revision,
        counts.filter((count) => count.minuteStart >= from && count.minuteStart < to),
      ]),
    );
    const any = Object.values(visible).some((counts) => counts.length > 0);
    telemetry = any ? { status: 'ok', from, to, series: visible } : { status: 'no_data' };
  } else if (scenario.telemetry === 'unavailable') {
    telemetry = { status: 'unavailable', message: scenario.telemetryMessage };
  } else {
    telemetry = { status: scenario.telemetry };
  }
  const revisions = scenario.revisions
    .filter((revision) => revision.created <= alert.at)
    .map((revision) => ({ name: revision.name, ready: revision.ready, createdAt: at(revision.created) }));
  const trafficRecords = scenario.trafficRecords
    .filter((record) => record.at <= alert.at)
    .map((record) => ({ observedAt: at(record.at), fullRevision: record.full }));
  const serving = Object.entries(scenario.traffic).sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  const correlated: CorrelatedIncident[] = scenario.correlated
    .filter((incident) => incident.startedAt <= alert.at)
    .map((incident) => ({ ...incident, startedAt: at(incident.startedAt) }));
  const evidence: Evidence = {
    incident,
    revisions,
    traffic: scenario.traffic,
    trafficRecords,
    telemetry,
    rollout: scenario.rollout
      ? { deployEndTime: at(scenario.rollout.deployEnd), revision: scenario.rollout.revision }
      : null,
    correlated,
  };
  if (scenario.kind === 'cloud-run') {
    evidence.lastKnownGood = findLastKnownGood({
      revisions,
      servingRevision: serving,
      taggedRevision: scenario.stableTag,
      history: trafficRecords,
      incidents: [{ startedAt: incident.startedAt, endedAt: null }],
      minHealthyServingMs: 10 * MINUTE,
    }).revision;
  }
  return evidence;
}

function signalOf(alert: Scenario['alerts'][number], index: number): Signal {
  return {
    source: 'cloud-monitoring',
    incidentId: `incident-${index}`,
    state: alert.state,
    isTest: alert.isTest,
    policyName: 'svc availability burn rate',
    conditionName: 'burn rate 1h',
    observedValue: alert.observed,
    thresholdValue: 14.4,
    conditionDurationMs: alert.durationSeconds * 1000,
    startedAt: at(alert.startedAt),
    endedAt: alert.state === 'closed' ? at(alert.at) : null,
    targetLabel: 'svc',
    serviceName: 'svc',
    summary: '',
    url: null,
  };
}

export type Outcome = 'rollback' | 'hold';

/** What one path did with a scenario: the outcome and the reason of its last word (the acting alert, if any). */
export interface PathResult {
  outcome: Outcome;
  reason: Reason | JudgementReason;
}

export interface ScenarioResult {
  name: string;
  category: string;
  expected: Outcome;
  expectedRollbackTo: string | null;
  rationale: string;
  judged: PathResult & { suspect: string | null; rollbackTo: string | null; factors: Factor[] };
  alertOnly: PathResult;
}

/**
 * Runs one path over a scenario's alerts, in order. A rollback is recorded in the history the next alert sees, so
 * the cooldown and rate limit apply as they would in production; a hold records nothing.
 */
function runPath(scenario: Scenario, judged: boolean): ScenarioResult['judged'] {
  const policy = decidePolicy(scenario);
  const judgement = judgementPolicy(scenario);
  const series = seriesOf(scenario);
  const rollbacks: PastRollback[] = scenario.history.rollbacks
    .map((rollback, index) => ({
      decisionId: `past-${index}`,
      decidedAt: at(rollback.at),
      state: rollback.state,
    }))
    .sort((a, b) => b.decidedAt.getTime() - a.decidedAt.getTime());
  const blockedBy = scenario.history.blocked ? { decisionId: 'past-0', why: scenario.history.blocked } : null;
  let last: ScenarioResult['judged'] = {
    outcome: 'hold',
    reason: 'BELOW_THRESHOLD',
    suspect: null,
    rollbackTo: null,
    factors: [],
  };
  let acted: ScenarioResult['judged'] | null = null;
  for (const [index, alert] of scenario.alerts.entries()) {
    const history: TargetHistory = { rollbacks: [...rollbacks], blockedBy };
    const decision = decide(
      signalOf(alert, index),
      policy,
      history,
      { target: 'svc', enabled: true },
      at(alert.at),
    );
    if (decision.reason !== 'ROLLBACK') {
      last = {
        outcome: 'hold',
        reason: decision.reason,
        suspect: null,
        rollbackTo: null,
        factors: decision.factors,
      };
      continue;
    }
    if (judged) {
      const verdict = judge(assembleEvidence(scenario, series, alert, judgement), judgement);
      last = {
        outcome: verdict.action === 'rollback' ? 'rollback' : 'hold',
        reason: verdict.reason,
        suspect: verdict.summary.suspect,
        rollbackTo: verdict.summary.rollbackTo,
        factors: verdict.factors,
      };
      if (verdict.action !== 'rollback') continue;
    } else {
      last = {
        outcome: 'rollback',
        reason: 'ROLLBACK',
        suspect: null,
        rollbackTo: null,
        factors: decision.factors,
      };
    }
    acted ??= last;
    rollbacks.unshift({ decisionId: `eval-${index}`, decidedAt: at(alert.at), state: 'succeeded' });
  }
  return acted ?? last;
}

/** Reads and validates every scenario file in `dir`, sorted by name. */
export function loadScenarios(dir: string): Scenario[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const parsed = scenarioSchema.safeParse(parse(readFileSync(join(dir, file), 'utf8')));
      if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
      if (`${parsed.data.name}.yaml` !== file) throw new Error(`${file}: name must match the file name`);
      return parsed.data;
    });
}

export interface Figures {
  scenarios: number;
  expectedRollbacks: number;
  rollbacks: number;
  precision: number | null;
  recall: number | null;
  holdRate: number;
  falseRollbacks: string[];
  missedRollbacks: string[];
}

/**
 * A rollback is right when one was expected and, where the scenario names where traffic must go, the judgement
 * sent it there. The alert-only rule names no destination, so only the outcome counts for it.
 */
function rightRollback(result: ScenarioResult, path: 'judged' | 'alertOnly'): boolean {
  if (result.expected !== 'rollback' || result[path].outcome !== 'rollback') return false;
  return (
    path === 'alertOnly' ||
    result.expectedRollbackTo === null ||
    result.judged.rollbackTo === result.expectedRollbackTo
  );
}

function figuresOf(results: readonly ScenarioResult[], path: 'judged' | 'alertOnly'): Figures {
  const acted = results.filter((result) => result[path].outcome === 'rollback');
  const truePositives = acted.filter((result) => rightRollback(result, path)).length;
  const expectedRollbacks = results.filter((result) => result.expected === 'rollback').length;
  const round = (value: number) => Math.round(value * 10_000) / 10_000;
  return {
    scenarios: results.length,
    expectedRollbacks,
    rollbacks: acted.length,
    precision: acted.length === 0 ? null : round(truePositives / acted.length),
    recall: expectedRollbacks === 0 ? null : round(truePositives / expectedRollbacks),
    holdRate: round((results.length - acted.length) / results.length),
    falseRollbacks: acted.filter((result) => !rightRollback(result, path)).map((result) => result.name),
    missedRollbacks: results
      .filter((result) => result.expected === 'rollback' && !rightRollback(result, path))
      .map((result) => result.name),
  };
}

export interface CorpusRun {
  results: ScenarioResult[];
  judged: Figures;
  alertOnly: Figures;
}

/** Runs every scenario through both paths and measures them. */
export function runCorpus(dir: string): CorpusRun {
  const results = loadScenarios(dir).map((scenario) => {
    const judged = runPath(scenario, true);
    const alertOnly = runPath(scenario, false);
    return {
      name: scenario.name,
      category: scenario.category,
      expected: scenario.expected,
      expectedRollbackTo: scenario.rollbackTo,
      rationale: scenario.rationale,
      judged,
      alertOnly: { outcome: alertOnly.outcome, reason: alertOnly.reason },
    };
  });
  return { results, judged: figuresOf(results, 'judged'), alertOnly: figuresOf(results, 'alertOnly') };
}

export const SCENARIOS_DIR = new URL('scenarios/', import.meta.url).pathname;
