/**
 * The SQLite task store's one-at-a-time latency, alone (issue 9, the tail): `--tasks` tasks one after
 * another through the real SqliteTaskStore (group commit), each an insert and its lease in one commit,
 * then its completion in a second one, as the dispatcher does for one task through an idle hub. Prints
 * the latency of each commit as the caller sees it (p50, p99, max, and how many took over 1 ms), without
 * sockets or other processes, so that what the store does on the event loop (a WAL checkpoint inside a
 * commit) shows apart from the scheduling noise of a loaded machine.
 *
 * Usage: node --import tsx bench/peers/store-tail.ts [--tasks 5000] [--runs 3]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openSqliteTaskStore } from '../../src/hub/tasks/sqlite-task-store.ts';
import { encodeValue } from '../../src/protocol/codec.ts';
import { fmt, latency } from './common.ts';

async function run(tasks: number): Promise<number[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-store-tail-'));
  const store = openSqliteTaskStore(path.join(dir, 'tasks.sqlite'));
  const commits: number[] = [];
  try {
    let token = 0;
    for (let i = 0; i < tasks; i++) {
      const id = `t${i}`;
      let start = performance.now();
      const inserted = store.insert({ id, name: 'echo', attrs: {}, data: encodeValue({ phase: 'one', i }), createdAt: 1, deadlineMs: 1e12, maxAttempts: 3 });
      const page = await store.leasePending(i === 0 ? 0 : i, ['echo'], 2, () => ({ worker: 'w', lease: `L${token++}` }), 2, 1e12);
      await inserted;
      commits.push(performance.now() - start);
      const leased = page.leased[0];
      if (!leased) throw new Error(`task ${id} was not leased`);
      start = performance.now();
      if (!(await store.complete(leased.row.id, leased.choice.lease, encodeValue({ phase: 'one', i }), 3))) throw new Error(`complete of ${id} refused`);
      commits.push(performance.now() - start);
    }
    return commits;
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const { values } = parseArgs({ options: { tasks: { type: 'string', default: '5000' }, runs: { type: 'string', default: '3' } } });
const tasks = Number(values.tasks);
console.log(`store tail: ${tasks} tasks one at a time (2 commits each), load ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}; commit latency ms`);
for (let i = 0; i < Number(values.runs); i++) {
  const commits = await run(tasks);
  const l = latency(commits);
  console.log(`p50 ${fmt(l.p50Ms, 3)}, p99 ${fmt(l.p99Ms, 3)}, max ${fmt(l.maxMs, 1)}, over 1 ms ${commits.filter((ms) => ms > 1).length} of ${commits.length}`);
}
