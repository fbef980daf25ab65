import type { Stored } from '../domain/evidence.ts';
import type { JudgementSummary, MeasuredWindow } from '../domain/judgement-policy.ts';
import type { RecordedEvent } from '../events/event.ts';
import type { Notification } from './channel.ts';

/** What every channel says about an event, worded once. */
export interface Message {
  /** One line: what happened to which target. */
  title: string;
  /** Labelled facts, in display order; absent facts are left out. */
  fields: [label: string, value: string][];
  /** The error the event carries, as Google or the job worded it. */
  error: string | null;
  /** What a person should do next. */
  nextStep: string | null;
  /** The judgement's evidence in words, one line each (a hold); empty when the event carries none. */
  evidence: string[];
}

/**
 * `text` cut to at most `max` UTF-16 units, ending in `marker` when cut. Never splits a surrogate pair, so the
 * result is still valid text for the receiver's JSON parser; a marker too long for `max` shrinks to `…`.
 */
export function truncate(text: string, max: number, marker = '…'): string {
  if (text.length <= max) return text;
  const end = marker.length < max ? marker : '…';
  let keep = max - end.length;
  const last = text.charCodeAt(keep - 1);
  if (last >= 0xd800 && last <= 0xdbff) keep -= 1;
  return `${text.slice(0, keep)}${end}`;
}

function text(value: unknown): string | null {
  return value === null || value === undefined || value === '' ? null : String(value);
}

function headline(event: RecordedEvent): string {
  const data = event.data;
  switch (event.type) {
    case 'decision':
      if (data.action === 'rollback')
        return data.reason === 'MANUAL' ? 'manual rollback started' : 'rolling back';
      if (data.reason === 'NEEDS_PERSON')
        return 'alert ignored: waiting for a person after the last rollback';
      return `rollback refused (${String(data.reason)})`;
    case 'rollback_succeeded':
      return 'rolled back; watching for the service to heal';
    case 'rollback_failed':
      return `rollback FAILED (${String(data.errorCode)}): a person is needed`;
    case 'rollback_no_lkg':
      return 'rollback impossible: no last known good release';
    case 'rollback_skipped':
      return `rollback skipped (${String(data.errorCode)})`;
    case 'rollback_held':
      return `held back (${String(data.errorCode)}): the evidence does not blame the newest change`;
    case 'rollback_healed':
      return 'healed after the rollback';
    case 'rollback_not_healed':
      return 'NOT healed after the rollback: a person is needed';
    case 'target_resumed':
      return `handed back to lastgood by ${event.actor}`;
    case 'kill_switch_changed':
      return data.enabled === false
        ? `lastgood DISABLED by ${event.actor}`
        : data.enabled === true
          ? `lastgood enabled by ${event.actor}`
          : `kill switch back to its default, by ${event.actor}`;
    case 'mode_changed':
      return `mode set to ${String(data.mode ?? 'the policy file default')} by ${event.actor}`;
    default:
      return event.type;
  }
}

function nextStep(event: RecordedEvent): string | null {
  if (event.type === 'rollback_failed' || event.type === 'rollback_not_healed') {
    return `lastgood will not roll ${event.target} back again on its own. Roll back by hand if needed, then POST /v1/targets/${event.target}/resume.`;
  }
  if (event.type === 'rollback_no_lkg') return 'Deploy a fix forward, or roll back to a revision you name.';
  if (event.type === 'rollback_held') {
    return `Look for the shared cause. lastgood judges the incident again at its next alert; to roll back anyway: npx lastgood rollback ${event.target}.`;
  }
  return null;
}

/** A time to the minute, as people read it in a message: `2026-11-23 12:04Z`. */
function minute(at: string): string {
  return at.replace('T', ' ').replace(/:\d{2}(\.\d+)?Z$/, 'Z');
}

function ratioWords(window: Stored<MeasuredWindow>): string {
  const ratio = window.ratio === null ? 'too few to measure' : `${(window.ratio * 100).toFixed(2)}% 5xx`;
  return `${window.role} ${window.revision}: ${ratio} of ${window.requests} requests`;
}

/**
 * What the judgement saw, in words: the suspect and when it started serving, when the errors began, the error
 * ratios it compared, and how many other targets burned at once.
 */
function evidenceWords(judgement: Stored<JudgementSummary>): string[] {
  const change =
    judgement.change === null ? 'unknown' : `${minute(judgement.change.at)} (${judgement.change.source})`;
  const unchanged = judgement.correlated.filter((incident) => incident.changedRecently !== true).length;
  return [
    `Suspect: ${judgement.suspect ?? 'none'}, serving since ${change}`,
    `Errors began: ${judgement.onset === null ? `not seen in the series; the alert began ${minute(judgement.startedAt)}` : minute(judgement.onset)}`,
    judgement.windows.length === 0
      ? `Error ratios: not compared (telemetry ${judgement.telemetry.status}); the verdict rests on the timing`
      : `Error ratios: ${judgement.windows.map(ratioWords).join('; ')}`,
    `Other targets burning at once: ${judgement.correlated.length} (${unchanged} without a known recent change)`,
  ];
}

/** The judgement a hold's event carries, when it reads as one. */
function judgementOf(event: RecordedEvent): Stored<JudgementSummary> | null {
  const judgement = event.data.judgement as Stored<JudgementSummary> | undefined;
  return event.type === 'rollback_held' && typeof judgement === 'object' && Array.isArray(judgement?.windows)
    ? judgement
    : null;
}

/** Words the event for people: the title, the facts (service, revisions, reason, confidence) and what to do. */
export function describe(notification: Notification): Message {
  const { event } = notification;
  const data = event.data;
  const from = text(data.fromRevision);
  const to = text(data.toRevision) ?? text(data.requestedRevision);
  const revisions = from === null && to === null ? null : `${from ?? '?'} → ${to ?? '?'}`;
  const confidence = typeof data.confidence === 'number' ? data.confidence.toFixed(2) : null;
  const candidates: [string, string | null][] = [
    ['Service', notification.service ?? event.target],
    ['Revisions', revisions],
    // A hold's reason is the judgement's; the decision's (`ROLLBACK`) is what it held back.
    ['Reason', event.type === 'rollback_held' ? text(data.errorCode) : text(data.reason)],
    ['Confidence', confidence],
    ['Mode', event.type === 'mode_changed' ? null : text(data.mode)],
    ['Requested by', text(data.requestedBy)],
    ['Next eligible', text(data.nextEligibleAt)],
  ];
  const fields = candidates.filter((field): field is [string, string] => field[1] !== null);
  const judgement = judgementOf(event);
  return {
    title: `${event.target ?? 'lastgood'}: ${headline(event)}`,
    fields,
    error: text(data.errorMessage),
    nextStep: nextStep(event),
    evidence: judgement === null ? [] : evidenceWords(judgement),
  };
}
