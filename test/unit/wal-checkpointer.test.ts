import path from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GroupCommit } from '../../src/store/group-commit.ts';
import { setConcurrencyPragmas } from '../../src/store/sqlite-connection.ts';
import { BACKSTOP_PAGES, CHECKPOINT_EVERY_OPS, checkpointerOf, closeConnection } from '../../src/store/wal-checkpointer.ts';
import { tempDirEach, type TempDirContext } from './test-helpers.ts';

const test = suite<TempDirContext>('WAL checkpoints in a thread (issue 9, the one-at-a-time tail)', { dir: '', cleanup: () => {} });
tempDirEach(test, 'cla-wal-');

function openFile(dir: string): Database.Database {
  const db = new Database(path.join(dir, 'hub.sqlite'));
  setConcurrencyPragmas(db);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  return db;
}

test('the group commit asks the thread for a checkpoint every CHECKPOINT_EVERY_OPS operations; the connection keeps only a backstop', async ({ dir }) => {
  const db = openFile(dir);
  try {
    assert.is(db.pragma('wal_autocheckpoint', { simple: true }), BACKSTOP_PAGES);
    const checkpointer = checkpointerOf(db)!;
    assert.ok(checkpointer, 'a file in WAL mode gets a checkpointer');
    const commit = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    // One operation per turn, as one task at a time does: no checkpoint before the threshold.
    for (let i = 0; i < CHECKPOINT_EVERY_OPS - 1; i++) await commit.run(() => insert.run('x'.repeat(500)));
    await checkpointer.settled();
    assert.is(checkpointer.checkpoints, 0);
    await commit.run(() => insert.run('last'));
    await checkpointer.settled();
    assert.is(checkpointer.checkpoints, 1);
    // Every commit was acknowledged with its rows in place, checkpoint or not.
    assert.is((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, CHECKPOINT_EVERY_OPS);
  } finally {
    await closeConnection(db);
  }
  assert.not.ok(db.open);
  // The data survives the thread and the close: a new connection reads it from the file.
  const again = new Database(path.join(dir, 'hub.sqlite'), { readonly: true });
  try {
    assert.is((again.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, CHECKPOINT_EVERY_OPS);
  } finally {
    again.close();
  }
});

test('an in-memory database has no checkpointer, and closing a connection whose thread never started is plain', async ({ dir }) => {
  const memory = new Database(':memory:');
  setConcurrencyPragmas(memory);
  assert.is(checkpointerOf(memory), undefined);
  await closeConnection(memory);
  const db = openFile(dir);
  assert.ok(checkpointerOf(db));
  await closeConnection(db);
  assert.not.ok(db.open);
  assert.is(checkpointerOf(db), undefined);
});

test.run();
