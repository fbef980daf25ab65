import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/store.ts';
import { storeContract } from './contract.ts';

storeContract('SQLite', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lastgood-store-'));
  let store: Store = await openStore({ dataDir, databaseUrl: null });
  return {
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = await openStore({ dataDir, databaseUrl: null });
      return store;
    },
    async sql(statement, params = []) {
      // A second connection, as an intruder with the file would have; WAL lets it write beside the store's.
      const db = new DatabaseSync(join(dataDir, 'lastgood.db'));
      try {
        db.prepare(statement).run(...params);
      } finally {
        db.close();
      }
    },
    async rowCounts() {
      const db = new DatabaseSync(join(dataDir, 'lastgood.db'), { readOnly: true });
      try {
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
        return Object.fromEntries(
          tables.map(({ name }) => [
            String(name),
            Number(db.prepare(`SELECT count(*) AS n FROM "${String(name)}"`).get()?.n),
          ]),
        );
      } finally {
        db.close();
      }
    },
    async destroy() {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});
