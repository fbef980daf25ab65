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
 * Stores an alert and decides on it in one transaction: ingest -> decide -> store. Returns before anything
 * touches Google; a rollback decision leaves a queued job for the worker.
 */
export function intakeAlert(
  deps: IntakeDeps,
  parsed: ParsedAlert,
  rawBody: string,
): Promise<DecisionOutcome> {
  const now = deps.clock.now();
  const target = parsed.signal.isTest ? null : targetFor(parsed.signal, deps.targets);
  const policy = target?.policy ?? null;
  return deps.store.recordDecision({
    alert: {
      source: parsed.signal.source,
      dedupeKey: parsed.dedupeKey,
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
