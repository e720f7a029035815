/**
 * The SQLite task store's share of a task, alone (issue 9): CPU per task of insert, the lease step
 * (`leasePending`), `complete` and the commit, without sockets, workers or the dispatcher, so a change to
 * the SQL is measured apart from the scheduler noise of a loaded machine (process CPU, not wall time).
 *
 * The load is the burst's: `--tasks` inserted in turns of 256, then turns of `--turn` completions each
 * followed by the lease step that refills as many slots, one transaction per turn (group commit), on a
 * WAL file with the hub's pragmas.
 *
 * Usage: node --import tsx bench/peers/store-steps.ts [--tasks 20000] [--turn 8] [--runs 3]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteTaskTables } from '../../src/hub/tasks/sqlite-task-tables.ts';
import { encodeValue } from '../../src/protocol/codec.ts';
import { setConcurrencyPragmas } from '../../src/store/sqlite-connection.ts';

const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

function run(tasks: number, turn: number): Record<string, number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-store-steps-'));
  const db = new Database(path.join(dir, 'tasks.sqlite'));
  try {
    setConcurrencyPragmas(db);
    const tables = new SqliteTaskTables(db, 'bench');
    const spent: Record<string, number> = { insert: 0, lease: 0, complete: 0, commit: 0 };
    const timed = (step: string, fn: () => void) => {
      const before = cpuMs();
      fn();
      spent[step]! += cpuMs() - before;
    };
    const begin = db.prepare('BEGIN IMMEDIATE');
    const commit = db.prepare('COMMIT');
    const start = cpuMs();
    for (let i = 0; i < tasks; i += 256) {
      begin.run();
      timed('insert', () => {
        for (let j = i; j < Math.min(tasks, i + 256); j++) {
          tables.insert({ id: `t${j}`, name: 'echo', attrs: {}, data: encodeValue({ phase: 'burst', i: j }), createdAt: 1, deadlineMs: 1e9, maxAttempts: 3 });
        }
      });
      timed('commit', () => commit.run());
    }
    const held: Array<[string, string]> = [];
    let token = 0;
    const lease = (slots: number) =>
      timed('lease', () => {
        // As the dispatcher does: one row more than there are free slots, the last one to stop at.
        let free = slots;
        const page = tables.leasePending(0, ['echo'], slots + 1, () => (free-- === 0 ? null : { worker: 'w', lease: `L${token++}` }), 2, 1e12);
        for (const { row, choice } of page.leased) held.push([row.id, choice.lease]);
      });
    begin.run();
    lease(8 * 17); // eight workers of capacity 17, as in the peers bench
    commit.run();
    let done = 0;
    while (done < tasks) {
      begin.run();
      const ending = held.splice(0, turn);
      timed('complete', () => {
        for (const [id, leaseToken] of ending) {
          if (!tables.complete(id, leaseToken, encodeValue({ phase: 'burst', i: done }), 3)) throw new Error(`complete of ${id} refused`);
          done += 1;
        }
      });
      lease(ending.length);
      timed('commit', () => commit.run());
    }
    const perTask = (ms: number) => (1000 * ms) / tasks;
    return { total: perTask(cpuMs() - start), ...Object.fromEntries(Object.entries(spent).map(([step, ms]) => [step, perTask(ms)])) };
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const { values } = parseArgs({ options: { tasks: { type: 'string', default: '20000' }, turn: { type: 'string', default: '8' }, runs: { type: 'string', default: '3' } } });
const tasks = Number(values.tasks);
const turn = Number(values.turn);
console.log(`store steps: ${tasks} tasks, turns of ${turn}, load ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}; CPU us per task`);
for (let i = 0; i < Number(values.runs); i++) {
  const r = run(tasks, turn);
  console.log(Object.entries(r).map(([step, us]) => `${step} ${us.toFixed(1)}`).join(', '));
}
