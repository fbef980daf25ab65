// What every view shares: the session, calls to lastgood's JSON API with the session cookie, a small DOM
// builder (text only, never HTML, so nothing from the API is ever parsed as markup), and the confirm dialog.

/** Who is signed in, and the CSRF token every change must carry. Filled by app.js from /ui/api/session. */
export const session = { name: '', role: 'viewer', csrfToken: '' };

/** Whether the signed-in token may act: operators and admins. A viewer sees no action buttons. */
export function canAct() {
  return session.role === 'operator' || session.role === 'admin';
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `lastgood answered ${status}`);
    this.status = status;
    this.code = body?.code ?? null;
  }
}

/** Goes to sign-in, coming back to this page afterwards. */
export function toSignIn() {
  location.assign(`/ui/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
}

/** Calls the JSON API with the session cookie; a change also sends the CSRF token. */
export async function api(path, method = 'GET') {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') headers['x-lastgood-csrf'] = session.csrfToken;
  const response = await fetch(path, { method, headers, credentials: 'same-origin' });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) toSignIn();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** `h('a', { href }, 'text', child)`: an element with attributes, listeners (`onclick`) and children. */
export function h(tag, attrs = {}, ...children) {
  const svg = tag.startsWith('svg:');
  const element = svg
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else if (key === 'class' && !svg) element.className = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/**
 * A table that becomes one card per row at phone width: each cell carries its column's name. With no rows, a
 * short line says so instead.
 */
export function table(caption, columns, rows, empty = 'None.') {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'cards' },
      h('caption', { class: 'visually-hidden' }, caption),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          columns.map((column) => h('th', { scope: 'col' }, column)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((cells) =>
          h(
            'tr',
            {},
            cells.map((cell, index) => h('td', { 'data-label': columns[index] }, cell)),
          ),
        ),
      ),
    ),
  );
}

/** A time in the reader's time zone, UTC on hover. */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const date = new Date(iso);
  const utc = `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
  const local = date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  return h('time', { datetime: iso, title: utc }, local);
}

/** The state word beside its colour: colour is never the only signal. */
export function badge(word, tone) {
  return h('span', { class: `badge tone-${tone}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), word);
}

const TARGET_STATES = {
  healthy: ['healthy', 'ok'],
  rolling_back: ['rolling back', 'busy'],
  needs_person: ['waiting for a person', 'bad'],
  frozen: ['frozen', 'warn'],
  off: ['off', 'muted'],
};
const ROLLBACK_TONES = {
  queued: 'busy',
  running: 'busy',
  succeeded: 'ok',
  failed: 'bad',
  no_lkg: 'bad',
  skipped: 'muted',
  held: 'warn',
};

export function targetStateBadge(state) {
  const [word, tone] = TARGET_STATES[state] ?? [state, 'muted'];
  return badge(word, tone);
}

export function rollbackBadge(state) {
  return badge(state.replace('_', ' '), ROLLBACK_TONES[state] ?? 'muted');
}

export function percent(value) {
  return typeof value === 'number' ? `${Math.round(value * 100)}%` : '—';
}

/** A short line for a notice area: what an action did, or why it failed. */
export function notice(area, kind, text) {
  area.replaceChildren(
    h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text),
  );
}

/** Goes to another view without reloading the page. */
export function navigate(url, replace = false) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

/**
 * Runs `refresh` now and then every `ms` until the view is left (its signal aborts). The result is painted into
 * `container` only when the data changed, so focus and scroll stay put between refreshes.
 */
export async function every(view, ms, load, paint, container) {
  let last = null;
  const tick = async () => {
    try {
      const data = await load();
      if (view.signal.aborted) return;
      const json = JSON.stringify(data);
      if (json !== last) {
        last = json;
        container.replaceChildren(paint(data));
      }
    } catch (error) {
      if (!view.signal.aborted)
        container.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, error.message));
    }
  };
  await tick();
  const timer = setInterval(tick, ms);
  view.signal.addEventListener('abort', () => clearInterval(timer));
  return { refresh: tick, forget: () => (last = null) };
}

/**
 * Asks before an action, naming what it changes. With `field`, the person may type a value (a revision), and the
 * text is rebuilt from it as they type. Resolves to the field's value (or '') when confirmed, null otherwise.
 */
export function confirmAction({ title, text, confirm, field }) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  const textArea = document.getElementById('confirm-text');
  const extra = document.getElementById('confirm-extra');
  document.getElementById('confirm-ok').textContent = confirm;
  const input = field
    ? h('input', {
        id: 'confirm-field',
        name: 'value',
        autocomplete: 'off',
        spellcheck: 'false',
        pattern: field.pattern,
      })
    : null;
  const describe = () => {
    textArea.textContent = typeof text === 'function' ? text(input?.value.trim() ?? '') : text;
  };
  extra.replaceChildren(
    ...(input
      ? [h('label', { for: 'confirm-field' }, field.label), input, h('p', { class: 'hint' }, field.hint)]
      : []),
  );
  input?.addEventListener('input', describe);
  describe();
  dialog.returnValue = '';
  dialog.showModal();
  (input ?? document.getElementById('confirm-ok')).focus();
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => resolve(dialog.returnValue === 'ok' ? (input?.value.trim() ?? '') : null),
      { once: true },
    );
  });
}

/**
 * A button that asks, then calls the API, then says what happened in `area` and calls `done`. Only operators see
 * one.
 */
export function actionButton({ label, ask, call, describe, area, done }) {
  return h(
    'button',
    {
      type: 'button',
      class: 'action',
      onclick: async () => {
        const value = await confirmAction(ask);
        if (value === null) return;
        try {
          const result = await api(call(value), 'POST');
          notice(area, 'ok', describe(result, value));
          done?.();
        } catch (error) {
          notice(area, 'error', `${label} failed: ${error.message}`);
        }
      },
    },
    label,
  );
}
