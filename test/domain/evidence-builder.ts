import type { CorrelatedIncident, Evidence, MinuteCount, Telemetry } from '../../src/domain/evidence.ts';
import type { TrafficObservation } from '../../src/domain/last-known-good.ts';

export const T0 = new Date('2026-11-23T12:00:00Z');
const MINUTE = 60_000;

/** The time `minutes` after T0 (negative: before). */
export function at(minutes: number): Date {
  return new Date(T0.getTime() + minutes * MINUTE);
}

/** A stretch of steady traffic: minutes [from, to) relative to T0. */
export interface Segment {
  from: number;
  to: number;
  rpm: number;
  errorRate: number;
}

/** Per-minute counts for the segments; `overrides` replaces single minutes (a noisy minute, a gap). */
export function minutes(
  segments: Segment[],
  overrides: Record<number, [number, number]> = {},
): MinuteCount[] {
  const out: MinuteCount[] = [];
  for (const segment of segments) {
    for (let minute = segment.from; minute < segment.to; minute += 1) {
      const [total, errors] = overrides[minute] ?? [segment.rpm, Math.round(segment.rpm * segment.errorRate)];
      out.push({ minuteStart: at(minute), total, errors });
    }
  }
  return out;
}

export interface EvidenceSpec {
  startedAt: number;
  lookbackMinutes?: number | null;
  revisions: { name: string; createdAt: number; ready?: boolean }[];
  traffic: Record<string, number>;
  series?: Record<string, MinuteCount[]> | 'unavailable' | 'no_data' | 'off';
  /** Series window, minutes relative to T0. */
  from?: number;
  to?: number;
  records?: TrafficObservation[];
  lastKnownGood?: string | null;
  correlated?: CorrelatedIncident[];
  rollout?: { deployEnd: number; revision: string | null } | null;
}

/** Evidence as the targets layer would fill it, from a compact spec. */
export function evidenceOf(spec: EvidenceSpec): Evidence {
  const series = spec.series ?? 'no_data';
  let telemetry: Telemetry;
  if (series === 'unavailable') telemetry = { status: 'unavailable', message: 'DEADLINE_EXCEEDED' };
  else if (series === 'no_data' || series === 'off') telemetry = { status: series };
  else {
    // Copied, so a test that corrupts one evidence object leaves the shared spec intact.
    const copy = Object.fromEntries(
      Object.entries(series).map(([revision, counts]) => [revision, counts.map((minute) => ({ ...minute }))]),
    );
    telemetry = { status: 'ok', from: at(spec.from ?? -120), to: at(spec.to ?? 0), series: copy };
  }
  const evidence: Evidence = {
    incident: {
      startedAt: at(spec.startedAt),
      lookbackMs: spec.lookbackMinutes === null ? null : (spec.lookbackMinutes ?? 60) * MINUTE,
      conditionDurationMs: 0,
    },
    revisions: spec.revisions.map((revision) => ({
      name: revision.name,
      ready: revision.ready ?? true,
      createdAt: at(revision.createdAt),
    })),
    traffic: { ...spec.traffic },
    trafficRecords: spec.records ?? [],
    telemetry,
    rollout: spec.rollout
      ? { deployEndTime: at(spec.rollout.deployEnd), revision: spec.rollout.revision }
      : null,
    correlated: spec.correlated ?? [],
  };
  if (spec.lastKnownGood !== undefined) evidence.lastKnownGood = spec.lastKnownGood;
  return evidence;
}
