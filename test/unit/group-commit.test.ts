/**
 * GroupCommit.runSoon (issue 13): a write nobody waits on does not get a commit of its own; it rides the
 * next commit anybody asks for, keeps its place in call order, and is committed by `drained()` (close).
 * The `soonMs` bound is set far out so nothing here depends on timing.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GroupCommit } from '../../src/store/group-commit.ts';
import { tempDirEach, type TempDirContext } from './test-helpers.ts';

const it = suite<TempDirContext>('group commit runSoon', { dir: '', cleanup: () => {} });
tempDirEach(it, 'cla-group-commit-');

function open(dir: string) {
  const file = path.join(dir, 'db.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (v INTEGER)');
  // A second connection sees only what was committed.
  const reader = new Database(file, { readonly: true });
  const committed = () => (reader.prepare('SELECT v FROM t ORDER BY rowid').pluck().all() as number[]);
  return { db, committed, close: () => (reader.close(), db.close()) };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

it('a runSoon write waits for the next commit and keeps its place in call order', async ({ dir }) => {
  const { db, committed, close } = open(dir);
  const commit = new GroupCommit(db, undefined, 60_000);
  try {
    let soonDone = false;
    const soon = commit.runSoon(() => db.prepare('INSERT INTO t VALUES (1)').run()).then(() => (soonDone = true));
    await turn();
    await turn();
    assert.equal(committed(), [], 'a runSoon write alone is not committed in its turn');
    assert.is(soonDone, false);
    // A later read in the same queue sees the earlier write, and one commit carries both.
    const seen = await commit.run(() => db.prepare('SELECT count(*) FROM t').pluck().get());
    assert.is(seen, 1);
    await soon;
    assert.equal(committed(), [1]);
    const last = commit.runSoon(() => db.prepare('INSERT INTO t VALUES (2)').run());
    await commit.drained();
    await last;
    assert.equal(committed(), [1, 2], 'drained() commits what runSoon queued');
  } finally {
    close();
  }
});

it.run();
