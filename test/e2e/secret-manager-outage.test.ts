import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { startExampleEmulator } from '../emulator/helpers.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { registerSecret } from '../helpers/log-sink.ts';
import { type LastgoodProcess, startLastgood } from '../helpers/process.ts';

const SECRET = 'projects/demo-project/secrets/lastgood-webhook-token';
/** Version 1 of the secret in examples/emulator-fixture.yaml. */
const FIXTURE_TOKEN = 'demo-webhook-token-0123456789abcdef0123456789';
registerSecret(FIXTURE_TOKEN);

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

async function readyz(url: string): Promise<{ status: number; detail: string } | null> {
  try {
    const response = await fetch(`${url}/readyz`);
    const body = (await response.json()) as { checks: { webhookTokens: { detail: string } } };
    return { status: response.status, detail: body.checks.webhookTokens.detail };
  } catch {
    return null; // not listening yet
  }
}

describe('a real lastgood process with Secret Manager down at start', () => {
  it('keeps running unready, then becomes ready and takes alerts once Secret Manager answers', async () => {
    emu.faults.inject({ kind: 'unavailable', method: 'ListSecretVersions', times: 'until-cleared' });
    const process = await startLastgood({
      name: 'secret-manager-down',
      env: { LASTGOOD_WEBHOOK_TOKEN_SECRET: SECRET, SECRET_MANAGER_EMULATOR_HOST: emu.host },
      unset: ['LASTGOOD_WEBHOOK_TOKENS'],
    });
    lastgood = process;
    const exitedEarly = process.exited.then((exit) => {
      throw new Error(`exited ${JSON.stringify(exit)} instead of starting unready:\n${process.output()}`);
    });

    const unready = await Promise.race([
      exitedEarly,
      (async () => {
        for (;;) {
          const answer = await readyz(process.url);
          if (answer !== null) return answer;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      })(),
    ]);
    expect(unready.status).toBe(503);
    expect(unready.detail).toMatch(/never read.*UNAVAILABLE.*retrying/s);
    const tries = emu.calls.count('ListSecretVersions');

    emu.faults.clear();
    await Promise.race([exitedEarly, process.waitReady(10_000)]);
    expect(emu.calls.count('ListSecretVersions')).toBeGreaterThan(tries);
    const alert = await fetch(
      `${process.url}/webhook/error-budget-alert?auth_token=${encodeURIComponent(FIXTURE_TOKEN)}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(burnRateAlert()),
      },
    );
    expect(alert.status).toBe(202);
  }, 30_000);
});
