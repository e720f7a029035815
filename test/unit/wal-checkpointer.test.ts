import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GroupCommit } from '../../src/store/group-commit.ts';
import { setConcurrencyPragmas } from '../../src/store/sqlite-connection.ts';
import { BACKSTOP_PAGES, CHECK_EVERY_OPS, CHECKPOINT_PAGES, WAL_LIMIT_BYTES, checkpointerOf, closeConnection } from '../../src/store/wal-checkpointer.ts';
import { tempDirEach, type TempDirContext } from './test-helpers.ts';

const test = suite<TempDirContext>('WAL checkpoints in a thread (issue 9, the one-at-a-time tail)', { dir: '', cleanup: () => {} });
tempDirEach(test, 'cla-wal-');

function openFile(dir: string): Database.Database {
  const db = new Database(path.join(dir, 'hub.sqlite'));
  setConcurrencyPragmas(db);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  return db;
}

/** The WAL file's size in bytes (0 when there is none). */
function walBytes(dir: string): number {
  try {
    return fs.statSync(path.join(dir, 'hub.sqlite-wal')).size;
  } catch {
    return 0;
  }
}

/** One turn of a burst: `n` operations committed together, as a busy hub's turn does. */
async function burstTurn(commit: GroupCommit, insert: Database.Statement, value: string, n = 500): Promise<void> {
  const batch: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) batch.push(commit.run(() => insert.run(value)));
  await Promise.all(batch);
}

test('the group commit asks the thread for a checkpoint by the WAL\'s growth, not by operations; the connection keeps only a backstop', async ({ dir }) => {
  const db = openFile(dir);
  try {
    assert.is(db.pragma('wal_autocheckpoint', { simple: true }), BACKSTOP_PAGES);
    assert.is(db.pragma('journal_size_limit', { simple: true }), WAL_LIMIT_BYTES);
    const checkpointer = checkpointerOf(db)!;
    assert.ok(checkpointer, 'a file in WAL mode gets a checkpointer');
    const commit = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    // Many small operations, one per turn as one task at a time does: far below CHECKPOINT_PAGES frames,
    // no checkpoint however many operations (the old code asked after 256).
    for (let i = 0; i < 600; i++) await commit.run(() => insert.run('x'.repeat(100)));
    await checkpointer.settled();
    assert.ok(checkpointer.walFrames()!.toCopy < CHECKPOINT_PAGES, `${checkpointer.walFrames()!.toCopy} frames`);
    // (An idle check may ask too if this process stalls 250 ms between two commits on a loaded machine: only
    // the growth's requests are counted here.)
    assert.is(checkpointer.asked.growth, 0);
    // Few operations writing many pages each (a 256 KiB value is ~64 overflow pages): once CHECKPOINT_PAGES
    // frames wait, the next check (every CHECK_EVERY_OPS operations) asks.
    const big = 'y'.repeat(256 * 1024);
    let ops = 0;
    while (checkpointer.walFrames()!.toCopy < CHECKPOINT_PAGES) {
      await commit.run(() => insert.run(big));
      ops += 1;
    }
    for (let i = 0; i < CHECK_EVERY_OPS; i++) await commit.run(() => insert.run('z'));
    await checkpointer.settled();
    assert.ok(ops < 256, `${ops} operations`);
    assert.is(checkpointer.asked.growth, 1);
    assert.is(checkpointer.checkpoints, checkpointer.asked.growth + checkpointer.asked.idle);
    assert.ok(checkpointer.walFrames()!.toCopy < CHECKPOINT_PAGES, 'the checkpoint copied the WAL');
    // Every commit was acknowledged with its rows in place, checkpoint or not.
    assert.is((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 600 + ops + CHECK_EVERY_OPS);
  } finally {
    await closeConnection(db);
  }
  assert.not.ok(db.open);
  // The data survives the thread and the close: a new connection reads it from the file.
  const again = new Database(path.join(dir, 'hub.sqlite'), { readonly: true });
  try {
    assert.ok((again.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n > 600);
  } finally {
    again.close();
  }
});

test('an idle hub gets what is left of its WAL checkpointed', async ({ dir }) => {
  const db = openFile(dir);
  try {
    const checkpointer = checkpointerOf(db)!;
    const commit = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    for (let i = 0; i < 10; i++) await commit.run(() => insert.run(`row ${i}`));
    assert.ok(checkpointer.walFrames()!.toCopy > 0);
    // No more commits: the idle check asks the thread, which copies everything.
    await checkpointer.nextCheckpoint();
    assert.equal(checkpointer.asked, { growth: 0, idle: 1 });
    assert.is(checkpointer.checkpoints, 1);
    assert.is(checkpointer.walFrames()!.toCopy, 0);
  } finally {
    await closeConnection(db);
  }
});

test('a long burst: the thread is not asked past the backstop, so the writer starts the WAL over and the WAL stays bounded', async ({ dir }) => {
  const db = openFile(dir);
  try {
    const checkpointer = checkpointerOf(db)!;
    const commit = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    const value = 'b'.repeat(3000);
    let largest = 0;
    let restarts = 0;
    let last = 0;
    let perTurn = 0;
    // A burst: 500 operations per turn (~500 frames), turn after turn, 3 times the backstop's frames in all.
    for (let turn = 0; turn < 60; turn++) {
      await burstTurn(commit, insert, value);
      const { frames } = checkpointer.walFrames()!;
      if (frames < last) restarts += 1;
      else perTurn = Math.max(perTurn, frames - last);
      last = frames;
      largest = Math.max(largest, frames);
      // The thread's checkpoint holds the checkpoint lock, so the writer's backstop waits for its end: how
      // long that takes is the machine's; here the burst lets it end before going on.
      if (frames >= BACKSTOP_PAGES) await checkpointer.settled();
    }
    assert.ok(restarts >= 2, `the WAL started over ${restarts} times`);
    assert.ok(largest <= BACKSTOP_PAGES + 2 * perTurn, `the WAL reached ${largest} frames (backstop ${BACKSTOP_PAGES}, ${perTurn} per turn)`);
    assert.ok(walBytes(dir) <= WAL_LIMIT_BYTES, `the WAL file is ${walBytes(dir)} bytes, over journal_size_limit ${WAL_LIMIT_BYTES}`);
    assert.is((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 60 * 500);
  } finally {
    await closeConnection(db);
  }
});

test('a WAL that overran the backstop while a reader held an old snapshot is cut back to journal_size_limit once it can start over', async ({ dir }) => {
  const db = openFile(dir);
  const reader = new Database(path.join(dir, 'hub.sqlite'), { readonly: true });
  try {
    const checkpointer = checkpointerOf(db)!;
    const commit = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    // A reader in a transaction keeps its snapshot: no checkpoint copies past it, the WAL cannot start over.
    reader.exec('BEGIN');
    assert.is((reader.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 0);
    const value = 'r'.repeat(3000);
    while (walBytes(dir) <= WAL_LIMIT_BYTES) {
      await burstTurn(commit, insert, value);
    }
    reader.exec('COMMIT');
    // Quiet: the idle checkpoint copies everything; the next commit starts the WAL over and cuts the file.
    await checkpointer.settled();
    if (checkpointer.walFrames()!.toCopy > 0) await checkpointer.nextCheckpoint();
    assert.is(checkpointer.walFrames()!.toCopy, 0);
    await commit.run(() => insert.run('after'));
    assert.ok(walBytes(dir) <= WAL_LIMIT_BYTES, `the WAL file is ${walBytes(dir)} bytes after the reader ended, over ${WAL_LIMIT_BYTES}`);
  } finally {
    reader.close();
    await closeConnection(db);
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
