// The judgement's evidence on a decision's page: the verdict, its reason, the windows it measured and, when the
// judged step carries per-minute series, a chart of each revision's error ratio with the deploy, the onset and the
// rollback marked. Read defensively: the judged step's detail may lack any part of this.
import { badge, h, table, time } from './dom.js';

const WIDTH = 640;
const HEIGHT = 220;
const PAD = { left: 48, right: 16, top: 16, bottom: 28 };

function ms(value) {
  const at = typeof value === 'string' || typeof value === 'number' ? new Date(value).getTime() : Number.NaN;
  return Number.isFinite(at) ? at : null;
}

/**
 * One revision's minutes as `{at, ratio}`: from the status API's compact `[minuteStart, requests, errors]`, or from
 * `{minuteStart|at, total|requests, errors}` or `{at, ratio}` objects.
 */
function points(minutes) {
  if (!Array.isArray(minutes)) return [];
  return minutes
    .map((entry) => {
      const minute = Array.isArray(entry)
        ? { minuteStart: entry[0], total: entry[1], errors: entry[2] }
        : entry;
      const at = ms(minute?.minuteStart ?? minute?.at ?? minute?.minute);
      const total = minute?.total ?? minute?.requests;
      const ratio =
        typeof minute?.ratio === 'number'
          ? minute.ratio
          : typeof total === 'number' && total > 0 && typeof minute?.errors === 'number'
            ? minute.errors / total
            : null;
      return at === null || ratio === null ? null : { at, ratio };
    })
    .filter((point) => point !== null)
    .sort((a, b) => a.at - b.at);
}

/** How much of the series before the first mark the chart keeps: hours of calm would squeeze the incident. */
const CONTEXT_MS = 20 * 60_000;

/**
 * An inline SVG line chart: no library, no inline style, so it stands under the page's strict CSP. The suspect
 * revision comes first, drawn in the colour for trouble.
 */
export function errorRatioChart(series, marks, suspect) {
  const start = marks.length === 0 ? -Infinity : Math.min(...marks.map((mark) => mark.at)) - CONTEXT_MS;
  const lines = Object.entries(series)
    .map(([revision, minutes]) => [revision, points(minutes).filter((point) => point.at >= start)])
    .filter(([, line]) => line.length > 0)
    .sort(([a], [b]) => Number(b === suspect) - Number(a === suspect));
  if (lines.length === 0) return null;
  const times = [
    ...lines.flatMap(([, line]) => line.map((point) => point.at)),
    ...marks.map((mark) => mark.at),
  ];
  const from = Math.min(...times);
  const to = Math.max(...times, from + 60_000);
  const top = Math.max(0.01, ...lines.flatMap(([, line]) => line.map((point) => point.ratio))) * 1.1;
  const x = (at) => PAD.left + ((at - from) / (to - from)) * (WIDTH - PAD.left - PAD.right);
  const y = (ratio) => HEIGHT - PAD.bottom - (ratio / top) * (HEIGHT - PAD.top - PAD.bottom);
  const label = `Error ratio per revision over time: ${lines.map(([revision]) => revision).join(', ')}`;
  const clock = (at) => new Date(at).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return h(
    'figure',
    { class: 'chart' },
    h(
      'svg:svg',
      { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': label, class: 'chart-svg' },
      h('svg:title', {}, label),
      h('svg:line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0), class: 'axis' }),
      h('svg:line', { x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: y(0), class: 'axis' }),
      [0, top / 2, top].map((ratio) =>
        h(
          'svg:text',
          { x: PAD.left - 6, y: y(ratio) + 4, class: 'tick', 'text-anchor': 'end' },
          `${(ratio * 100).toFixed(1)}%`,
        ),
      ),
      h('svg:text', { x: PAD.left, y: HEIGHT - 8, class: 'tick' }, clock(from)),
      h('svg:text', { x: WIDTH - PAD.right, y: HEIGHT - 8, class: 'tick', 'text-anchor': 'end' }, clock(to)),
      marks.map((mark, index) =>
        h(
          'svg:g',
          { class: `mark mark-${mark.kind}` },
          h('svg:line', { x1: x(mark.at), x2: x(mark.at), y1: PAD.top, y2: y(0) }),
          // Near the right edge the label goes to the left of its line, so it is not cut off.
          x(mark.at) > WIDTH * 0.8
            ? h(
                'svg:text',
                { x: x(mark.at) - 3, y: PAD.top + 10 + index * 12, class: 'tick', 'text-anchor': 'end' },
                mark.kind,
              )
            : h('svg:text', { x: x(mark.at) + 3, y: PAD.top + 10 + index * 12, class: 'tick' }, mark.kind),
        ),
      ),
      lines.map(([, line], index) =>
        h(
          'svg:g',
          { class: `series series-${index % 4}` },
          h('svg:polyline', { points: line.map((point) => `${x(point.at)},${y(point.ratio)}`).join(' ') }),
          line.map((point) => h('svg:circle', { cx: x(point.at), cy: y(point.ratio), r: 2.5 })),
        ),
      ),
    ),
    h(
      'figcaption',
      {},
      h(
        'ul',
        { class: 'legend' },
        lines.map(([revision], index) =>
          h(
            'li',
            {},
            h('span', { class: `swatch series-${index % 4}`, 'aria-hidden': 'true' }),
            h('span', { class: 'mono' }, revision),
          ),
        ),
        marks.map((mark) =>
          h(
            'li',
            {},
            h('span', { class: `swatch mark-${mark.kind}`, 'aria-hidden': 'true' }),
            `${mark.kind} `,
            time(new Date(mark.at).toISOString()),
          ),
        ),
      ),
    ),
  );
}

export function judgementSection(status) {
  // The status API's `judgement` when it has one; else the judged timeline step itself, as far as it reads.
  const judged = status.timeline.findLast((step) => step.step === 'judged');
  if (!status.judgement && judged === undefined && status.rollback?.state !== 'held') return null;
  const detail = status.judgement ?? judged?.detail ?? {};
  const summary = detail.summary;
  const facts = typeof summary === 'object' && summary !== null ? summary : {};
  const verdict = detail.verdict ?? detail.action ?? (status.rollback?.state === 'held' ? 'hold' : null);
  const windows = Array.isArray(facts.windows)
    ? facts.windows
    : Array.isArray(detail.windows)
      ? detail.windows
      : [];
  const series = detail.series ?? facts.series ?? {};
  const marks = [
    ['deploy', facts.change?.at ?? detail.change?.at],
    ['onset', facts.onset ?? detail.onset],
    ['rollback', status.rollback?.state === 'succeeded' ? status.rollback.finishedAt : null],
  ]
    .map(([kind, at]) => ({ kind, at: ms(at) }))
    .filter((mark) => mark.at !== null);
  return h(
    'section',
    { 'aria-label': 'Judgement' },
    h('h2', {}, 'Judgement'),
    h(
      'p',
      { class: 'lead' },
      verdict
        ? badge(verdict === 'hold' ? 'held' : String(verdict), verdict === 'hold' ? 'warn' : 'busy')
        : null,
      detail.reason ? [' ', h('strong', {}, String(detail.reason))] : null,
    ),
    typeof summary === 'string' ? h('p', {}, summary) : null,
    facts.suspect || facts.baseline
      ? h('p', {}, `Suspect ${facts.suspect ?? '—'}, baseline ${facts.baseline ?? '—'}.`)
      : null,
    typeof series === 'object' && series !== null ? errorRatioChart(series, marks, facts.suspect) : null,
    Array.isArray(detail.factors) && detail.factors.length > 0
      ? table(
          'What the judgement weighed',
          ['Factor', 'Value', 'Effect'],
          detail.factors.map((factor) => [
            String(factor?.name ?? '—'),
            factor?.value === null || factor?.value === undefined ? '—' : String(factor.value),
            String(factor?.effect ?? ''),
          ]),
        )
      : null,
    windows.length === 0 ? null : h('h3', {}, 'Windows measured'),
    windows.length === 0
      ? null
      : table(
          'Windows measured',
          ['Revision', 'Role', 'From', 'To', 'Requests', 'Errors', 'Ratio'],
          windows.map((window) => [
            h('span', { class: 'mono' }, String(window.revision ?? '—')),
            String(window.role ?? '—'),
            time(window.from),
            time(window.to),
            String(window.requests ?? '—'),
            String(window.errors ?? '—'),
            typeof window.ratio === 'number' ? `${(window.ratio * 100).toFixed(2)}%` : '—',
          ]),
        ),
  );
}
