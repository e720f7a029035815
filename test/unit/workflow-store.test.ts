// The WorkflowStore conformance suite on every backend: SQLite (a file with one connection per hub, and
// the main store's connection shared) and memory.
import path from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
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

// What the SQLite backend does with a step's first write (issue 9): its subscribers stay in the snapshot,
// and the subscribers that changed alike in one write are one row of `workflow_answer_sets`, instead of
// a row per subscriber at the start and again as it answered. A subscriber's answer row is written only
// for what a set does not hold (an error, progress, a resend); its status is its latest set's.
const rows = suite('sqlite: the rows of a step written `initial`');
rows('no answer row at the start; one set per write of answers; errors and progress in rows; a restart reads them all', async () => {
  const { dir, cleanup } = tempDir('cla-workflows-');
  const file = path.join(dir, 'hub.db');
  try {
    let db = new Database(file);
    setConcurrencyPragmas(db);
    let store = new SqliteWorkflowStore(db);
    const at = 1_700_000_000_000;
    const sub = (id: string, status: 'pending' | 'done' | 'error', answeredAt: number | null = null) => ({ id, wait: true, timeoutAt: at + 60_000, graceUntil: null, status, answeredAt });
    const subscribers = ['w1', 'w2', 'w3', 'w4'].map((id) => sub(id, 'pending'));
    await store.createRun({ id: 'r', workflow: 'collect', trigger: 'manual', state: 'running', createdAt: at, startedAt: at, finishedAt: null, reason: null, definition: '{}' });
    await store.startStep({ runId: 'r', index: 0, name: 's', action: 'collect', messageId: 'r.0', startedAt: at, deadline: at + 60_000 });
    const snapshot = JSON.stringify({ status: 'active', value: 'waiting', context: { subscribers } });
    await store.updateStep('r.0', { state: 'waiting', snapshot, finishedAt: null, subscribers, sent: { subscribers: ['w1', 'w2', 'w3', 'w4'], at }, initial: true });
    const count = () => db.prepare('SELECT count(*) FROM workflow_answers').pluck().get();
    const sets = () => db.prepare('SELECT seq, status, subscribers FROM workflow_answer_sets ORDER BY seq').all();
    assert.is(count(), 0, 'the pending subscribers are in the snapshot alone');
    await store.recordProgress('r.0', 'w1', 1, 2, 'half');
    await store.updateStep('r.0', { state: 'waiting', finishedAt: null, subscribers: [sub('w2', 'done', at + 1), sub('w3', 'done', at + 1)] });
    assert.is(count(), 1, 'a row for the progress alone');
    assert.equal(sets(), [{ seq: 1, status: 'done', subscribers: '["w2","w3"]' }], 'the answers of one write are one row');
    await store.recordError('r.0', 'w2', { code: 'E', message: 'late error', retryable: false });
    await store.updateStep('r.0', { state: 'waiting', finishedAt: null, subscribers: [sub('w1', 'error', at + 2)] });
    assert.is(count(), 2);
    assert.is(sets().length, 2);
    await store.close();
    db.close();

    db = new Database(file);
    store = new SqliteWorkflowStore(db);
    const answers = (await store.getRun('r')).steps[0]!.answers;
    assert.equal(
      answers.map((a) => [a.subscriber, a.status, a.answeredAt, a.sentAt, a.error?.code ?? null, a.progress?.message ?? null]),
      [
        ['w1', 'error', at + 2, at, null, 'half'],
        ['w2', 'done', at + 1, at, 'E', null],
        ['w3', 'done', at + 1, at, null, null],
        ['w4', 'pending', null, at, null, null],
      ],
      "each subscriber's latest set, its row's error and progress, the roster's send time",
    );
    await store.updateRun('r', { state: 'succeeded', snapshot: '{}', reason: null, at: at + 3 });
    assert.is(await store.pruneRuns(at + 10), 1);
    assert.equal([count(), sets()], [0, []], 'a pruned run leaves no answer sets');
    await store.close();
    db.close();
  } finally {
    cleanup();
  }
});
rows.run();

// A finished step keeps no subscriber in two answer sets (review of bcast9): its end written with its
// final snapshot, which holds every answer, drops its sets (the runtime writes a restored step's end so,
// whose first write put every subscriber in a set again); a step ended with answers alone keeps its sets,
// each subscriber's final answer once. `getRun` (and so a restore) reads the same answers as the memory
// backend, which keeps a row per subscriber.
const ended = suite('sqlite: the answer sets of a finished step');
ended('dropped when its end holds the final snapshot, else one per subscriber at most; the answers read as the memory backend has them', async () => {
  const { dir, cleanup } = tempDir('cla-workflows-');
  const file = path.join(dir, 'hub.db');
  const at = 1_700_000_000_000;
  const sub = (id: string, status: 'pending' | 'done' | 'error' | 'timeout', answeredAt: number | null = null) => ({ id, wait: true, timeoutAt: at + 60_000, graceUntil: null, status, answeredAt });
  const snapshot = (value: string, subscribers: ReturnType<typeof sub>[]) => JSON.stringify({ status: value === 'waiting' ? 'active' : 'done', value, context: { subscribers } });
  const steps = async (store: SqliteWorkflowStore | MemoryWorkflowStore) => {
    await store.createRun({ id: 'r', workflow: 'collect', trigger: 'manual', state: 'running', createdAt: at, startedAt: at, finishedAt: null, reason: null, definition: '{}' });
    // Step 0 was restored (its first write after it put every subscriber in a set again: w2 and w3
    // twice) and ends with its final snapshot.
    await store.startStep({ runId: 'r', index: 0, name: 's0', action: 'collect', messageId: 'r.0', startedAt: at, deadline: at + 60_000 });
    const start = ['w1', 'w2', 'w3', 'w4'].map((id) => sub(id, 'pending'));
    await store.updateStep('r.0', { state: 'waiting', snapshot: snapshot('waiting', start), finishedAt: null, subscribers: start, sent: { subscribers: ['w1', 'w2', 'w3', 'w4'], at }, initial: true });
    await store.updateStep('r.0', { state: 'waiting', finishedAt: null, subscribers: [sub('w2', 'done', at + 1), sub('w3', 'done', at + 1)] });
    await store.recordError('r.0', 'w2', { code: 'E', message: 'late error', retryable: false });
    const restored = [sub('w1', 'pending'), sub('w2', 'done', at + 1), sub('w3', 'done', at + 1), sub('w4', 'pending')];
    await store.updateStep('r.0', { state: 'waiting', snapshot: snapshot('waiting', restored), finishedAt: null, subscribers: restored });
    await store.recordProgress('r.0', 'w4', 1, 2, 'half');
    await store.updateStep('r.0', { state: 'waiting', finishedAt: null, subscribers: [sub('w1', 'error', at + 2)] });
    const end0 = [sub('w1', 'error', at + 2), sub('w2', 'done', at + 1), sub('w3', 'done', at + 1), sub('w4', 'timeout', at + 3)];
    await store.updateStep('r.0', { state: 'failed', snapshot: snapshot('failed', end0), finishedAt: at + 3, subscribers: [end0[3]!] });
    // Step 1 (not restored) ends with its final snapshot (a timer ended it); w1's row (its error) was
    // written while it was pending.
    await store.startStep({ runId: 'r', index: 1, name: 's1', action: 'collect', messageId: 'r.1', startedAt: at + 3, deadline: at + 60_000 });
    const start1 = [sub('w1', 'pending'), sub('w2', 'pending')];
    await store.updateStep('r.1', { state: 'waiting', snapshot: snapshot('waiting', start1), finishedAt: null, subscribers: start1, sent: { subscribers: ['w1'], at: at + 3 }, initial: true });
    await store.recordError('r.1', 'w1', { code: 'F', message: 'failed', retryable: false });
    await store.updateStep('r.1', { state: 'waiting', finishedAt: null, subscribers: [sub('w1', 'error', at + 4)] });
    const end1 = [sub('w1', 'error', at + 4), sub('w2', 'timeout', at + 5)];
    await store.updateStep('r.1', { state: 'failed', snapshot: snapshot('failed', end1), finishedAt: at + 5, subscribers: [end1[1]!] });
    // Step 2, a broadcast's usual round: each subscriber answers once, the sets stay as written.
    await store.startStep({ runId: 'r', index: 2, name: 's2', action: 'collect', messageId: 'r.2', startedAt: at + 5, deadline: at + 60_000 });
    const start2 = ['w1', 'w2', 'w3'].map((id) => sub(id, 'pending'));
    await store.updateStep('r.2', { state: 'waiting', snapshot: snapshot('waiting', start2), finishedAt: null, subscribers: start2, sent: { subscribers: ['w1', 'w2', 'w3'], at: at + 5 }, initial: true });
    await store.updateStep('r.2', { state: 'waiting', finishedAt: null, subscribers: [sub('w1', 'done', at + 6)] });
    await store.updateStep('r.2', { state: 'succeeded', finishedAt: at + 7, subscribers: [sub('w2', 'done', at + 7), sub('w3', 'done', at + 7)] });
  };
  const answers = async (store: SqliteWorkflowStore | MemoryWorkflowStore) => (await store.getRun('r')).steps.map((s) => s.answers);
  try {
    const memory = new MemoryWorkflowStore(new MemoryWorkflowTables());
    await steps(memory);
    const expected = await answers(memory);
    assert.equal(
      expected.map((list) => list.map((a) => [a.subscriber, a.status, a.answeredAt])),
      [
        [
          ['w1', 'error', at + 2],
          ['w2', 'done', at + 1],
          ['w3', 'done', at + 1],
          ['w4', 'timeout', at + 3],
        ],
        [
          ['w1', 'error', at + 4],
          ['w2', 'timeout', at + 5],
        ],
        [
          ['w1', 'done', at + 6],
          ['w2', 'done', at + 7],
          ['w3', 'done', at + 7],
        ],
      ],
    );

    let db = new Database(file);
    setConcurrencyPragmas(db);
    let store = new SqliteWorkflowStore(db);
    await steps(store);
    const sets = (messageId: string) => db.prepare('SELECT seq, status, answered_at AS at, subscribers FROM workflow_answer_sets WHERE message_id = ? ORDER BY seq').all(messageId);
    assert.equal([sets('r.0'), sets('r.1')], [[], []], 'the final snapshot holds every answer: no set left');
    assert.equal(
      sets('r.2'),
      [
        { seq: 1, status: 'done', at: at + 6, subscribers: '["w1"]' },
        { seq: 2, status: 'done', at: at + 7, subscribers: '["w2","w3"]' },
      ],
      'each subscriber answered once: the sets as they were written',
    );
    assert.equal(await answers(store), expected, 'the answers as the memory backend has them');
    await store.close();
    db.close();

    db = new Database(file);
    store = new SqliteWorkflowStore(db);
    assert.equal(await answers(store), expected, 'and after reopening the file');
    await store.close();
    db.close();
  } finally {
    cleanup();
  }
});
ended.run();
