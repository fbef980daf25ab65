import { defineConfig } from 'vitest/config';

/**
 * Files that need a process of their own: they assert what this process has loaded (the Google client modules)
 * or how its V8 heap behaves, which an earlier file in a shared worker would already have changed.
 */
const OWN_PROCESS = ['test/targets/warming.test.ts', 'test/memory.test.ts'];

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
