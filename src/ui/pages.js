// The Targets, Decisions and Audit views. Each reads lastgood's JSON API with the session cookie and refreshes
// itself; the decision detail view is in detail.js.
import {
  actionButton,
  api,
  badge,
  canAct,
  every,
  h,
  navigate,
  percent,
  rollbackBadge,
  table,
  targetStateBadge,
  time,
} from './dom.js';

/** Decisions and rollbacks appear within this many milliseconds without a reload (the issue asks for 5 s at most). */
const REFRESH_MS = 3_000;
const PAGE_SIZE = 25;
/** Revision and release names, as the manual rollback route accepts them. */
const RESOURCE_ID = '[a-z]([a-z0-9\\-]{0,61}[a-z0-9])?';

function decisionLink(id, text) {
  return h('a', { href: `/ui/decisions/${id}` }, text);
}

function revisionPair(rollback) {
  if (!rollback?.fromRevision && !rollback?.toRevision) return null;
  return h('span', { class: 'mono' }, `${rollback.fromRevision ?? '?'} → ${rollback.toRevision ?? '?'}`);
}

function whereOf(target) {
  return target.kind === 'cloud-run' ? `service ${target.service}` : `pipeline ${target.pipeline}`;
}

function targetActions(target, area, refresh) {
  const actions = [];
  if (target.blockedBy !== null) {
    const rollback = target.lastRollback;
    actions.push(
      actionButton({
        label: 'Resume',
        ask: {
          title: `Resume ${target.name}`,
          text:
            `Hand ${target.name} (${whereOf(target)}) back to lastgood: it may roll back automatically again. It has ` +
            `waited for a person since decision ${target.blockedBy.decisionId} ` +
            `(${target.blockedBy.why === 'rollback_failed' ? 'the rollback failed' : 'the rollback did not heal it'}` +
            `${rollback?.fromRevision ? `, ${rollback.fromRevision} → ${rollback.toRevision ?? '?'}` : ''}).`,
          confirm: `Resume ${target.name}`,
        },
        call: () => `/v1/targets/${target.name}/resume`,
        describe: (result) => `Resumed ${result.target}; cleared ${result.cleared.length} block(s).`,
        area,
        done: refresh,
      }),
    );
  }
  if (target.kind === 'cloud-deploy') {
    const release = target.lastRollback?.fromRevision;
    actions.push(
      actionButton({
        label: 'Unfreeze pipeline',
        ask: {
          title: `Unfreeze ${target.pipeline}`,
          text:
            `Resume the delivery pipeline ${target.pipeline} of ${target.name}, so releases can be promoted again` +
            `${release ? `, the rolled-back release ${release} included` : ''}.`,
          confirm: `Unfreeze ${target.pipeline}`,
        },
        call: () => `/v1/targets/${target.name}/unfreeze`,
        describe: (result) => `Unfroze ${result.pipeline} of ${result.target}.`,
        area,
        done: refresh,
      }),
    );
  }
  actions.push(
    actionButton({
      label: 'Roll back…',
      ask: {
        title: `Roll back ${target.name}`,
        text: (revision) =>
          `Roll ${target.name} (${whereOf(target)}) back now, to ` +
          `${revision ? `${target.kind === 'cloud-run' ? 'revision' : 'release'} ${revision}` : 'its last known good revision'}.`,
        confirm: `Roll back ${target.name}`,
        field: {
          label: target.kind === 'cloud-run' ? 'Revision (optional)' : 'Release (optional)',
          hint: 'Leave empty to go back to the last known good one.',
          pattern: RESOURCE_ID,
        },
      },
      call: (revision) =>
        `/v1/rollback/manual/${target.name}${revision ? `?target_revision=${encodeURIComponent(revision)}` : ''}`,
      describe: (result) => `Rollback of ${result.target} queued: decision ${result.decisionId}.`,
      area,
      done: refresh,
    }),
  );
  return h('div', { class: 'actions' }, actions);
}

export async function renderTargets(main, view) {
  const area = h('div', { class: 'notices', 'aria-live': 'polite' });
  const container = h('div');
  main.replaceChildren(h('h1', {}, 'Targets'), area, container);
  let refresh = () => {};
  const paint = (data) => {
    const columns = [
      'Target',
      'Kind',
      'Mode',
      'Kill switch',
      'State',
      'Last decision',
      'Last rollback',
      'Next eligible',
    ];
    if (canAct()) columns.push('Actions');
    const rows = data.targets.map((target) => {
      const cells = [
        h('strong', {}, target.name),
        h('span', {}, target.kind, h('br'), h('span', { class: 'muted small' }, whereOf(target))),
        target.mode,
        target.enabled ? badge('on', 'ok') : badge('off: every target', 'bad'),
        targetStateBadge(target.state),
        target.lastDecision
          ? h(
              'span',
              {},
              decisionLink(
                target.lastDecision.id,
                `${target.lastDecision.action} · ${target.lastDecision.reason}`,
              ),
              h('br'),
              time(target.lastDecision.decidedAt),
            )
          : h('span', { class: 'muted' }, 'none'),
        target.lastRollback
          ? h(
              'span',
              {},
              rollbackBadge(target.lastRollback.state),
              ' ',
              revisionPair(target.lastRollback),
              h('br'),
              time(target.lastRollback.finishedAt ?? target.lastRollback.createdAt),
            )
          : h('span', { class: 'muted' }, 'none'),
        target.nextEligibleAt ? time(target.nextEligibleAt) : 'now',
      ];
      if (canAct()) cells.push(targetActions(target, area, () => refresh()));
      return cells;
    });
    return table('Every configured target', columns, rows);
  };
  const loop = await every(view, REFRESH_MS * 2, () => api('/v1/targets'), paint, container);
  refresh = loop.refresh;
}

function filterForm(query, targets, reasons) {
  const select = (name, label, options) =>
    h(
      'label',
      {},
      label,
      h(
        'select',
        {
          name,
          onchange: (event) => {
            const next = new URLSearchParams(location.search);
            next.delete('cursor');
            next.delete('after');
            if (event.target.value) next.set(name, event.target.value);
            else next.delete(name);
            navigate(`/ui/decisions${next.size ? `?${next}` : ''}`, true);
          },
        },
        h('option', { value: '' }, 'all'),
        options.map((value) => h('option', { value, selected: query.get(name) === value }, value)),
      ),
    );
  return h(
    'form',
    { class: 'filters', role: 'search', onsubmit: (event) => event.preventDefault() },
    select('target', 'Target', targets),
    select('action', 'Action', ['rollback', 'none']),
    select('reason', 'Reason', reasons),
  );
}

export async function renderDecisions(main, view) {
  const query = new URLSearchParams(location.search);
  const [targets, reasons] = await Promise.all([
    api('/v1/targets').then((data) => data.targets.map((target) => target.name)),
    // The reasons decided in the window searched, so every choice finds something (and the one chosen stays).
    api('/v1/rollback/metrics?hours=720').then((metrics) =>
      [...new Set([...Object.keys(metrics.decisions.byReason), query.get('reason')].filter(Boolean))].sort(),
    ),
  ]);
  const container = h('div');
  main.replaceChildren(h('h1', {}, 'Decisions'), filterForm(query, targets, reasons), container);
  const params = new URLSearchParams({ hours: '720', limit: String(PAGE_SIZE) });
  for (const name of ['target', 'action', 'reason', 'cursor']) {
    if (query.get(name)) params.set(name, query.get(name));
  }
  const paint = (data) => {
    const rows = data.items.map(({ decision, rollback }) => [
      decisionLink(decision.id, time(decision.decidedAt)),
      decision.target ?? h('span', { class: 'muted' }, 'unknown'),
      decision.action,
      decision.reason,
      percent(decision.confidence),
      rollback ? h('span', {}, rollbackBadge(rollback.state), ' ', revisionPair(rollback)) : '—',
    ]);
    const pages = [];
    if (query.get('cursor')) {
      const first = new URLSearchParams(query);
      first.delete('cursor');
      pages.push(h('a', { href: `/ui/decisions${first.size ? `?${first}` : ''}` }, '← Newest'));
    }
    if (data.nextCursor) {
      const older = new URLSearchParams(query);
      older.set('cursor', data.nextCursor);
      pages.push(h('a', { href: `/ui/decisions?${older}`, rel: 'next' }, 'Older →'));
    }
    return h(
      'div',
      {},
      table(
        'Decisions, newest first',
        ['Time', 'Target', 'Action', 'Reason', 'Confidence', 'Rollback'],
        rows,
        'No decisions match.',
      ),
      h('nav', { class: 'pager', 'aria-label': 'Pages of decisions' }, pages),
    );
  };
  await every(view, REFRESH_MS, () => api(`/v1/rollback/recent?${params}`), paint, container);
}

export async function renderAudit(main, view) {
  const verdict = h('div');
  const container = h('div');
  main.replaceChildren(h('h1', {}, 'Audit'), verdict, container);
  const paintVerdict = (check) =>
    check.ok
      ? h(
          'p',
          {},
          badge('chain verifies', 'ok'),
          ` ${check.rows} rows, each carrying the hash of the one before.`,
        )
      : h(
          'p',
          { role: 'alert' },
          badge('chain broken', 'bad'),
          ` at row ${check.firstBrokenRow?.seq} (${check.firstBrokenRow?.problem}).`,
        );
  const paint = (page) =>
    table(
      'The latest audit entries',
      ['#', 'Time', 'Type', 'Target', 'By', 'Decision'],
      page.items.map((event) => [
        String(event.seq),
        time(event.at),
        h(
          'span',
          {},
          event.type,
          event.data?.step ? h('span', { class: 'muted small' }, ` ${event.data.step}`) : null,
        ),
        event.target ?? '—',
        event.actor,
        event.decisionId ? decisionLink(event.decisionId, event.decisionId) : '—',
      ]),
    );
  await Promise.all([
    every(view, REFRESH_MS * 5, () => api('/v1/audit/verify'), paintVerdict, verdict),
    every(view, REFRESH_MS * 2, () => api('/v1/audit?limit=50'), paint, container),
  ]);
}
