// The in-memory index of the JetStream task store: ids by seq with lazy removal, rows by revision.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeqList, TaskIndex } from '../../src/engine/jetstream-task-index.ts';
import { newTaskRow, type TaskRow } from '../../src/hub/tasks/task-store.ts';
import { encodeValue } from '../../src/protocol/codec.ts';

const it = suite('jetstream task index');

it('SeqList keeps seq order whatever the order of adds; removal, revival and compaction keep it', () => {
  const list = new SeqList();
  for (const seq of [5, 1, 9, 3, 7]) list.add(seq, `t${seq}`);
  assert.equal([...list.after(0)], ['t1', 't3', 't5', 't7', 't9']);
  assert.equal([...list.after(3)], ['t5', 't7', 't9']);
  assert.equal([...list.newestFirst()], ['t9', 't7', 't5', 't3', 't1']);
  list.remove(5);
  list.remove(1);
  assert.equal([...list.after(0)], ['t3', 't7', 't9']);
  list.add(5, 't5'); // back to pending after a release: the dead slot lives again
  assert.equal([...list.after(0)], ['t3', 't5', 't7', 't9']);
  assert.is(list.size, 4);
  // Past 1,024 removals, more than half dead: compacted, order kept.
  const big = new SeqList();
  for (let seq = 1; seq <= 3000; seq++) big.add(seq, `b${seq}`);
  for (let seq = 1; seq <= 2500; seq++) big.remove(seq);
  big.add(10, 'b10');
  assert.equal([...big.after(0)].slice(0, 3), ['b10', 'b2501', 'b2502']);
  assert.is(big.size, 501);
});

it('TaskIndex applies a row only for a newer revision and keeps counts, pending and active right', () => {
  const index = new TaskIndex();
  const row = (id: string, seq: number, extra: Partial<TaskRow> = {}): TaskRow => ({ ...newTaskRow({ id, name: 'n', attrs: {}, data: encodeValue(null), createdAt: 0, deadlineMs: 1, maxAttempts: 1 }, seq), ...extra });
  assert.is(index.apply(row('a', 1), 1), undefined);
  assert.is(index.apply(row('b', 2), 2), undefined);
  assert.equal(index.apply(row('a', 1, { state: 'claimed', lease: 'L' }), 3), row('a', 1));
  assert.is(index.apply(row('a', 1, { state: 'pending' }), 3), false, 'the same revision again is skipped');
  assert.is(index.apply(row('a', 1), 1), false, 'an older revision is skipped');
  assert.ok(index.knows('a', 2) && !index.knows('a', 4) && !index.knows('c', 1));
  assert.equal(index.counts, { pending: 1, claimed: 1, done: 0, failed: 0 });
  assert.equal([...index.pendingTasks.after(0)], ['b']);
  assert.equal([...index.active], ['a']);
  index.apply(row('a', 1, { state: 'done' }), 4);
  assert.equal([...index.active], []);
  assert.equal([...index.all.newestFirst()], ['b', 'a']);
  assert.is(index.maxSeq, 2);
});

it.run();
