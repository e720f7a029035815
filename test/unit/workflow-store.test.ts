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
