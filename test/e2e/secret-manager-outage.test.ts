import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { FIXTURE_WEBHOOK_TOKEN, startExampleEmulator, WEBHOOK_TOKEN_SECRET } from '../helpers/emulator.ts';
import { registerSecret } from '../helpers/log-sink.ts';
import { eventually } from '../helpers/poll.ts';
import { type LastgoodProcess, startLastgood } from '../helpers/process.ts';

registerSecret(FIXTURE_WEBHOOK_TOKEN);

let emu: Emulator;
let lastgood: LastgoodProcess | null = null;
beforeAll(async () => {
  emu = await startExampleEmulator();
});
afterAll(async () => {
  await emu.stop();
});
afterEach(async () => {
  await lastgood?.dispose();
  lastgood = null;
});

async function readyz(url: string): Promise<{ status: number; detail: string } | undefined> {
  try {
    const response = await fetch(`${url}/readyz`);
    const body = (await response.json()) as { checks: { webhookTokens: { detail: string } } };
    return { status: response.status, detail: body.checks.webhookTokens.detail };
  } catch {
    return undefined; // not listening yet
  }
}

describe('a real lastgood process with Secret Manager down at start', () => {
  it('keeps running unready, then becomes ready and takes alerts once Secret Manager answers', async () => {
    emu.faults.inject({ kind: 'unavailable', method: 'ListSecretVersions', times: 'until-cleared' });
    const process = await startLastgood({
      name: 'secret-manager-down',
      env: { LASTGOOD_WEBHOOK_TOKEN_SECRET: WEBHOOK_TOKEN_SECRET, SECRET_MANAGER_EMULATOR_HOST: emu.host },
      unset: ['LASTGOOD_WEBHOOK_TOKENS'],
    });
    lastgood = process;
    const exitedEarly = process.exited.then((exit) => {
      throw new Error(`exited ${JSON.stringify(exit)} instead of starting unready:\n${process.output()}`);
    });

    const unready = await Promise.race([
      exitedEarly,
      eventually(() => readyz(process.url), 'an answer from /readyz', { timeoutMs: 20_000, everyMs: 25 }),
    ]);
    expect(unready.status).toBe(503);
    expect(unready.detail).toMatch(/never read.*UNAVAILABLE.*retrying/s);
    const tries = emu.calls.count('ListSecretVersions');

    emu.faults.clear();
    await Promise.race([exitedEarly, process.waitReady(10_000)]);
    expect(emu.calls.count('ListSecretVersions')).toBeGreaterThan(tries);
    const alert = await fetch(
      `${process.url}/webhook/error-budget-alert?auth_token=${encodeURIComponent(FIXTURE_WEBHOOK_TOKEN)}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(burnRateAlert()),
      },
    );
    expect(alert.status).toBe(202);
  }, 30_000);
});
