import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A TCP port free on 127.0.0.1 right now, for a child process that must be told its port before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Waits for lastgood at `baseUrl` to answer `/readyz` 200; fails when `child` exits first or after `timeoutMs`. */
export async function waitUntilReady(
  baseUrl: string,
  child: ChildProcess,
  logPath: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`lastgood exited with ${child.exitCode}; see ${logPath}`);
    try {
      if ((await fetch(`${baseUrl}/readyz`)).ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  throw new Error(`lastgood did not become ready; see ${logPath}`);
}

/**
 * Waits until lastgood's log says its Google clients are connected (it warms them after /readyz, in the
 * background), so the first alert is measured on the path every later one takes. Gives up quietly after
 * `timeoutMs`: a demo still runs, only colder.
 */
export async function waitUntilWarm(logPath: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (readFileSync(logPath, 'utf8').includes('"Google clients warmed"')) return;
    await sleep(20);
  }
}
