import { exposedSeriesNames, parseSamples } from './scrape.ts';

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring']);

export interface Selector {
  metric: string;
  matchers: { label: string; op: string; value: string }[];
}

/** The series selectors of a PromQL expression: each metric name with its label matchers. */
export function selectors(expr: string): Selector[] {
  const found: Selector[] = [];
  const rest = expr
    // Grouping clauses name labels, not metrics.
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g, (_, metric: string, body: string) => {
      const matchers = [...body.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map(
        ([, label, op, value]) => ({
          label: label!,
          op: op!,
          value: value!,
        }),
      );
      found.push({ metric, matchers });
      return ' ';
    });
  for (const [, name] of rest.matchAll(/\b([a-zA-Z_:][\w:]*)\b(?!\s*\()/g)) {
    if (!KEYWORDS.has(name!) && !/^\d/.test(name!)) found.push({ metric: name!, matchers: [] });
  }
  return found;
}

/** The labels a PromQL expression groups by (`by (a, b)`, `without (...)`, `on (...)`). */
export function groupingLabels(expr: string): string[] {
  return [...expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)].flatMap(([, list]) =>
    list!
      .split(',')
      .map((label) => label.trim())
      .filter((label) => label.length > 0),
  );
}

/**
 * What is wrong with a PromQL expression against a scrape of lastgood: a metric it does not expose, a label none
 * of the expression's metrics has (beyond `extraLabels`, which a collector adds, and `declaredLabels`, which a
 * metric declares before it has a series), or a label value no series has.
 */
export function promqlProblems(
  expr: string,
  scrapeText: string,
  extraLabels: readonly string[] = [],
  declaredLabels: ReadonlyMap<string, readonly string[]> = new Map(),
): string[] {
  const exposed = exposedSeriesNames(scrapeText);
  const samples = parseSamples(scrapeText);
  const problems: string[] = [];
  const found = selectors(expr).filter(({ metric }) => !PROMQL_FUNCTIONS.has(metric));
  if (found.length === 0) problems.push(`no metric in ${expr}`);
  // A labelled metric has no series before its first observation (an error counter), so its declared labels count.
  const labelsOf = (metric: string) =>
    new Set([
      ...(declaredLabels.get(metric) ?? []),
      ...samples.filter((sample) => sample.name === metric).flatMap((sample) => Object.keys(sample.labels)),
    ]);
  for (const { metric, matchers } of found) {
    if (!exposed.has(metric)) {
      problems.push(`${metric} is not exposed`);
      continue;
    }
    const series = samples.filter((sample) => sample.name === metric);
    for (const { label, op, value } of matchers) {
      if (extraLabels.includes(label)) continue;
      if (!labelsOf(metric).has(label)) problems.push(`${metric} has no label ${label}`);
      else if (op === '=' || op === '=~') {
        for (const alternative of value.split('|')) {
          if (!series.some((sample) => sample.labels[label] === alternative))
            problems.push(`no ${metric}{${label}="${alternative}"}`);
        }
      }
    }
  }
  const known = new Set([...extraLabels, ...found.flatMap(({ metric }) => [...labelsOf(metric)])]);
  for (const label of groupingLabels(expr))
    if (!known.has(label)) problems.push(`no metric has label ${label}`);
  return problems;
}

/** Words `selectors` reads as metric names that are PromQL's own: aggregations' parameters and literals. */
const PROMQL_FUNCTIONS = new Set(['e', 'pi', 'inf', 'nan']);
