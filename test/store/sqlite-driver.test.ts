import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/errors.ts';
import type { SqlDriver } from '../../src/store/driver.ts';
import { openSqliteDriver, type SyncFile } from '../../src/store/sqlite.ts';
import { until } from '../helpers/poll.ts';

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

  it('rolls back a failing transaction that was alone in its batch, and commits the next', async () => {
    const failed = driver.transaction(async (tx) => {
      await insert('discarded')(tx);
      throw new Error('this transaction fails after writing');
    });
    await expect(failed).rejects.toThrow('this transaction fails after writing');
    await expect(driver.transaction(insert('next'))).resolves.toBe(1);
    expect(await namesOnDisk()).toEqual(['next']);
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

/** A WAL sync the test controls: it passes until `hold()`, then waits for `release()`; `fail()` fails the next. */
function controlledSync() {
  let holding = false;
  let failing = false;
  const held: (() => void)[] = [];
  const control = {
    started: 0,
    sync: (async () => {
      control.started += 1;
      if (failing) {
        failing = false;
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      }
      if (holding) await new Promise<void>((resolve) => held.push(resolve));
    }) satisfies SyncFile,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const resolve of held.splice(0)) resolve();
    },
    fail: () => {
      failing = true;
    },
  };
  return control;
}

/** A promise's state as of now, after everything already queued has run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('SQLite durability: the WAL is synced off the main thread', () => {
  let synced: SqlDriver;
  let sync: ReturnType<typeof controlledSync>;
  beforeEach(async () => {
    await driver.close();
    sync = controlledSync();
    synced = openSqliteDriver(dataDir, sync.sync);
    driver = synced;
  });

  it('answers a transaction only once a WAL sync started after its commit has finished', async () => {
    sync.hold();
    const answer = synced.transaction(insert('a'));
    await until(async () => (await namesOnDisk()).includes('a'), 'the commit');
    expect(await settled(answer)).toBe(false);
    sync.release();
    await expect(answer).resolves.toBe(1);
  });

  it('returns a read that may see a commit only once that commit is synced', async () => {
    sync.hold();
    void synced.transaction(insert('b'));
    await until(async () => (await namesOnDisk()).includes('b'), 'the commit');
    const read = synced.all('SELECT name FROM items');
    expect(await settled(read)).toBe(false);
    sync.release();
    expect((await read).map((row) => row.name)).toEqual(['b']);
  });

  it('answers a transaction that failed alone in its batch only once what it could read is synced', async () => {
    sync.hold();
    void synced.transaction(insert('h'));
    await until(async () => (await namesOnDisk()).includes('h'), 'the commit');
    const refused = synced.transaction(async (tx) => {
      await tx.all('SELECT name FROM items');
      throw new Error('refused after reading');
    });
    expect(await settled(refused)).toBe(false);
    sync.release();
    await expect(refused).rejects.toThrow('refused after reading');
  });

  it('makes the commits made while one sync runs durable with one more sync, not one each', async () => {
    sync.hold();
    const first = synced.transaction(insert('c'));
    await until(() => sync.started === 1, 'the first sync');
    const later = [synced.transaction(insert('d'))];
    await settled(later[0]!);
    later.push(synced.transaction(insert('e')));
    await until(async () => (await namesOnDisk()).includes('e'), 'the later commits');
    expect(sync.started).toBe(1);
    sync.release();
    await expect(Promise.all([first, ...later])).resolves.toEqual([1, 1, 1]);
    expect(sync.started).toBe(2);
  });

  it('fails the transaction whose sync failed as an unwritable store, and every one after it', async () => {
    sync.fail();
    const failed = await synced.transaction(insert('f')).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(StoreUnavailableError);
    expect((failed as StoreUnavailableError).reason).toMatch(/^SQLITE_IOERR \(.*fdatasync.*EIO/);
    // A later sync may succeed without the failed one's pages on disk: nothing after it is acknowledged.
    await expect(synced.transaction(insert('g'))).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(synced.all('SELECT name FROM items')).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
