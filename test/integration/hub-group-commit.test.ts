/**
 * Group commit across a hub's SQLite stores (issue 9): `createHub` on a data file keeps the registry, the
 * tasks, the workflow runs and the resources on one connection and one {@link GroupCommit}, so a registry
 * change, a task and a resource graph written in one event-loop turn are one transaction, and none of
 * their callers hears back before that commit.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHub } from '../../src/index.ts';
import type { GroupCommit } from '../../src/store/group-commit.ts';
import { tempDir } from './processes.ts';

const test = suite('hub group commit');

/** The group commit a store runs its operations through (each SQLite store keeps it in `batch`). */
function groupCommitOf(owner: unknown, field: string): GroupCommit {
  const store = (owner as Record<string, unknown>)[field];
  return (store as { batch: GroupCommit }).batch;
}

test('a registry change, a task and a resource graph made in one turn are one commit, answered after it', async () => {
  const { dir, cleanup } = tempDir();
  const data = path.join(dir, 'hub.sqlite');
  const hub = await createHub({ data, port: 0, cron: false });
  try {
    const commits = new Set([groupCommitOf(hub.registry, 'store'), groupCommitOf(hub.tasks, 'store'), groupCommitOf(hub.actions, 'store'), groupCommitOf(hub.actions, 'resources')]);
    assert.is(commits.size, 1, 'every store of the hub on one group commit');
    const total = () => [...commits].reduce((sum, commit) => sum + commit.commits, 0);
    await Promise.all([...commits].map((commit) => commit.drained()));
    const before = total();
    // The commits made when each caller is answered: the one that holds its change, and no other.
    const seen: number[] = [];
    const answered = <T>(promise: Promise<T>) => promise.then((value) => (seen.push(total() - before), value));
    const [project, taskId] = await Promise.all([
      answered(hub.registry.createProject('turn')),
      answered(hub.tasks.submit({ name: 'tag', attrs: {}, data: { n: 1 } })),
      answered(hub.actions.resources.replaceGraph('w1', 'fs', [{ id: '/a', kind: 'file', attrs: {}, tags: {}, edges: [] }], 1, null)),
    ]);
    assert.equal(seen, [1, 1, 1], 'each caller answered after the one commit');
    assert.is(total() - before, 1, 'one transaction for the turn');
    const outside = new Database(data, { readonly: true });
    try {
      assert.ok(outside.prepare('SELECT 1 FROM projects WHERE name = ?').get(project.project), 'the project is in the file');
      assert.ok(outside.prepare('SELECT 1 FROM tasks WHERE id = ?').get(taskId), 'the task is in the file');
      assert.ok(outside.prepare('SELECT 1 FROM resources WHERE worker = ? AND id = ?').get('w1', '/a'), 'the resource is in the file');
    } finally {
      outside.close();
    }
  } finally {
    await hub.stop();
    cleanup();
  }
});

test.run();
