import { describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { useTestApps } from '../helpers/app.ts';
import { CHECKOUT, GOOD_REVISION, useExampleEmulator } from '../helpers/emulator.ts';
import { listen, runLastgood } from './harness.ts';

let emulator: Emulator;

useExampleEmulator((started) => {
  emulator = started;
});
const start = useTestApps();

describe('lastgood rollback --wait', () => {
  it('prints each timeline step on stderr as it happens, the outcome on stdout', async () => {
    const t = await start({ emulatorHost: emulator.host });
    const done = await runLastgood(['rollback', 'checkout', '--wait'], await listen(t));
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^rollback\s+succeeded/m);
    const steps = done.stderr.split('\n').filter((line) => /^lastgood: \S+ \S+Z {2}\w+/.test(line));
    expect(steps.length).toBeGreaterThan(1);
    expect(done.stderr).toMatch(/^lastgood: \S+ \S+Z {2}lkg_selected {2}\{/m);
  });

  it('waits out a 429 for its Retry-After and still reports the rollback that succeeded', async () => {
    // One request per 2 s: the POST uses it, so the first poll is refused with Retry-After.
    const t = await start({ emulatorHost: emulator.host, env: { LASTGOOD_RATE_LIMIT_OPERATOR: '1/2s' } });
    const started = Date.now();
    const done = await runLastgood(['rollback', 'checkout', '--wait'], await listen(t));
    expect(done.stderr).toMatch(/^lastgood: rate limited \(429\), asking again in 2s$/m);
    expect(done.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(done.stdout).toMatch(/^rollback\s+succeeded/m);
    expect(emulator.state.cloudRun.service(CHECKOUT)?.trafficStatuses).toContainEqual(
      expect.objectContaining({ revision: GOOD_REVISION, percent: 100 }),
    );
  });

  it('gives up at --timeout with exit 3 and says the rollback goes on', async () => {
    const t = await start({ emulatorHost: emulator.host });
    // Google takes the traffic change but answers late: the rollback stays running past the CLI's timeout.
    emulator.faults.inject({ kind: 'hold-response', method: 'UpdateService', ms: 2_500 });
    const done = await runLastgood(['rollback', 'checkout', '--wait', '--timeout', '1s'], await listen(t));
    expect(done.code).toBe(3);
    expect(done.stdout).toBe('');
    expect(done.stderr).toMatch(
      /^lastgood: gave up waiting after 1s: the rollback is still running and goes on without the CLI; follow it: lastgood status dec_\w+$/m,
    );
  });

  it('refuses a --timeout that is not a duration, before calling anything', async () => {
    const t = await start({ emulatorHost: emulator.host });
    const done = await runLastgood(['rollback', 'checkout', '--wait', '--timeout', 'soon'], await listen(t));
    expect(done.code).toBe(2);
    expect(done.stderr).toContain('--timeout: a duration like 90s or 10m, not "soon"');
    expect(emulator.calls.count('UpdateService')).toBe(0);
  });
});
