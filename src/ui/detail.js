// One decision: its alert, factors, judgement, rollback and timeline, the Google calls and notifications it led
// to, and its audit entries. Refreshes while its rollback is under way.

import { judgementSection } from './chart.js';
import { actionButton, api, badge, canAct, h, notice, percent, rollbackBadge, table, time } from './dom.js';

const REFRESH_MS = 3_000;
/** The judged step's evidence is drawn in its own section; in the timeline it would be a wall of JSON. */
const HIDDEN_DETAIL = new Set(['summary', 'series', 'windows', 'evidence', 'factors']);
/** Longer values are cut, with the whole value on hover. */
const MAX_VALUE_CHARS = 240;

function shortValue(value) {
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.length <= MAX_VALUE_CHARS
    ? text
    : h('span', { title: text }, `${text.slice(0, MAX_VALUE_CHARS)}…`);
}

function facts(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs
      .filter(([, value]) => value !== undefined)
      .map(([term, value]) => [h('dt', {}, term), h('dd', {}, value ?? '—')]),
  );
}

function section(title, ...content) {
  return h('section', { 'aria-label': title }, h('h2', {}, title), ...content);
}

/** A timeline step's or audit event's details as short `key: value` pairs. */
function details(detail) {
  const entries = Object.entries(detail ?? {}).filter(([key]) => !HIDDEN_DETAIL.has(key));
  if (entries.length === 0) return h('span', { class: 'muted' }, '—');
  return h(
    'span',
    { class: 'kv' },
    entries.map(([key, value]) =>
      h('span', {}, h('span', { class: 'muted' }, `${key}: `), shortValue(value)),
    ),
  );
}

function alertSection(alert, decision, rollback, area, refresh) {
  if (alert === null)
    return section(
      'Alert',
      h('p', { class: 'muted' }, `None: a manual rollback by ${decision.requestedBy}.`),
    );
  const acknowledge =
    canAct() && alert.acknowledgedBy === null
      ? actionButton({
          label: 'Acknowledge',
          ask: {
            title: `Acknowledge the alert on ${decision.target ?? 'an unknown target'}`,
            text:
              `Mark incident ${alert.incidentId} on ${decision.target ?? 'an unknown target'} as seen by you` +
              `${rollback?.fromRevision ? ` (rollback ${rollback.fromRevision} → ${rollback.toRevision ?? '?'})` : ''}.`,
            confirm: 'Acknowledge',
          },
          call: () => `/v1/alerts/${alert.id}/acknowledge`,
          describe: (result) => `Acknowledged by ${result.acknowledgedBy}.`,
          area,
          done: refresh,
        })
      : null;
  return section(
    'Alert',
    facts([
      ['Policy', alert.policyName],
      ['Condition', alert.conditionName],
      ['Incident', h('span', { class: 'mono' }, alert.incidentId)],
      ['State', alert.state],
      ['Observed / threshold', `${alert.observedValue ?? '—'} / ${alert.thresholdValue ?? '—'}`],
      ['Started', time(alert.startedAt)],
      ['Received', time(alert.receivedAt)],
      [
        'Acknowledged',
        alert.acknowledgedBy
          ? h('span', {}, `${alert.acknowledgedBy}, `, time(alert.acknowledgedAt))
          : 'not yet',
      ],
    ]),
    acknowledge ? h('div', { class: 'actions' }, acknowledge) : null,
  );
}

function rollbackSection(rollback) {
  if (rollback === null) return section('Rollback', h('p', { class: 'muted' }, 'No rollback.'));
  return section(
    'Rollback',
    facts([
      ['State', rollbackBadge(rollback.state)],
      [
        'From → to',
        h('span', { class: 'mono' }, `${rollback.fromRevision ?? '?'} → ${rollback.toRevision ?? '?'}`),
      ],
      ['Last known good rule', rollback.lkgRule],
      ['Error', rollback.error ? `${rollback.error.code}: ${rollback.error.message}` : null],
      ['Queued', time(rollback.createdAt)],
      ['Finished', time(rollback.finishedAt)],
      [
        'Healed',
        rollback.verification
          ? h(
              'span',
              {},
              rollback.verification.replace('_', ' '),
              ' ',
              rollback.verifyBy ? h('span', { class: 'muted' }, 'by ', time(rollback.verifyBy)) : null,
            )
          : null,
      ],
    ]),
  );
}

function timelineSection(timeline) {
  if (timeline.length === 0) return section('Timeline', h('p', { class: 'muted' }, 'No steps yet.'));
  return section(
    'Timeline',
    h(
      'ol',
      { class: 'timeline' },
      timeline.map((step) =>
        h(
          'li',
          { 'data-step': step.step },
          time(step.at),
          ' ',
          h('strong', {}, step.step),
          step.sincePreviousMs === null
            ? null
            : h('span', { class: 'muted small' }, ` +${step.sincePreviousMs} ms`),
          h('div', { class: 'small' }, details(step.detail)),
        ),
      ),
    ),
  );
}

function paint(status, events, area, refresh) {
  const { decision, alert, rollback, timeline } = status;
  return h(
    'div',
    {},
    h(
      'p',
      { class: 'lead' },
      h('strong', {}, decision.target ?? 'unknown target'),
      ' · ',
      badge(`${decision.action} · ${decision.reason}`, decision.action === 'rollback' ? 'busy' : 'muted'),
      rollback ? [' · ', rollbackBadge(rollback.state)] : null,
    ),
    facts([
      ['Decided', time(decision.decidedAt)],
      ['Confidence', percent(decision.confidence)],
      ['Mode', decision.mode],
      ['Would roll back', decision.wouldRollback ? 'yes' : 'no'],
      ['Requested by', decision.requestedBy],
      ['Requested revision', decision.requestedRevision],
      ['Next eligible', decision.nextEligibleAt ? time(decision.nextEligibleAt) : null],
    ]),
    alertSection(alert, decision, rollback, area, refresh),
    section(
      'Factors',
      table(
        'Each factor and its effect on the decision',
        ['Factor', 'Value', 'Effect'],
        decision.factors.map((factor) => [
          factor.name,
          factor.value === null ? '—' : String(factor.value),
          factor.effect,
        ]),
      ),
    ),
    judgementSection(status),
    rollbackSection(rollback),
    timelineSection(timeline),
    section(
      'Google calls',
      table(
        'Changes lastgood made at Google',
        ['Time', 'Method', 'Step', 'Details'],
        events.audit
          .filter((event) => event.type === 'google_mutation')
          .map((event) => {
            const { method, step, ...rest } = event.data;
            return [time(event.at), h('span', { class: 'mono' }, method ?? '—'), step ?? '—', details(rest)];
          }),
      ),
    ),
    section(
      'Notifications',
      table(
        'Notifications this decision sent',
        ['Queued', 'Event', 'State', 'Delivered to', 'Attempts', 'Last error'],
        events.notifications.map((item) => [
          time(item.createdAt),
          item.event.type,
          badge(item.state, item.state === 'delivered' ? 'ok' : item.state === 'dead' ? 'bad' : 'busy'),
          item.deliveredTo.join(', ') || '—',
          String(item.attempts),
          item.lastError ?? '—',
        ]),
      ),
    ),
    section(
      'Audit entries',
      table(
        "This decision's audit entries",
        ['#', 'Time', 'Type', 'By', 'Severity'],
        events.audit.map((event) => [
          String(event.seq),
          time(event.at),
          event.type,
          event.actor,
          event.severity,
        ]),
      ),
    ),
  );
}

export async function renderDecision(main, view, id) {
  const area = h('div', { class: 'notices', 'aria-live': 'polite' });
  const container = h('div');
  main.replaceChildren(h('h1', {}, 'Decision ', h('span', { class: 'mono' }, id)), area, container);
  let last = null;
  let timer = null;
  const tick = async () => {
    try {
      const [status, events] = await Promise.all([
        api(`/v1/rollback/status/${id}`),
        api(`/v1/rollback/status/${id}/events`),
      ]);
      if (view.signal.aborted) return;
      const json = JSON.stringify([status, events]);
      if (json !== last) {
        last = json;
        container.replaceChildren(paint(status, events, area, tick));
      }
      const state = status.rollback?.state;
      // Keep watching while something may still change: a rollback under way, or one waiting to be proved healed.
      const active = state === 'queued' || state === 'running' || status.rollback?.verification === 'pending';
      if (active && timer === null) timer = setInterval(tick, REFRESH_MS);
      if (!active && timer !== null) {
        clearInterval(timer);
        timer = null;
      }
    } catch (error) {
      if (!view.signal.aborted) notice(area, 'error', error.message);
    }
  };
  view.signal.addEventListener('abort', () => timer !== null && clearInterval(timer));
  await tick();
}
