import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One log sink for the run; its teardown fails the run if a test credential reached any log line.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two files at a time on the 2-core CI machine: most of the suite waits on real processes, sockets and the
    // emulator, so the second worker overlaps that waiting instead of idling (vitest's default leaves one core out).
    maxWorkers: 2,
  },
});
