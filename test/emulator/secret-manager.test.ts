import type { v1 } from '@google-cloud/secret-manager';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { crc32c } from '../../src/emulator/secret-manager.ts';
import { createSecretManagerClient } from '../../src/targets/google-clients.ts';
import { startExampleEmulator } from './helpers.ts';

const SECRET = 'projects/demo-project/secrets/lastgood-webhook-token';
const FIXTURE_TOKEN = 'demo-webhook-token-0123456789abcdef0123456789';

let emu: Emulator;
let secrets: v1.SecretManagerServiceClient;

beforeAll(async () => {
  emu = await startExampleEmulator();
  secrets = createSecretManagerClient(emu.host);
});

afterAll(async () => {
  await secrets.close();
  await emu.stop();
});

beforeEach(() => emu.reset());

async function access(version: string): Promise<string> {
  const [response] = await secrets.accessSecretVersion(
    { name: `${SECRET}/versions/${version}` },
    { retry: null },
  );
  return Buffer.from(response.payload?.data ?? '').toString('utf8');
}

async function addVersion(text: string) {
  const [version] = await secrets.addSecretVersion({ parent: SECRET, payload: { data: Buffer.from(text) } });
  return version;
}

describe('Secret Manager v1 emulator through the real @google-cloud/secret-manager client', () => {
  it('returns the payload of a version by number and through latest, with its CRC32C', async () => {
    const [response] = await secrets.accessSecretVersion({ name: `${SECRET}/versions/latest` });

    expect(response.name).toBe(`${SECRET}/versions/1`);
    expect(Buffer.from(response.payload?.data ?? '').toString('utf8')).toBe(FIXTURE_TOKEN);
    expect(Number(response.payload?.dataCrc32c)).toBe(crc32c(Buffer.from(FIXTURE_TOKEN)));
    expect(await access('1')).toBe(FIXTURE_TOKEN);
  });

  it('computes the standard CRC32C check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('adds a version that latest then resolves to, and lists versions newest first with their states', async () => {
    const added = await addVersion('rotated-token');
    await secrets.disableSecretVersion({ name: `${SECRET}/versions/1` });

    expect(added).toMatchObject({ name: `${SECRET}/versions/2`, state: 'ENABLED' });
    expect(await access('latest')).toBe('rotated-token');
    const [versions] = await secrets.listSecretVersions({ parent: SECRET });
    expect(versions.map((version) => [version.name, version.state])).toEqual([
      [`${SECRET}/versions/2`, 'ENABLED'],
      [`${SECRET}/versions/1`, 'DISABLED'],
    ]);
  });

  it('refuses to access a disabled version, and latest when the newest version is the disabled one', async () => {
    await addVersion('rotated-token');
    await secrets.disableSecretVersion({ name: `${SECRET}/versions/2` });

    await expect(access('2')).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    await expect(access('latest')).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    expect(await access('1')).toBe(FIXTURE_TOKEN);

    await secrets.enableSecretVersion({ name: `${SECRET}/versions/2` });
    expect(await access('latest')).toBe('rotated-token');
  });

  it('refuses a state change with a stale etag as ABORTED', async () => {
    const [version] = await secrets.getSecretVersion({ name: `${SECRET}/versions/1` });
    await secrets.disableSecretVersion({ name: `${SECRET}/versions/1` });

    await expect(
      secrets.enableSecretVersion({ name: `${SECRET}/versions/1`, etag: version.etag ?? '' }),
    ).rejects.toMatchObject({ code: status.ABORTED });
    expect(emu.state.secretManager.secret(SECRET)?.versions[0]?.state).toBe('DISABLED');
  });

  it('checks a payload checksum sent with a new version', async () => {
    const data = Buffer.from('checked-token');

    await expect(
      secrets.addSecretVersion({ parent: SECRET, payload: { data, dataCrc32c: crc32c(data) + 1 } }),
    ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await secrets.addSecretVersion({ parent: SECRET, payload: { data, dataCrc32c: crc32c(data) } });
    expect(await access('latest')).toBe('checked-token');
  });

  it('answers NOT_FOUND for an unknown secret or version and INVALID_ARGUMENT for a malformed name', async () => {
    await expect(access('7')).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(secrets.getSecret({ name: `${SECRET}-old` })).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
    await expect(access('newest')).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('gets the secret itself', async () => {
    const [secret] = await secrets.getSecret({ name: SECRET });

    expect(secret.name).toBe(SECRET);
    expect(secret.etag).toMatch(/^".+"$/);
  });

  it('answers UNAVAILABLE for the next N calls, then serves again', async () => {
    emu.faults.inject({ kind: 'unavailable', method: 'AccessSecretVersion', times: 2 });

    await expect(access('latest')).rejects.toMatchObject({ code: status.UNAVAILABLE });
    await expect(access('latest')).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(await access('latest')).toBe(FIXTURE_TOKEN);
  });

  it('stays down until the outage is cleared', async () => {
    emu.faults.inject({ kind: 'unavailable', method: 'ListSecretVersions', times: 'until-cleared' });

    for (let attempt = 0; attempt < 3; attempt++) {
      await expect(secrets.listSecretVersions({ parent: SECRET })).rejects.toMatchObject({
        code: status.UNAVAILABLE,
      });
    }
    emu.faults.clear();
    const [versions] = await secrets.listSecretVersions({ parent: SECRET });
    expect(versions).toHaveLength(1);
  });

  it('keeps payloads out of the state snapshot and the call log', async () => {
    await addVersion('never-logged-token');

    expect(JSON.stringify(emu.state.snapshot())).not.toContain('never-logged-token');
    expect(JSON.stringify(emu.calls.list())).not.toContain('never-logged-token');
    expect(emu.state.secretManager.secret(SECRET)?.versions[0]?.bytes).toBe('never-logged-token'.length);
  });
});
