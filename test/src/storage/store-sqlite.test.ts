import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteAsync } from '../../../src/storage/AsyncCallStore.js';
import { CallStore } from '../../../src/storage/CallStore.js';
import { openDatabase } from '../../../src/storage/database.js';
import { describeCallStore } from './storeSuite.js';

describeCallStore('SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sipscribe-store-'));
  const db = openDatabase(dir);
  return Promise.resolve({
    store: sqliteAsync(new CallStore(db)),
    dir,
    close: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
});
