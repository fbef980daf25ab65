import { expect } from 'vitest';
import { bearer, type TestApp, VIEWER_TOKEN } from '../helpers/app.ts';

/** One sample line of the Prometheus text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Scrapes the app's `GET /metrics` the way Prometheus does, with a viewer token. */
export async function scrape(t: TestApp): Promise<string> {
  const response = await t.app.server.inject({
    method: 'GET',
    url: '/metrics',
    headers: bearer(VIEWER_TOKEN),
  });
  expect(response.statusCode).toBe(200);
  return response.body;
}

/** Every sample in a scrape body. */
export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const matching = parseSamples(text).filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (matching.length > 1)
    throw new Error(`${matching.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matching[0]?.value;
}

/**
 * The series names a scrape can contain, from its `# TYPE` lines: a histogram `x` exposes `x_bucket`, `x_sum` and
 * `x_count` even before its first observation.
 */
export function exposedSeriesNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'histogram' || type === 'summary') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    } else names.add(name!);
  }
  return names;
}
