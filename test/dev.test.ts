import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKOUT, GOOD_REVISION } from './helpers/emulator.ts';
import { eventually, sleep, until } from './helpers/poll.ts';

const REPO = new URL('../', import.meta.url).pathname;
const run = promisify(execFile);

let dev: ChildProcess | undefined;
let tmp: string | undefined;
afterEach(() => {
  // A failed test must not leave the group behind.
  if (dev?.pid !== undefined && dev.exitCode === null && dev.signalCode === null)
    process.kill(-dev.pid, 'SIGKILL');
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});

const answers = (url: string) =>
  fetch(url).then(
    () => true,
    () => false,
  );

describe('npm run dev', () => {
  it('starts lastgood and the emulator, prints a curl that rolls checkout back, and stops both on Ctrl-C', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'lastgood-dev-test-'));
    // Its own process group, so the test can send SIGINT to all of it, as Ctrl-C in a terminal does. The
    // emulator's own variable in the environment must not stop lastgood from starting.
    dev = spawn('npm', ['run', 'dev'], {
      cwd: REPO,
      detached: true,
      env: { ...process.env, TMPDIR: tmp, LASTGOOD_EMULATOR_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    dev.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    dev.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((resolve) => dev?.once('exit', (code) => resolve(code)));

    await until(() => output.includes('dev: Ctrl-C stops both.'), 'the ready banner', {
      timeoutMs: 60_000,
      everyMs: 100,
    });
    const url = /^dev: lastgood {2}(http:\/\/127\.0\.0\.1:\d+)/m.exec(output)?.[1];
    const admin = /^dev: emulator .* admin (http:\/\/127\.0\.0\.1:\d+)/m.exec(output)?.[1];
    const curl = /^ {2}(sed .* \| curl .*)$/m.exec(output)?.[1];
    expect(output).toMatch(/^dev: tokens {4}webhook {2}\S+$/m);
    expect(output).toMatch(/^dev: {11}operator \S+ {2}\(alice, admin\)$/m);
    expect(url && admin && curl, output).toBeTruthy();

    const fired = await run('sh', ['-c', curl!], { cwd: REPO });
    expect(JSON.parse(fired.stdout)).toMatchObject({ action: 'rollback', reason: 'ROLLBACK' });
    const traffic = await eventually(
      async () => {
        const state = (await (await fetch(`${admin}/state`)).json()) as {
          cloudRun: { services: { name: string; traffic: { revision: string; percent: number }[] }[] };
        };
        const checkout = state.cloudRun.services.find((service) => service.name === CHECKOUT)!;
        return checkout.traffic.some((entry) => entry.revision === GOOD_REVISION && entry.percent === 100)
          ? checkout.traffic
          : undefined;
      },
      'checkout rolled back in the emulator',
      { timeoutMs: 30_000, everyMs: 100 },
    );
    expect(traffic).toEqual([expect.objectContaining({ revision: GOOD_REVISION, percent: 100 })]);

    process.kill(-dev.pid!, 'SIGINT');
    await Promise.race([
      exited,
      sleep(20_000).then(() => Promise.reject(new Error(`still running:\n${output}`))),
    ]);
    expect(output).toContain('dev: SIGINT, stopping lastgood and the emulator');
    expect(await answers(`${url}/healthz`)).toBe(false);
    expect(await answers(`${admin}/state`)).toBe(false);
    // The store lived in a temp dir of its own, removed with the rest (Node's compile cache stays, as it should).
    expect(readdirSync(tmp).filter((name) => name.startsWith('lastgood-dev-'))).toEqual([]);
  }, 120_000);
});
