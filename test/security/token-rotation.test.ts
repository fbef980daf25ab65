import type { v1 } from '@google-cloud/secret-manager';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createWebhookTokens } from '../../src/app.ts';
import {
  createSecretManagerTokenSource,
  type SecretManagerTokenSource,
} from '../../src/auth/secret-manager-tokens.ts';
import { loadConfig } from '../../src/config/env.ts';
import { exponentialBackoff } from '../../src/domain/backoff.ts';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { createLogger } from '../../src/logger.ts';
import { createSecretManagerClient } from '../../src/targets/google-clients.ts';
import { secretManagerVersions } from '../../src/targets/secret-manager.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { EXAMPLE_POLICY, ManualClock, startTestApp, type TestApp, webhookUrl } from '../helpers/app.ts';
import { FIXTURE_WEBHOOK_TOKEN, useExampleEmulator, WEBHOOK_TOKEN_SECRET } from '../helpers/emulator.ts';
import { logSinkStream, registerSecret } from '../helpers/log-sink.ts';
import { sleep } from '../helpers/poll.ts';

const ROTATED = [
  'rotated-token-2-0123456789abcdef0123456789',
  'rotated-token-3-0123456789abcdef0123456789',
  'rotated-token-4-0123456789abcdef0123456789',
] as const;
const SHORT_TOKEN = 'short-token';
/** Too long for `?auth_token=` (512 characters at most): a sender could never present it. */
const HUGE_TOKEN = `huge-${'h'.repeat(10_235)}`;
/** A space cannot be sent in a query token or a header credential as the sender configured it. */
const SPACED_TOKEN = 'rotated token with spaces 0123456789abcdef';
for (const token of [FIXTURE_WEBHOOK_TOKEN, ...ROTATED, SHORT_TOKEN, HUGE_TOKEN, SPACED_TOKEN])
  registerSecret(token);

let emu: Emulator;
let client: v1.SecretManagerServiceClient;
useExampleEmulator((started) => {
  emu = started;
  client = createSecretManagerClient(emu.host);
});
afterAll(() => client.close());

let clock: ManualClock;
let source: SecretManagerTokenSource | null = null;
let t: TestApp | null = null;
const logs: string[] = [];
beforeEach(() => {
  clock = new ManualClock();
  logs.length = 0;
});
afterEach(async () => {
  await source?.close();
  source = null;
  await t?.close();
  t = null;
});

async function start(options: { refreshMs?: number; refuseWeakTokens?: boolean } = {}) {
  source = await createSecretManagerTokenSource({
    versions: secretManagerVersions(client, 2_000),
    secret: WEBHOOK_TOKEN_SECRET,
    refreshMs: options.refreshMs ?? 300_000,
    refuseWeakTokens: options.refuseWeakTokens ?? false,
    // Retries of a first read that failed come quickly here, so a test sees several without waiting.
    startBackoff: exponentialBackoff({ baseMs: 20, maxMs: 80 }),
    clock,
    logger: createLogger('info', logSinkStream(logs)),
  });
  t = await startTestApp({ webhookTokens: source });
  return { source, t };
}

async function addVersion(token: string) {
  await client.addSecretVersion({
    parent: WEBHOOK_TOKEN_SECRET,
    payload: { data: Buffer.from(`${token}\n`) },
  });
}

/** A version holding exactly `payload`, without the newline `echo` adds. */
async function addRawVersion(payload: string) {
  await client.addSecretVersion({ parent: WEBHOOK_TOKEN_SECRET, payload: { data: Buffer.from(payload) } });
}

const disable = (version: number) =>
  client.disableSecretVersion({ name: `${WEBHOOK_TOKEN_SECRET}/versions/${version}` });

async function alertWith(token: string): Promise<number> {
  const response = await t!.app.server.inject({
    method: 'POST',
    url: webhookUrl(token),
    payload: burnRateAlert(),
  });
  return response.statusCode;
}

async function readiness() {
  const response = await t!.app.server.inject({ method: 'GET', url: '/readyz' });
  return { status: response.statusCode, webhookTokens: response.json().checks.webhookTokens };
}

describe('webhook tokens from Secret Manager (real client, emulated API)', () => {
  it('accepts the old token during the overlap and refuses it once its version is disabled', async () => {
    const { source } = await start();
    expect(await alertWith(FIXTURE_WEBHOOK_TOKEN)).toBe(202);

    await addVersion(ROTATED[0]);
    await source.refresh();
    expect(await alertWith(ROTATED[0])).toBe(202);
    expect(await alertWith(FIXTURE_WEBHOOK_TOKEN)).toBe(202);

    await disable(1);
    await source.refresh();
    expect(await alertWith(FIXTURE_WEBHOOK_TOKEN)).toBe(401);
    expect(await alertWith(ROTATED[0])).toBe(202);
  });

  it('accepts only the two newest enabled versions', async () => {
    await addVersion(ROTATED[0]);
    await addVersion(ROTATED[1]);
    const { source } = await start();
    expect(source.tokens()).toEqual([ROTATED[1], ROTATED[0]]);
    expect(await alertWith(FIXTURE_WEBHOOK_TOKEN)).toBe(401);
    await disable(3);
    await source.refresh();
    expect(source.tokens()).toEqual([ROTATED[0], FIXTURE_WEBHOOK_TOKEN]);
  });

  it('accepts a token added to the secret on its first use, reading the secret at most once per 10 s', async () => {
    await start();
    const lists = () => emu.calls.count('ListSecretVersions');
    const listedAtStart = lists();

    await addVersion(ROTATED[0]);
    // The unknown token makes the source read the secret again, and the check is made once more.
    expect(await alertWith(ROTATED[0])).toBe(202);
    expect(lists()).toBe(listedAtStart + 1);

    // A guesser cannot make every request a Secret Manager read.
    await addVersion(ROTATED[1]);
    for (let i = 0; i < 5; i++) expect(await alertWith(ROTATED[1])).toBe(401);
    expect(lists()).toBe(listedAtStart + 1);

    clock.advance(10_000);
    expect(await alertWith(ROTATED[1])).toBe(202);
    expect(lists()).toBe(listedAtStart + 2);
  });

  it('picks up a new version on its own refresh interval', async () => {
    await start({ refreshMs: 20 });
    await addVersion(ROTATED[0]);
    await expect.poll(() => source!.tokens(), { timeout: 2_000 }).toContain(ROTATED[0]);
  });

  it('keeps serving the cached tokens while Secret Manager is down, and says so in /readyz', async () => {
    const { source } = await start();
    emu.faults.inject({ kind: 'unavailable', method: 'ListSecretVersions', times: 'until-cleared' });
    await source.refresh();

    expect(await alertWith(FIXTURE_WEBHOOK_TOKEN)).toBe(202);
    const down = await readiness();
    expect(down.status).toBe(200);
    expect(down.webhookTokens.ok).toBe(false);
    expect(down.webhookTokens.detail).toMatch(
      /Secret Manager unreachable since .*serving 1 cached token\(s\)/,
    );
    expect(
      logs.some((line) => line.includes('"level":40') && line.includes('Secret Manager unreachable')),
    ).toBe(true);

    emu.faults.clear();
    await source.refresh();
    const up = await readiness();
    expect(up.webhookTokens).toMatchObject({ ok: true });
    expect(up.webhookTokens.detail).toContain(`${WEBHOOK_TOKEN_SECRET} versions 1`);
  });

  it('starts while Secret Manager is down, unready, and retries with backoff until it reads the tokens', async () => {
    emu.faults.inject({ kind: 'unavailable', method: 'ListSecretVersions', times: 'until-cleared' });
    await start();
    expect(source!.tokens()).toEqual([]);
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.webhookTokens.ok).toBe(false);
    expect(down.webhookTokens.detail).toMatch(/never read.*UNAVAILABLE.*secretAccessor/s);
    expect(await alertWith(FIXTURE_WEBHOOK_TOKEN)).toBe(401);
    // Backing off, not giving up: several reads while the outage lasts.
    await expect.poll(() => emu.calls.count('ListSecretVersions'), { timeout: 2_000 }).toBeGreaterThan(3);

    emu.faults.clear();
    await expect.poll(() => source!.tokens(), { timeout: 2_000 }).toEqual([FIXTURE_WEBHOOK_TOKEN]);
    const up = await readiness();
    expect(up.status).toBe(200);
    expect(up.webhookTokens.ok).toBe(true);
    expect(await alertWith(FIXTURE_WEBHOOK_TOKEN)).toBe(202);
    const retries = emu.calls.count('ListSecretVersions');
    await sleep(200);
    // Once read, the start-up retries stop; only the refresh interval reads again.
    expect(emu.calls.count('ListSecretVersions')).toBe(retries);
  });

  it('stops retrying when closed before Secret Manager came back', async () => {
    emu.faults.inject({ kind: 'unavailable', method: 'ListSecretVersions', times: 'until-cleared' });
    await start();
    await source!.close();
    const calls = emu.calls.count('ListSecretVersions');
    await sleep(200);
    expect(emu.calls.count('ListSecretVersions')).toBe(calls);
  });

  it('skips empty and whitespace versions, serving the newest usable ones', async () => {
    await addVersion(ROTATED[0]);
    await addRawVersion('');
    await addRawVersion(' \n\t ');
    const { source } = await start();
    expect(source.tokens()).toEqual([ROTATED[0], FIXTURE_WEBHOOK_TOKEN]);
    expect(await alertWith(FIXTURE_WEBHOOK_TOKEN)).toBe(202);
    expect(await alertWith(ROTATED[0])).toBe(202);
    expect((await readiness()).status).toBe(200);
    for (const version of [3, 4]) {
      expect(
        logs.some(
          (line) =>
            line.includes('webhook token version refused') &&
            line.includes(`"version":${version}`) &&
            line.includes('is empty'),
        ),
      ).toBe(true);
    }
  });

  it('skips a version too long to send and one with characters a sender cannot present', async () => {
    await addVersion(HUGE_TOKEN);
    await addVersion(SPACED_TOKEN);
    const { source } = await start();
    expect(source.tokens()).toEqual([FIXTURE_WEBHOOK_TOKEN]);
    expect(await alertWith(FIXTURE_WEBHOOK_TOKEN)).toBe(202);
    expect(logs.some((line) => line.includes('"version":2') && line.includes('at most 512'))).toBe(true);
    expect(logs.some((line) => line.includes('"version":3') && line.includes('whitespace'))).toBe(true);
  });

  it('turns /readyz 503, saying why, when no version holds a usable token', async () => {
    await addRawVersion('');
    await addRawVersion('   ');
    await disable(1);
    const { source } = await start();
    expect(source.tokens()).toEqual([]);
    const ready = await readiness();
    expect(ready.status).toBe(503);
    expect(ready.webhookTokens.ok).toBe(false);
    expect(ready.webhookTokens.detail).toMatch(
      /no usable webhook token.*version 3 is empty.*version 2 is empty/s,
    );

    await addVersion(ROTATED[0]);
    await source.refresh();
    expect((await readiness()).status).toBe(200);
  });

  it('skips, in production, a version holding a weak token, and trims the newline echo leaves', async () => {
    await addVersion(SHORT_TOKEN);
    const { source } = await start({ refuseWeakTokens: true });
    expect(source.tokens()).toEqual([FIXTURE_WEBHOOK_TOKEN]);
    expect(
      logs.some((line) => line.includes('webhook token version refused') && line.includes('"version":2')),
    ).toBe(true);
  });

  it('is what LASTGOOD_WEBHOOK_TOKEN_SECRET configures, through SECRET_MANAGER_EMULATOR_HOST', async () => {
    const config = loadConfig(
      {
        LASTGOOD_CONFIG: 'x.yaml',
        LASTGOOD_WEBHOOK_TOKEN_SECRET: WEBHOOK_TOKEN_SECRET,
        SECRET_MANAGER_EMULATOR_HOST: emu.host,
      },
      () => EXAMPLE_POLICY,
    );
    const tokens = await createWebhookTokens(config, clock, createLogger('info', logSinkStream(logs)));
    try {
      expect(tokens.source.tokens()).toEqual([FIXTURE_WEBHOOK_TOKEN]);
    } finally {
      await tokens.close();
    }
  });

  it('never logs a token value', async () => {
    await addVersion(ROTATED[0]);
    const { source } = await start();
    await source.refresh();
    expect(logs.join('\n')).toContain('webhook tokens loaded');
    for (const token of [FIXTURE_WEBHOOK_TOKEN, ...ROTATED]) expect(logs.join('\n')).not.toContain(token);
  });
});
