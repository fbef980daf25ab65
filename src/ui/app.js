// The status page's entry: loads the session, routes /ui/... paths to their views without reloading, and signs
// out. Every view stops refreshing when it is left.
import { renderDecision } from './detail.js';
import { api, h, navigate, session, toSignIn } from './dom.js';
import { renderAudit, renderDecisions, renderTargets } from './pages.js';

const VIEWS = [
  [/^\/ui\/targets$/, 'targets', 'Targets', (main, view) => renderTargets(main, view)],
  [/^\/ui\/decisions$/, 'decisions', 'Decisions', (main, view) => renderDecisions(main, view)],
  [
    /^\/ui\/decisions\/((?:dec|alt)_[0-9a-z]{26})$/,
    'decisions',
    'Decision',
    (main, view, id) => renderDecision(main, view, id),
  ],
  [/^\/ui\/audit$/, 'audit', 'Audit', (main, view) => renderAudit(main, view)],
];

const main = document.getElementById('main');
let current = null;

async function render() {
  current?.abort();
  current = new AbortController();
  const view = { signal: current.signal };
  for (const [pattern, nav, title, show] of VIEWS) {
    const match = pattern.exec(location.pathname);
    if (match === null) continue;
    document.title = `${title} · lastgood`;
    for (const link of document.querySelectorAll('[data-nav]')) {
      if (link.dataset.nav === nav) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    try {
      await show(main, view, match[1]);
    } catch (error) {
      if (!view.signal.aborted)
        main.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, error.message));
    }
    return;
  }
  main.replaceChildren(
    h('h1', {}, 'No such page'),
    h('p', {}, h('a', { href: '/ui/targets' }, 'Go to the targets')),
  );
}

// Links within the page change the view without a reload; a modified click (new tab) is left to the browser.
document.addEventListener('click', (event) => {
  const link = event.target.closest?.('a[href]');
  if (!link || link.origin !== location.origin || !link.pathname.startsWith('/ui/') || link.target) return;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
  main.focus();
});
window.addEventListener('popstate', render);

document.getElementById('sign-out').addEventListener('click', async () => {
  await api('/ui/api/sign-out', 'POST').catch(() => undefined);
  location.assign('/ui/sign-in');
});

try {
  Object.assign(session, await api('/ui/api/session'));
  document.getElementById('who').textContent = `${session.name} · ${session.role}`;
  await render();
} catch (error) {
  if (error.status !== 401)
    main.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, error.message));
  else toSignIn();
}
