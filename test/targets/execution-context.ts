import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config/env.ts';
import type { Config } from '../../src/config/types.ts';
import type { CorrelatedIncident, IncidentEvidence } from '../../src/domain/evidence.ts';
import type { IncidentWindow, TrafficObservation } from '../../src/domain/last-known-good.ts';
import type { RollbackProgress } from '../../src/domain/rollback.ts';
import type { TargetConfig } from '../../src/domain/target.ts';
import type { ExecutionContext } from '../../src/targets/executor.ts';
import type { GoogleCallPolicy } from '../../src/targets/google-call.ts';
import { EXAMPLE_POLICY, FAST_GOOGLE_ENV, testEnv } from '../helpers/app.ts';

/** examples/lastgood.yaml with the fast Google settings the e2e tests use. */
export const EXAMPLE_CONFIG: Config = loadConfig(testEnv(tmpdir(), FAST_GOOGLE_ENV), () => EXAMPLE_POLICY);

export function exampleTarget(name: string): TargetConfig {
  const target = EXAMPLE_CONFIG.targets.get(name);
  if (target === undefined) throw new Error(`examples/lastgood.yaml has no target ${name}`);
  return target;
}

/** The example config's Google call policy (retries and polls in milliseconds), with real sleeps. */
export function fastPolicy(overrides: Partial<GoogleCallPolicy> = {}): GoogleCallPolicy {
  return { ...EXAMPLE_CONFIG.google, sleep: (ms) => sleep(ms), ...overrides };
}

/** One step an executor recorded; `fenced` when it went through `beforeMutation`. */
export interface RecordedStep {
  step: string;
  detail: Record<string, unknown>;
  fenced: boolean;
}

export interface FakeContextOptions {
  decisionId?: string;
  requestedRevision?: string | null;
  /** What an earlier attempt recorded: a retry or a takeover follows it. */
  previous?: RollbackProgress;
  /** False makes every `beforeMutation` answer that the lease is lost. */
  holdsLease?: boolean;
  history?: TrafficObservation[];
  incidents?: IncidentWindow[];
  /** The alert's incident, whose evidence is judged; absent: a manual request, judged by a person. */
  incident?: IncidentEvidence | null;
  correlated?: CorrelatedIncident[];
  /** Runs after each step is recorded, to change the world at that moment (or throw, as a dying worker would). */
  onStep?: (step: RecordedStep) => Promise<void> | void;
}

/** An in-memory `ExecutionContext`: it records what the executor reports instead of storing it. */
export interface FakeContext {
  context: ExecutionContext;
  steps: RecordedStep[];
  /** Everything the executor learnt, merged in order: what a takeover would be given as `previous`. */
  learnt: RollbackProgress;
  observations: TrafficObservation[];
  /** The step names, in order. */
  names(): string[];
}

let sequence = 0;

/** A fake context for `target`; ids are unique per call so Cloud Deploy's derived rollout ids never collide. */
export function fakeContext(target: TargetConfig, options: FakeContextOptions = {}): FakeContext {
  sequence += 1;
  const steps: RecordedStep[] = [];
  const learnt: RollbackProgress = { ...options.previous };
  const observations: TrafficObservation[] = [];
  const record = async (
    step: string,
    detail: Record<string, unknown>,
    progress: RollbackProgress,
    fenced: boolean,
  ) => {
    const recorded = { step, detail, fenced };
    steps.push(recorded);
    Object.assign(learnt, progress);
    await options.onStep?.(recorded);
  };
  const context: ExecutionContext = {
    decisionId: options.decisionId ?? `dec_fake${Date.now().toString(36)}${sequence}`,
    target,
    requestedRevision: options.requestedRevision ?? null,
    incident: options.incident ?? null,
    previous: { ...options.previous },
    now: () => new Date(),
    signal: new AbortController().signal,
    progress: (step, detail, progress = {}) => record(step, detail, progress, false),
    beforeMutation: async (step, detail, progress = {}) => {
      // As the store does: without the lease nothing is written.
      if (options.holdsLease === false) return false;
      await record(step, detail, progress, true);
      return true;
    },
    trafficHistory: async () => options.history ?? [],
    incidents: async () => options.incidents ?? [],
    correlatedIncidents: async () => options.correlated ?? [],
    observeTraffic: async (observation) => {
      observations.push(observation);
    },
  };
  return { context, steps, learnt, observations, names: () => steps.map(({ step }) => step) };
}
