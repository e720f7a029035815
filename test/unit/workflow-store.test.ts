// The WorkflowStore conformance suite on every backend: SQLite (a file with one connection per hub, and
// the main store's connection shared) and memory.
import path from 'node:path';
import Database from 'better-sqlite3';
import { MemoryWorkflowStore, MemoryWorkflowTables } from '../../src/hub/actions/memory-workflow-store.ts';
import { SqliteWorkflowStore } from '../../src/hub/actions/sqlite-workflow-store.ts';
import { setConcurrencyPragmas } from '../../src/store/sqlite-connection.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { tempDir } from './test-helpers.ts';
import { workflowStoreConformance } from './workflow-store-conformance.ts';

workflowStoreConformance('sqlite file (one connection per hub)', () => {
  const { dir, cleanup } = tempDir('cla-workflows-');
  const connections: Database.Database[] = [];
  return {
    open: (hubId) => {
      const db = new Database(path.join(dir, 'hub.db'));
      setConcurrencyPragmas(db);
      connections.push(db);
      return new SqliteWorkflowStore(db, { hubId });
    },
    cleanup: () => {
      for (const db of connections) db.close();
      cleanup();
    },
  };
}).run();

workflowStoreConformance('sqlite :memory: beside the main store', () => {
  const main = openSqliteStore(':memory:');
  return { open: (hubId) => new SqliteWorkflowStore(main.db, { hubId }), cleanup: () => main.close() };
}).run();

workflowStoreConformance('memory', () => {
  const tables = new MemoryWorkflowTables();
  return { open: (hubId) => new MemoryWorkflowStore(tables, { hubId }), cleanup: () => undefined };
}).run();
