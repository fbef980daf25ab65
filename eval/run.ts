/**
 * `npm run eval`: lastgood's decision quality on the labelled corpus in eval/scenarios, beside the alert-only rule
 * it used before judging. Prints precision and recall for ROLLBACK, the false and missed rollbacks by name and the
 * hold rate, and writes eval/results/latest.json. Exits non-zero only when the corpus cannot be read.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { type Figures, runCorpus, SCENARIOS_DIR } from './corpus.ts';

const RESULTS = new URL('results/', import.meta.url).pathname;

function figure(value: number | null): string {
  return value === null ? '-' : value.toFixed(3);
}

function names(list: string[]): string {
  return list.length === 0 ? 'none' : list.join(', ');
}

const run = runCorpus(SCENARIOS_DIR);
const rows: [string, (f: Figures) => string][] = [
  ['precision (ROLLBACK)', (f) => figure(f.precision)],
  ['recall (ROLLBACK)', (f) => figure(f.recall)],
  ['rollbacks', (f) => `${f.rollbacks} of ${f.scenarios} (expected ${f.expectedRollbacks})`],
  ['hold rate', (f) => figure(f.holdRate)],
  ['false rollbacks', (f) => String(f.falseRollbacks.length)],
  ['missed rollbacks', (f) => String(f.missedRollbacks.length)],
];
const width = Math.max(...rows.map(([label]) => label.length));
console.log(`lastgood decision quality: ${run.results.length} scenarios\n`);
console.log(`${''.padEnd(width)}  ${'judged'.padEnd(28)}  alert-only (before)`);
for (const [label, value] of rows) {
  console.log(`${label.padEnd(width)}  ${value(run.judged).padEnd(28)}  ${value(run.alertOnly)}`);
}
console.log(`\njudged, false rollbacks:  ${names(run.judged.falseRollbacks)}`);
console.log(`judged, missed rollbacks: ${names(run.judged.missedRollbacks)}`);
console.log(`alert-only, false rollbacks: ${names(run.alertOnly.falseRollbacks)}`);
console.log(`alert-only, missed rollbacks: ${names(run.alertOnly.missedRollbacks)}`);
console.log('\nscenario'.padEnd(48), 'expected  judged (reason)                    alert-only');
for (const result of run.results) {
  const mark = result.judged.outcome === result.expected ? ' ' : '!';
  console.log(
    `${mark} ${result.name.padEnd(46)} ${result.expected.padEnd(9)} ${`${result.judged.outcome} (${result.judged.reason})`.padEnd(34)} ${result.alertOnly.outcome} (${result.alertOnly.reason})`,
  );
}
mkdirSync(RESULTS, { recursive: true });
writeFileSync(
  `${RESULTS}latest.json`,
  `${JSON.stringify({ judged: run.judged, alertOnly: run.alertOnly, results: run.results }, null, 2)}\n`,
);
console.log(`\nwrote ${RESULTS}latest.json`);
