/**
 * `npm run bench`: the numbers behind lastgood's claims, rerunnable by anyone. Prints a table of each measurement
 * beside its target and writes bench/results/latest.json. Nothing here asserts: the bench reports, the reader
 * judges; it exits non-zero only when a measurement could not be taken.
 *
 *   npm run bench                      the full run: about 3 minutes on 2 cores, a minute more when it first
 *                                      generates the 1M-alert store (cached in bench/.cache after)
 *   npm run bench -- --quick           a smaller version (under 60 s)
 *   npm run bench -- --cpu-prof        also profile every server process into bench/results/*.cpuprofile
 *   npm run bench -- --only=intake,decide
 *   npm run bench -- --keep           keep the servers' data and logs (the temp dir is printed)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchAlertToAction } from './alert-to-action.ts';
import { benchColdStart } from './cold-start.ts';
import { benchDecide } from './decide.ts';
import { benchFirstAlert } from './first-alert.ts';
import { benchIntake } from './intake.ts';
import { type BenchContext, benchContext } from './lib/context.ts';
import { loadAverage, type Metric, machineFacts, renderTable, verdictOf } from './lib/report.ts';
import { benchStatusAtScale } from './status-at-scale.ts';
import { benchStorm } from './storm.ts';

const SECTIONS: Record<string, (ctx: BenchContext) => Promise<{ metrics: Metric[]; details: unknown }>> = {
  intake: benchIntake,
  'alert-to-action': benchAlertToAction,
  decide: benchDecide,
  'cold-start': benchColdStart,
  'status-at-scale': benchStatusAtScale,
  storm: benchStorm,
  'first-alert': benchFirstAlert,
};

const RESULTS = new URL('results/', import.meta.url).pathname;

/** The commit measured, and whether src/ differed from it (other work in progress in the same tree). */
function measuredRevision(): { commit: string; srcModified: boolean } | null {
  // --no-optional-locks: reading must not refresh the index of a working tree others are using.
  const git = (...args: string[]) =>
    execFileSync('git', ['--no-optional-locks', ...args], {
      cwd: RESULTS,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  try {
    const commit = git('rev-parse', '--short', 'HEAD').toString().trim();
    let srcModified = false;
    try {
      git('diff', '--quiet', 'HEAD', '--', '../../src');
    } catch {
      srcModified = true;
    }
    return { commit, srcModified };
  } catch {
    return null;
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      only: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const chosen = values.only?.split(',') ?? Object.keys(SECTIONS);
  const unknown = chosen.filter((name) => !(name in SECTIONS));
  if (unknown.length > 0)
    throw new Error(`unknown section ${unknown.join(', ')}; pick from ${Object.keys(SECTIONS).join(', ')}`);

  const machine = machineFacts();
  const loadBefore = loadAverage();
  const revision = measuredRevision();
  const workDir = mkdtempSync(join(tmpdir(), 'lastgood-bench-'));
  const ctx = benchContext({ quick: values.quick, cpuProfile: values['cpu-prof'], workDir });
  ctx.log(
    `${values.quick ? 'quick' : 'full'} run on ${machine.cores} cores (${machine.cpu}), Node ${machine.node}`,
  );
  const startedAt = performance.now();
  const metrics: Metric[] = [];
  const details: Record<string, unknown> = {};
  let completed = false;
  try {
    for (const name of chosen) {
      const sectionStart = performance.now();
      const result = await SECTIONS[name]!(ctx);
      metrics.push(...result.metrics);
      details[name] = { ...(result.details as object), seconds: (performance.now() - sectionStart) / 1000 };
    }
    completed = true;
  } finally {
    // A failed run keeps them too: the error names a server log in there.
    if (values.keep || !completed) ctx.log(`kept the servers' data and logs in ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - startedAt) / 1000;
  metrics.sort((a, b) => a.section.localeCompare(b.section));

  const out = process.stdout;
  const measured =
    revision === null
      ? 'not a git checkout'
      : `commit ${revision.commit}${revision.srcModified ? ' with uncommitted changes in src/' : ''}`;
  out.write(
    `\nlastgood bench (${values.quick ? 'quick' : 'full'}), ${new Date().toISOString()}, ${measured}\n`,
  );
  out.write(
    `machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGb} GB, ${machine.os}, Node ${machine.node}; ` +
      'the load generator shares these cores\n',
  );
  out.write(`1-minute load average before the run: ${loadBefore} (other work competing for the cores)\n\n`);
  out.write(`${renderTable(metrics)}\n\n`);
  out.write(`took ${seconds.toFixed(0)} s\n`);

  mkdirSync(RESULTS, { recursive: true });
  // Only a full run of every section replaces latest.json, the file bench/README.md's table is taken from.
  const partial = values.only !== undefined;
  const file = join(
    RESULTS,
    values.quick ? 'latest-quick.json' : partial ? 'latest-partial.json' : 'latest.json',
  );
  const report = {
    date: new Date().toISOString(),
    mode: values.quick ? 'quick' : 'full',
    sections: chosen,
    seconds,
    revision,
    machine,
    loadAverageBefore: loadBefore,
    metrics: metrics.map((metric) => ({ ...metric, result: verdictOf(metric) })),
    details,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  out.write(`wrote ${file}\n`);
  return metrics.some((metric) => verdictOf(metric) === 'FAILED') ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
