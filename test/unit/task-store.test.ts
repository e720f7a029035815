import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { SqliteTaskStore, TASK_MIGRATIONS, openSqliteTaskStore } from '../../src/hub/tasks/sqlite-task-store.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { taskStoreConformance } from './task-store-conformance.ts';
import { openInTempDir, tempDirEach, type TempDirContext } from './test-helpers.ts';

taskStoreConformance('sqlite file', () => openInTempDir('cla-tasks-', openSqliteTaskStore)).run();

taskStoreConformance('sqlite :memory: beside the main store', () => {
  // The way the hub may share one connection: the main store's `db`, tables of its own.
  const main = openSqliteStore(':memory:');
  const store = new SqliteTaskStore(main.db);
  return { store, cleanup: () => main.close() };
}).run();

const sqlite = suite<TempDirContext>('sqlite task store specifics', { dir: '', cleanup: () => {} });
tempDirEach(sqlite, 'cla-tasks-');

sqlite('tasks survive reopening; two connections (hub and CLI) see each other', ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const hub = openSqliteTaskStore(file);
  const cli = openSqliteTaskStore(file, { mustExist: true });
  cli.insert({ id: 'a', name: 'echo', attrs: {}, data: 1, createdAt: 1, deadlineMs: 1000, maxAttempts: 1 });
  assert.is(hub.get('a')!.state, 'pending');
  assert.is(hub.lastSeq(), 1);
  cli.close();
  hub.close();
  const again = openSqliteTaskStore(file);
  assert.is(again.get('a')!.data, 1);
  again.close();
});

sqlite('the task tables sit beside the main schema without touching its migrations', ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const main = openSqliteStore(file);
  const version = main.db.pragma('user_version', { simple: true });
  const tasks = new SqliteTaskStore(main.db);
  assert.is(main.db.pragma('user_version', { simple: true }), version);
  assert.is(main.db.prepare('SELECT version FROM task_schema').pluck().get(), TASK_MIGRATIONS.length);
  tasks.close();
  assert.ok(main.db.open, 'a store that does not own the connection leaves it open');
  main.close();
});

sqlite('a newer task schema is refused; a missing file is refused when it must exist', ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const db = new Database(file);
  db.exec('CREATE TABLE task_schema (version INTEGER NOT NULL); INSERT INTO task_schema VALUES (99)');
  assert.throws(() => new SqliteTaskStore(db), (error: unknown) => error instanceof ClaError && error.code === 'UNSUPPORTED');
  db.close();
  assert.throws(() => openSqliteTaskStore(path.join(dir, 'missing.db'), { mustExist: true }), (error: unknown) => error instanceof ClaError && error.code === 'CONFIG_MISSING');
  assert.not.ok(fs.existsSync(path.join(dir, 'missing.db')));
});

sqlite.run();
