// The ResourceStore conformance suite on every backend: SQLite (a file, and the main store's connection)
// and memory.
import path from 'node:path';
import Database from 'better-sqlite3';
import { MemoryResourceStore } from '../../src/hub/actions/memory-resource-store.ts';
import { SqliteResourceStore } from '../../src/hub/actions/sqlite-resource-store.ts';
import { setConcurrencyPragmas } from '../../src/store/sqlite-connection.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { resourceStoreConformance } from './resource-store-conformance.ts';
import { tempDir } from './test-helpers.ts';

resourceStoreConformance('sqlite file', () => {
  const { dir, cleanup } = tempDir('cla-resources-');
  const db = new Database(path.join(dir, 'hub.db'));
  setConcurrencyPragmas(db);
  return {
    store: new SqliteResourceStore(db),
    cleanup: () => {
      db.close();
      cleanup();
    },
  };
}).run();

resourceStoreConformance('sqlite :memory: beside the main store', () => {
  const main = openSqliteStore(':memory:');
  return { store: new SqliteResourceStore(main.db), cleanup: () => main.close() };
}).run();

resourceStoreConformance('memory', () => ({ store: new MemoryResourceStore(), cleanup: () => undefined })).run();
