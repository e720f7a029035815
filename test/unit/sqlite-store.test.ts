import fs from 'node:fs';
import Database from 'better-sqlite3';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { RUNNER_USER_VERSION, appliedSteps } from '../../src/store/migrations.ts';
import { REGISTRY_STEPS } from '../../src/store/schema-steps.ts';
import { setConcurrencyPragmas } from '../../src/store/sqlite-connection.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { SqliteTaskStore } from '../../src/hub/tasks/sqlite-task-store.ts';
import { storeConformance } from './store-conformance.ts';
import { openInTempDir, tempDirEach, type TempDirContext } from './test-helpers.ts';

storeConformance('sqlite file', () => openInTempDir('cla-store-', openSqliteStore)).run();

storeConformance('sqlite :memory:', () => {
  const store = openSqliteStore(':memory:');
  return { store, cleanup: () => store.close() };
}).run();

/** The schema of version 2 (before job owners), as a hub of that version left it. */
const V2 = REGISTRY_STEPS.slice(0, 2).map((step) => step.sql);

const sqlite = suite<TempDirContext>('sqlite specifics', { dir: '', cleanup: () => {} });
tempDirEach(sqlite, 'cla-store-');

sqlite('a connection is at WAL with synchronous NORMAL before its first write, as README documents', ({ dir }) => {
  // better-sqlite3's built-in WAL default (NORMAL) applies only once the WAL is in use: before the first
  // write on a new file, a connection that switched it to WAL still says FULL unless the level is set.
  const db = new Database(path.join(dir, 'new.db'));
  try {
    setConcurrencyPragmas(db);
    assert.is(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.is(db.pragma('synchronous', { simple: true }), 1);
  } finally {
    db.close();
  }
});

sqlite('reopening the file keeps the data', async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  let store = openSqliteStore(file);
  // Not awaited one by one: close() writes what is queued.
  void store.createProject({ name: 'A', passkey: 'pk', passkeyHash: 'a'.repeat(64), createdAt: 1 });
  void store.createWorker({ id: 'w1', tokenHash: 'b'.repeat(64), createdAt: 2 }, { project: 'A', at: 3 });
  void store.addEnv('QA');
  void store.setSetting('hub.url', 'ws://x');
  await store.close();
  store = openSqliteStore(file);
  try {
    assert.is((await store.getProject('A'))?.passkey, 'pk');
    assert.equal((await store.getWorker('w1'))?.projects, ['A']);
    assert.equal(await store.listEnvs(), ['QA']);
    assert.is(await store.getSetting('hub.url'), 'ws://x');
  } finally {
    await store.close();
  }
});

sqlite('the writes of one turn share one transaction, and each is acknowledged after its commit', async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const store = openSqliteStore(file);
  const reader = new Database(file, { readonly: true });
  try {
    const writes = [store.addEnv('A'), store.addEnv('B'), store.setSetting('k', 'v')];
    // Queued, not yet written: another connection sees nothing before the commit.
    assert.equal(reader.prepare('SELECT count(*) AS n FROM envs').get(), { n: 0 });
    const first = await writes[0];
    assert.ok(first);
    assert.equal(reader.prepare('SELECT name FROM envs ORDER BY name').pluck().all(), ['A', 'B'], 'once one is acknowledged, all of its turn are on disk');
    await Promise.all(writes);
  } finally {
    reader.close();
    await store.close();
  }
});

sqlite('a write whose commit fails is refused: its promise rejects and nothing of it is kept', async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const store = openSqliteStore(file);
  await store.addEnv('before');
  // Another connection holds the write lock and the store does not wait for it: the commit cannot happen.
  store.db.pragma('busy_timeout = 0');
  const other = new Database(file);
  other.exec('BEGIN IMMEDIATE');
  try {
    const outcomes = await Promise.allSettled([store.addEnv('lost'), store.setSetting('lost', '1')]);
    assert.equal(outcomes.map((o) => o.status), ['rejected', 'rejected']);
    assert.match(String((outcomes[0] as PromiseRejectedResult).reason), /locked|busy/i);
  } finally {
    other.exec('ROLLBACK');
    other.close();
  }
  assert.equal(await store.listEnvs(), ['before'], 'nothing of the refused turn was written');
  assert.is(await store.getSetting('lost'), undefined);
  assert.ok(await store.addEnv('after'), 'the next turn commits');
  await store.close();
});

sqlite('an operation that throws is rolled back alone; the others of its turn commit', async () => {
  const store = openSqliteStore(':memory:');
  try {
    const [bad, good] = await Promise.allSettled([store.createWorker({ id: 'w1', tokenHash: 'a'.repeat(64), createdAt: 1 }, { project: 'nope', at: 2 }), store.addEnv('QA')]);
    assert.is(bad.status, 'rejected');
    assert.is(good.status, 'fulfilled');
    assert.is(await store.getWorker('w1'), undefined, 'the worker went with its failed membership');
    assert.equal(await store.listEnvs(), ['QA']);
  } finally {
    await store.close();
  }
});

sqlite('upgrading a version-2 file adds job owners: its open jobs have none and count as this hub\'s', async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const old = new Database(file);
  for (const [i, sql] of V2.entries()) {
    old.exec(sql);
    old.pragma(`user_version = ${i + 1}`);
  }
  old.prepare("INSERT INTO workers (id, token_hash, created_at) VALUES ('w1', ?, 1)").run('a'.repeat(64));
  old.prepare("INSERT INTO jobs (id, worker_id, kind, command, started_at) VALUES ('old', 'w1', 'exec', '\"true\"', 5)").run();
  old.close();
  const store = openSqliteStore(file);
  try {
    assert.ok(appliedSteps(store.db).some((s) => s.part === 'registry' && s.name === 'job-owner'));
    assert.is((await store.getJob('old'))?.owner, null);
    await store.insertJob({ id: 'other', workerId: 'w1', kind: 'exec', command: 'true', startedAt: 6, owner: 'hub-b' });
    const closed = await store.closeLostJobs('hub-a', { finishedAt: 9, exitCode: null, signal: null, outcome: 'lost', errorCode: 'WORKER_LOST' });
    assert.equal(closed.map((j) => j.id), ['old']);
    assert.equal((await store.listUnfinishedJobs()).map((j) => j.id), ['other']);
  } finally {
    await store.close();
  }
});

sqlite('creates missing parent directories and a new file with mode 0600', async ({ dir }) => {
  const file = path.join(dir, 'a', 'b', 'hub.db');
  const store = openSqliteStore(file);
  await store.close();
  assert.ok(fs.existsSync(file));
  if (process.platform !== 'win32') assert.is(fs.statSync(file).mode & 0o777, 0o600);
});

sqlite('an existing file keeps its mode', async ({ dir }) => {
  if (process.platform === 'win32') return;
  const file = path.join(dir, 'hub.db');
  await openSqliteStore(file).close();
  fs.chmodSync(file, 0o640);
  await openSqliteStore(file).close();
  assert.is(fs.statSync(file).mode & 0o777, 0o640);
});

sqlite('records the registry steps, sets user_version, WAL, busy_timeout and foreign keys', async ({ dir }) => {
  const store = openSqliteStore(path.join(dir, 'hub.db'));
  try {
    assert.equal(appliedSteps(store.db).filter((s) => s.part === 'registry').map((s) => s.name), REGISTRY_STEPS.map((s) => s.name));
    assert.is(store.db.pragma('user_version', { simple: true }), RUNNER_USER_VERSION);
    assert.is(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.is(store.db.pragma('busy_timeout', { simple: true }), 5000);
    assert.is(store.db.pragma('foreign_keys', { simple: true }), 1);
  } finally {
    await store.close();
  }
});

sqlite('refuses a database from a newer hub', async ({ dir }) => {
  const file = path.join(dir, 'hub.db');
  const store = openSqliteStore(file);
  store.db.prepare(`INSERT INTO schema_migrations VALUES ('registry', ?, 'from-the-future', 0)`).run(REGISTRY_STEPS.length + 1);
  await store.close();
  try {
    await openSqliteStore(file).close();
    assert.unreachable('expected UNSUPPORTED');
  } catch (error) {
    assert.instance(error, ClaError);
    assert.is((error as ClaError).code, 'UNSUPPORTED');
  }
});

sqlite('a store given the group commit of another connection is refused', async ({ dir }) => {
  const store = openSqliteStore(path.join(dir, 'hub.db'));
  const other = openSqliteStore(path.join(dir, 'other.db'));
  try {
    assert.throws(() => new SqliteTaskStore(other.db, { commit: store.groupCommit }), (error: unknown) => error instanceof ClaError && /group commit of the store's own connection/.test(error.message));
    assert.is(new SqliteTaskStore(store.db, { commit: store.groupCommit }).commits, store.commits, 'the same connection shares it');
  } finally {
    await other.close();
    await store.close();
  }
});

sqlite.run();
