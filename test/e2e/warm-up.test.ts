import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { openStore } from '../../src/store/index.ts';
import { startExampleEmulator } from '../helpers/emulator.ts';
import { until } from '../helpers/poll.ts';
import { type LastgoodProcess, startLastgood } from '../helpers/process.ts';

const READS = ['GetService', 'ListRevisions', 'GetDeliveryPipeline', 'ListTimeSeries'];

/** Rows per table of the SQLite store in `dataDir`. */
function rowCounts(dataDir: string): Record<string, number> {
  const db = new DatabaseSync(join(dataDir, 'lastgood.db'), { readOnly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    return Object.fromEntries(
      tables.map(({ name }) => [
        name,
        Number((db.prepare(`SELECT count(*) AS n FROM "${name}"`).get() as { n: number }).n),
      ]),
    );
  } finally {
    db.close();
  }
}

let emulator: Emulator | null = null;
let lastgood: LastgoodProcess | null = null;
afterEach(async () => {
  await lastgood?.dispose();
  await emulator?.stop();
});

describe('a real lastgood process warms up once ready', () => {
  it('reads each Google client once and parses a made-up alert, writing no row and changing nothing', async () => {
    emulator = await startExampleEmulator({ adminPort: null });
    const dataDir = mkdtempSync(join(tmpdir(), 'lastgood-warm-up-'));
    const fresh = mkdtempSync(join(tmpdir(), 'lastgood-warm-up-fresh-'));
    await (await openStore({ dataDir: fresh, databaseUrl: null })).close();

    lastgood = await startLastgood({
      name: 'warm-up',
      env: {
        LASTGOOD_DATA_DIR: dataDir,
        CLOUD_RUN_EMULATOR_HOST: emulator.host,
        CLOUD_DEPLOY_EMULATOR_HOST: emulator.host,
        MONITORING_EMULATOR_HOST: emulator.host,
      },
    });
    await lastgood.waitReady();
    const server = lastgood;
    await until(() => server.output().includes('"Google clients warmed"'), 'the warm-up to finish');
    await server.dispose();

    expect(server.output()).not.toContain('could not warm');
    expect(emulator.calls.list().map((call) => call.method)).toEqual(expect.arrayContaining(READS));
    expect(emulator.calls.list().filter((call) => !READS.includes(call.method))).toEqual([]);
    // The same rows as a store that no process has run on: the made-up alert was parsed, never stored.
    expect(rowCounts(dataDir)).toEqual(rowCounts(fresh));
  });
});
