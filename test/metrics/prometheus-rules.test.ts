import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { selectors } from './promql.ts';
import { exposedSeriesNames, parseSamples, scrape } from './scrape.ts';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; runbook_url: string };
}

const RULES_PATH = new URL('../../runbooks/prometheus-rules.yaml', import.meta.url);
const rules = (parse(readFileSync(RULES_PATH, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
  (group) => group.rules,
);

/** Prometheus's own series, which lastgood does not expose but a rule may name. */
const PROMETHEUS_SERIES = new Set(['up']);
describe('runbooks/prometheus-rules.yaml', () => {
  let t: TestApp;
  let text: string;
  beforeAll(async () => {
    t = await startTestApp();
    text = await scrape(t);
  });
  afterAll(async () => {
    await t.close();
  });

  it('has the alerts the runbooks are written for', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'RollbackTriggered',
        'MultipleRollbacksInWindow',
        'RollbackFailed',
        'OutboxBacklog',
      ]),
    );
  });

  it.each(rules.map((rule) => [rule.alert, rule] as const))(
    '%s names only metrics, labels and label values lastgood exposes',
    (_alert, rule) => {
      const exposed = exposedSeriesNames(text);
      const samples = parseSamples(text);
      const found = selectors(rule.expr);
      expect(found.length, rule.expr).toBeGreaterThan(0);
      for (const { metric, matchers } of found) {
        if (PROMETHEUS_SERIES.has(metric)) continue;
        expect(exposed, `${metric} in ${rule.expr}`).toContain(metric);
        const series = samples.filter((sample) => sample.name === metric);
        for (const { label, op, value } of matchers) {
          expect(Object.keys(series[0]?.labels ?? {}), `label ${label} of ${metric}`).toContain(label);
          // Every target's counters start at 0, so each value a positive matcher names is already a series.
          if (op === '=' || op === '=~') {
            for (const alternative of value.split('|')) {
              expect(
                series.some((sample) => sample.labels[label] === alternative),
                `${metric}{${label}="${alternative}"}`,
              ).toBe(true);
            }
          }
        }
      }
    },
  );

  it.each(rules.map((rule) => [rule.alert, rule] as const))(
    '%s links a runbook that exists',
    (_alert, rule) => {
      const [, page] = /^RUNBOOKS\/([\w-]+\.md)$/.exec(rule.annotations.runbook_url) ?? [];
      expect(page, rule.annotations.runbook_url).toBeDefined();
      expect(existsSync(new URL(`../../runbooks/${page}`, import.meta.url)), page).toBe(true);
      expect(rule.labels.severity).toMatch(/^(page|ticket|warning)$/);
      expect(rule.annotations.summary.length).toBeGreaterThan(0);
    },
  );
});
