import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that need a process of their own: they assert what this process has loaded (the Google client modules)
 * or how its V8 heap behaves, which an earlier file in a shared worker would already have changed.
 */
const OWN_PROCESS = ['test/targets/warming.test.ts', 'test/memory.test.ts'];

/**
 * The files that take longest (8 s and more on the 2-core machine), longest first. Without a cache of earlier
 * durations, as on a fresh clone or in CI, vitest starts the largest files first: a file of three lines that runs
 * 10,000 fuzz bodies came last and ran alone for half a minute while the other worker idled.
 */
const LONGEST_FIRST = [
  'test/ui/status-page.test.ts',
  'test/replicas/takeover.test.ts',
  'test/security/fuzz-pubsub.test.ts',
  'test/replicas/lease-fence.test.ts',
  'test/store/postgres.test.ts',
  'test/security/fuzz-webhook.test.ts',
  'test/replicas/shutdown.test.ts',
  'test/e2e/truth-table.test.ts',
  'test/replicas/store-outage.test.ts',
  'test/demo.test.ts',
  'test/replicas/held-connections.test.ts',
  'test/replicas/concurrent-alerts.test.ts',
  'test/e2e/record-truth.test.ts',
  'test/e2e/judgement.test.ts',
  'test/replicas/intake-crash.test.ts',
  'test/cli/output.test.ts',
  'test/dev.test.ts',
  'test/e2e/startup-refusals.test.ts',
];
for (const file of LONGEST_FIRST)
  if (!existsSync(new URL(file, import.meta.url)))
    throw new Error(`LONGEST_FIRST names ${file}, which does not exist`);

/** Starts the files of `LONGEST_FIRST` first, in its order, so the two workers finish together; then vitest's. */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (spec: TestSpecification) => {
      const index = LONGEST_FIRST.indexOf(relative(spec.project.config.root, spec.moduleId));
      return index === -1 ? LONGEST_FIRST.length : index;
    };
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    // One log sink for the run: its teardown fails the run if a test credential reached any log line.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two files at a time on the 2-core CI machine: most of the suite waits on real processes, sockets and the
    // emulator, so the second worker overlaps that waiting instead of idling (vitest's default leaves one core out).
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: OWN_PROCESS,
          // A worker runs file after file: a fresh process per file loaded and compiled the Google clients, zod,
          // fastify and the emulator again each time, over a second of CPU per file, half the suite's time on
          // 2 cores. Every test sets up what it reads and closes what it starts, so reusing the process is safe.
          isolate: false,
        },
      },
      { extends: true, test: { name: 'own-process', include: OWN_PROCESS } },
    ],
  },
});
