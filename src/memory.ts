import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's collector, as `--expose-gc` exposes it; `last-resort` collects everything it can and shrinks the heap. */
type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * Hands start-up's memory back once the process is ready, and returns how long that took (ms). Start-up allocates
 * fast enough that V8 grows its young generation to the most it allows on the machine (64 MB on the 24 GB bench
 * VM), and nothing shrinks it while the process idles: it held some 45 MB it never used again. Only a last-resort
 * collection shrinks it; under load V8 grows it again as it sees fit. That collection also drops compiled code that
 * has not run lately, so it belongs before any warming. It is reachable without `--expose-gc` on the command line
 * from a context created while the flag is on, which is turned off again at once. It pauses the process once.
 */
export function releaseStartupMemory(): number {
  const started = performance.now();
  setFlagsFromString('--expose-gc');
  let collect: Collect;
  try {
    collect = runInNewContext('gc') as Collect;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return performance.now() - started;
}
