import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqlDriver } from '../../src/store/driver.ts';
import { openSqliteDriver } from '../../src/store/sqlite.ts';

let dataDir: string;
let driver: SqlDriver;

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'lastgood-sqlite-driver-'));
  driver = openSqliteDriver(dataDir);
  await driver.exec('CREATE TABLE items (name TEXT PRIMARY KEY)');
});
afterEach(async () => {
  await driver.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const insert = (name: string) => (tx: SqlDriver) => tx.run('INSERT INTO items (name) VALUES (?)', [name]);

async function namesOnDisk(): Promise<string[]> {
  const reader = openSqliteDriver(dataDir);
  try {
    return (await reader.all('SELECT name FROM items ORDER BY name')).map((row) => String(row.name));
  } finally {
    await reader.close();
  }
}

describe('SQLite group commit', () => {
  it('commits transactions asked for together, each answered only once it is on disk', async () => {
    const answered = await Promise.all(['a', 'b', 'c'].map((name) => driver.transaction(insert(name))));
    expect(answered).toEqual([1, 1, 1]);
    expect(await namesOnDisk()).toEqual(['a', 'b', 'c']);
  });

  it('rolls back a failing transaction alone, keeping the others of its batch', async () => {
    const results = await Promise.allSettled([
      driver.transaction(insert('kept-1')),
      driver.transaction(async (tx) => {
        await insert('discarded')(tx);
        throw new Error('this transaction fails after writing');
      }),
      driver.transaction(insert('kept-2')),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await namesOnDisk()).toEqual(['kept-1', 'kept-2']);
  });

  it('lets each transaction see what the ones before it in the batch wrote', async () => {
    const [, seen] = await Promise.all([
      driver.transaction(insert('first')),
      driver.transaction(async (tx) => (await tx.all('SELECT name FROM items')).map((row) => row.name)),
    ]);
    expect(seen).toEqual(['first']);
  });

  it('commits transactions asked for before close()', async () => {
    const pending = driver.transaction(insert('before-close'));
    await driver.close();
    await expect(pending).resolves.toBe(1);
    driver = openSqliteDriver(dataDir);
    expect(await namesOnDisk()).toEqual(['before-close']);
  });
});
