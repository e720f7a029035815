import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { MemoryTaskStore, MemoryTaskTables } from '../../src/hub/tasks/memory-task-store.ts';
import { SqliteTaskStore, openSqliteTaskStore } from '../../src/hub/tasks/sqlite-task-store.ts';
import { appliedSteps } from '../../src/store/migrations.ts';
import { TASK_STEPS } from '../../src/store/schema-steps.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { taskStoreConformance } from './task-store-conformance.ts';
import { tempDir, tempDirEach, type TempDirContext } from './test-helpers.ts';
import { decodeValue, encodeValue } from '../../src/protocol/codec.ts';

taskStoreConformance('sqlite file (one connection per hub)', () => {
  const { dir, cleanup } = tempDir('cla-tasks-');
  return { open: (hubId) => openSqliteTaskStore(path.join(dir, 'hub.db'), { hubId }), cleanup };
}).run();

taskStoreConformance('sqlite :memory: beside the main store', () => {
  // The way the hub may share one connection: the main store's `db`, tables of its own.
  const main = openSqliteStore(':memory:');
  return { open: (hubId) => new SqliteTaskStore(main.db, { hubId }), cleanup: () => main.close() };
}).run();

taskStoreConformance('memory', () => {
  const tables = new MemoryTaskTables();
  return { open: (hubId) => new MemoryTaskStore(tables, { hubId }), cleanup: () => undefined };
}).run();

const sqlite = suite<TempDirContext>('sqlite task store specifics', { dir: '', cleanup: () => {} });
tempDirEach(sqlite, 'cla-tasks-');

const newTask = (id: string) => ({ id, name: 'echo', attrs: {}, data: encodeValue(1), createdAt: 1, deadlineMs: 1000, maxAttempts: 1 });

sqlite('tasks survive reopening; two connections (hub and CLI) see each other', async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const hub = openSqliteTaskStore(file);
  const cli = openSqliteTaskStore(file, { mustExist: true });
  await cli.insert(newTask('a'));
  assert.is((await hub.get('a'))!.state, 'pending');
  assert.is(await hub.lastSeq(), 1);
  await cli.close();
  await hub.close();
  const again = openSqliteTaskStore(file);
  assert.is(decodeValue((await again.get('a'))!.data), 1);
  await again.close();
});

sqlite('group commit: the writes of one turn are one commit, acknowledged only once committed', async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const hub = openSqliteTaskStore(file);
  const reader = new Database(file, { readonly: true });
  // The transactions the group commit committed on the hub's connection.
  const before = hub.commits;
  let acknowledged = 0;
  const writes = Array.from({ length: 200 }, (_, i) => hub.insert(newTask(`t${i}`)).then((ok) => ok && acknowledged++));
  assert.is(acknowledged, 0);
  assert.is(reader.prepare('SELECT COUNT(*) FROM tasks').pluck().get(), 0, 'nothing is visible before the commit');
  await Promise.all(writes);
  assert.is(acknowledged, 200);
  assert.is(reader.prepare('SELECT COUNT(*) FROM tasks').pluck().get(), 200, 'everything acknowledged is committed');
  assert.is(hub.commits - before, 1, '200 inserts in one turn, one transaction');
  reader.close();
  await hub.close();
});

sqlite('group commit: a failing operation rejects alone; the rest of its turn commits', async ({ dir }) => {
  const store = openSqliteTaskStore(path.join(dir, 'hub.db'));
  const bad = { ...newTask('bad'), data: {} as Uint8Array }; // SQLite binds no object: this insert throws
  const results = await Promise.allSettled([store.insert(newTask('a')), store.insert(bad), store.insert(newTask('b'))]);
  assert.equal(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.equal((await store.list({ limit: 10 })).map((r) => r.id), ['b', 'a']);
  await store.close();
});

sqlite('a file from before owners were kept is upgraded in place; its leases count as this hub\'s', async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const db = new Database(file);
  db.exec('CREATE TABLE task_schema (version INTEGER NOT NULL); INSERT INTO task_schema VALUES (1)');
  db.exec(TASK_STEPS[0]!.sql);
  db.prepare(
    `INSERT INTO tasks (id, name, attrs, data, state, attempts, max_attempts, worker, lease, expires_at, deadline_ms, deadline_at, created_at, updated_at)
     VALUES ('old', 'echo', '{}', '1', 'claimed', 1, 3, 'w1', 'L-old', 99999, 1000, 2000, 1, 1)`,
  ).run();
  db.close();
  const store = openSqliteTaskStore(file, { hubId: 'any-hub' });
  assert.is((await store.get('old'))!.owner, null);
  assert.is(decodeValue((await store.get('old'))!.data), 1, 'its JSON data is msgpack now');
  assert.is(await store.recover(10), 1);
  assert.is((await store.get('old'))!.state, 'pending');
  await store.close();
  const check = new Database(file, { readonly: true });
  assert.equal(appliedSteps(check).filter((s) => s.part === 'tasks').map((s) => s.name), TASK_STEPS.map((s) => s.name));
  check.close();
});

sqlite('the task tables sit beside the main schema, migrated by the one runner', async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const main = openSqliteStore(file);
  const before = appliedSteps(main.db);
  const tasks = new SqliteTaskStore(main.db);
  assert.equal(appliedSteps(main.db), before, 'opening the task store on a current file changes nothing');
  assert.equal(before.filter((s) => s.part === 'tasks').map((s) => s.name), TASK_STEPS.map((s) => s.name));
  await tasks.close();
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
