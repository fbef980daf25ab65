import type { v1 } from '@google-cloud/secret-manager';
import { status } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { crc32c } from '../../src/emulator/secret-manager.ts';
import { createSecretManagerClient } from '../../src/targets/google-clients.ts';
import { FIXTURE_WEBHOOK_TOKEN, useExampleEmulator, WEBHOOK_TOKEN_SECRET } from '../helpers/emulator.ts';

let emu: Emulator;
let secrets: v1.SecretManagerServiceClient;

useExampleEmulator((started) => {
  emu = started;
  secrets = createSecretManagerClient(emu.host);
});
afterAll(() => secrets.close());

async function access(version: string): Promise<string> {
  const [response] = await secrets.accessSecretVersion(
    { name: `${WEBHOOK_TOKEN_SECRET}/versions/${version}` },
    { retry: null },
  );
  return Buffer.from(response.payload?.data ?? '').toString('utf8');
}

async function addVersion(text: string) {
  const [version] = await secrets.addSecretVersion({
    parent: WEBHOOK_TOKEN_SECRET,
    payload: { data: Buffer.from(text) },
  });
  return version;
}

describe('Secret Manager v1 emulator through the real @google-cloud/secret-manager client', () => {
  it('returns the payload of a version by number and through latest, with its CRC32C', async () => {
    const [response] = await secrets.accessSecretVersion({ name: `${WEBHOOK_TOKEN_SECRET}/versions/latest` });

    expect(response.name).toBe(`${WEBHOOK_TOKEN_SECRET}/versions/1`);
    expect(Buffer.from(response.payload?.data ?? '').toString('utf8')).toBe(FIXTURE_WEBHOOK_TOKEN);
    expect(Number(response.payload?.dataCrc32c)).toBe(crc32c(Buffer.from(FIXTURE_WEBHOOK_TOKEN)));
    expect(await access('1')).toBe(FIXTURE_WEBHOOK_TOKEN);
  });

  it('computes the standard CRC32C check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('adds a version that latest then resolves to, and lists versions newest first with their states', async () => {
    const added = await addVersion('rotated-token');
    await secrets.disableSecretVersion({ name: `${WEBHOOK_TOKEN_SECRET}/versions/1` });

    expect(added).toMatchObject({ name: `${WEBHOOK_TOKEN_SECRET}/versions/2`, state: 'ENABLED' });
    expect(await access('latest')).toBe('rotated-token');
    const [versions] = await secrets.listSecretVersions({ parent: WEBHOOK_TOKEN_SECRET });
    expect(versions.map((version) => [version.name, version.state])).toEqual([
      [`${WEBHOOK_TOKEN_SECRET}/versions/2`, 'ENABLED'],
      [`${WEBHOOK_TOKEN_SECRET}/versions/1`, 'DISABLED'],
    ]);
  });

  it('refuses to access a disabled version, and latest when the newest version is the disabled one', async () => {
    await addVersion('rotated-token');
    await secrets.disableSecretVersion({ name: `${WEBHOOK_TOKEN_SECRET}/versions/2` });

    await expect(access('2')).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    await expect(access('latest')).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    expect(await access('1')).toBe(FIXTURE_WEBHOOK_TOKEN);

    await secrets.enableSecretVersion({ name: `${WEBHOOK_TOKEN_SECRET}/versions/2` });
    expect(await access('latest')).toBe('rotated-token');
  });

  it('refuses a state change with a stale etag as ABORTED', async () => {
    const [version] = await secrets.getSecretVersion({ name: `${WEBHOOK_TOKEN_SECRET}/versions/1` });
    await secrets.disableSecretVersion({ name: `${WEBHOOK_TOKEN_SECRET}/versions/1` });

    await expect(
      secrets.enableSecretVersion({ name: `${WEBHOOK_TOKEN_SECRET}/versions/1`, etag: version.etag ?? '' }),
    ).rejects.toMatchObject({ code: status.ABORTED });
    expect(emu.state.secretManager.secret(WEBHOOK_TOKEN_SECRET)?.versions[0]?.state).toBe('DISABLED');
  });

  it('checks a payload checksum sent with a new version', async () => {
    const data = Buffer.from('checked-token');

    await expect(
      secrets.addSecretVersion({
        parent: WEBHOOK_TOKEN_SECRET,
        payload: { data, dataCrc32c: crc32c(data) + 1 },
      }),
    ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await secrets.addSecretVersion({
      parent: WEBHOOK_TOKEN_SECRET,
      payload: { data, dataCrc32c: crc32c(data) },
    });
    expect(await access('latest')).toBe('checked-token');
  });

  it('answers NOT_FOUND for an unknown secret or version and INVALID_ARGUMENT for a malformed name', async () => {
    await expect(access('7')).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(secrets.getSecret({ name: `${WEBHOOK_TOKEN_SECRET}-old` })).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
    await expect(access('newest')).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('gets the secret itself', async () => {
    const [secret] = await secrets.getSecret({ name: WEBHOOK_TOKEN_SECRET });

    expect(secret.name).toBe(WEBHOOK_TOKEN_SECRET);
    expect(secret.etag).toMatch(/^".+"$/);
  });

  it('answers UNAVAILABLE for the next N calls, then serves again', async () => {
    emu.faults.inject({ kind: 'unavailable', method: 'AccessSecretVersion', times: 2 });

    await expect(access('latest')).rejects.toMatchObject({ code: status.UNAVAILABLE });
    await expect(access('latest')).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(await access('latest')).toBe(FIXTURE_WEBHOOK_TOKEN);
  });

  it('stays down until the outage is cleared', async () => {
    emu.faults.inject({ kind: 'unavailable', method: 'ListSecretVersions', times: 'until-cleared' });

    for (let attempt = 0; attempt < 3; attempt++) {
      await expect(secrets.listSecretVersions({ parent: WEBHOOK_TOKEN_SECRET })).rejects.toMatchObject({
        code: status.UNAVAILABLE,
      });
    }
    emu.faults.clear();
    const [versions] = await secrets.listSecretVersions({ parent: WEBHOOK_TOKEN_SECRET });
    expect(versions).toHaveLength(1);
  });

  it('keeps payloads out of the state snapshot and the call log', async () => {
    await addVersion('never-logged-token');

    expect(JSON.stringify(emu.state.snapshot())).not.toContain('never-logged-token');
    expect(JSON.stringify(emu.calls.list())).not.toContain('never-logged-token');
    expect(emu.state.secretManager.secret(WEBHOOK_TOKEN_SECRET)?.versions[0]?.bytes).toBe(
      'never-logged-token'.length,
    );
  });
});
