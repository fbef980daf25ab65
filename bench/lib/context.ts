import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** What every bench section is given. */
export interface BenchContext {
  /** The smaller version: shorter runs, fewer samples, 100,000 stored alerts. */
  quick: boolean;
  /** Start lastgood and the bare reference with `--cpu-prof`, profiles into bench/results/. */
  cpuProfile: boolean;
  /** A fresh directory under the run's temp dir, for one server's data and log. */
  dir(name: string): string;
  /** Progress for the person watching; the results go to the table. */
  log(message: string): void;
}

export function benchContext(options: {
  quick: boolean;
  cpuProfile: boolean;
  workDir: string;
}): BenchContext {
  return {
    quick: options.quick,
    cpuProfile: options.cpuProfile,
    dir(name) {
      const path = join(options.workDir, name);
      mkdirSync(path, { recursive: true });
      return path;
    },
    log(message) {
      process.stderr.write(`bench: ${message}\n`);
    },
  };
}
