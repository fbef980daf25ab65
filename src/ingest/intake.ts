import type { Clock } from '../clock.ts';
import { type Controls, effectiveControls } from '../domain/controls.ts';
import { decide, decideManual, historyWindowMs } from '../domain/decide.ts';
import { routeSignal } from '../domain/routing.ts';
import type { TargetConfig } from '../domain/target.ts';
import type { Signal } from '../domain/types.ts';
import type { DecisionOutcome, Store } from '../store/store.ts';
import type { ParsedAlert } from './cloud-monitoring.ts';

export interface IntakeDeps {
  store: Store;
  targets: ReadonlyMap<string, TargetConfig>;
  controls: Controls;
  clock: Clock;
}

function routableTargets(targets: ReadonlyMap<string, TargetConfig>) {
  return [...targets.values()].map((target) => ({
    name: target.name,
    serviceName: target.kind === 'cloud-run' ? target.service : null,
  }));
}

/** Finds the configured target for an alert (label first, then Cloud Run service name). */
export function targetFor(signal: Signal, targets: ReadonlyMap<string, TargetConfig>): TargetConfig | null {
  const name = routeSignal(signal, routableTargets(targets));
  return name === null ? null : (targets.get(name) ?? null);
}

/**
 * A redelivery of an incident's alert that lastgood held is judged again, with fresh evidence, once the hold is this
 * old: webhook retries and Pub/Sub redeliveries come within seconds, a renotification of the open incident
 * (`renotify_interval`) minutes later.
 */
export const REJUDGE_HELD_AFTER_MS = 60_000;
/** Bounds the walk along an incident's chain of re-judged holds (one link per re-judgement). */
const MAX_REJUDGEMENTS = 100;

function heldLongEnough(outcome: DecisionOutcome, now: Date): boolean {
  const finishedAt = outcome.rollback?.state === 'held' ? outcome.rollback.finishedAt : null;
  return finishedAt !== null && now.getTime() - finishedAt.getTime() >= REJUDGE_HELD_AFTER_MS;
}

/**
 * Stores an alert and decides on it in one transaction: ingest -> decide -> store. Returns before anything
 * touches Google; a rollback decision leaves a queued job for the worker. A redelivery is a duplicate, unless the
 * decision it repeats was held a while ago: then it is stored under a key naming that hold, and decided afresh.
 */
export async function intakeAlert(
  deps: IntakeDeps,
  parsed: ParsedAlert,
  rawBody: string,
): Promise<DecisionOutcome> {
  let outcome = await recordAlert(deps, parsed, parsed.dedupeKey, rawBody);
  for (let links = 0; outcome.duplicate && links < MAX_REJUDGEMENTS; links++) {
    if (!heldLongEnough(outcome, deps.clock.now())) break;
    outcome = await recordAlert(deps, parsed, `${parsed.dedupeKey}:after:${outcome.decision.id}`, rawBody);
  }
  return outcome;
}

function recordAlert(
  deps: IntakeDeps,
  parsed: ParsedAlert,
  dedupeKey: string,
  rawBody: string,
): Promise<DecisionOutcome> {
  const now = deps.clock.now();
  const target = parsed.signal.isTest ? null : targetFor(parsed.signal, deps.targets);
  const policy = target?.policy ?? null;
  return deps.store.recordDecision({
    alert: {
      source: parsed.signal.source,
      dedupeKey,
      receivedAt: now,
      targetName: target?.name ?? null,
      signal: parsed.signal,
      rawBody,
    },
    targetName: target?.name ?? null,
    historySince: new Date(now.getTime() - (policy ? historyWindowMs(policy) : 0)),
    now,
    decide: (history, stored) => {
      const { enabled, policy: effective } = effectiveControls(stored, deps.controls, policy);
      return {
        ...decide(parsed.signal, effective, history, { target: target?.name ?? null, enabled }, now),
        mode: effective?.mode ?? null,
        requestedBy: null,
        requestedRevision: null,
      };
    },
  });
}

/** Records an operator's manual rollback request, decided under the same per-target lock as alerts. */
export function intakeManualRollback(
  deps: IntakeDeps,
  request: { target: TargetConfig; requestedBy: string; requestedRevision: string | null },
): Promise<DecisionOutcome> {
  const now = deps.clock.now();
  const { target } = request;
  return deps.store.recordDecision({
    alert: null,
    targetName: target.name,
    historySince: new Date(now.getTime() - historyWindowMs(target.policy)),
    now,
    decide: (history, stored) => {
      const { enabled, policy } = effectiveControls(stored, deps.controls, target.policy);
      return {
        ...decideManual(request.requestedBy, policy, history, { target: target.name, enabled }),
        mode: policy.mode,
        requestedBy: request.requestedBy,
        requestedRevision: request.requestedRevision,
      };
    },
  });
}
