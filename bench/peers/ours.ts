/**
 * Our dispatcher in the peers comparison: the hub with its TaskHub in this process, on either task
 * backend (`sqlite`: a real SQLite file in a temp folder, group commit; `memory`: MemoryTaskStore, the
 * like-for-like peer of BullMQ's Redis without persistence), and `workers` real `cla-worker run --task-handler echo --task-concurrency 1`
 * processes (the worker's default prefetch, max(1, 16) = 16 leases queued beyond the one running, as a
 * BullMQ worker fetches its next job while finishing one). Per task that is one round trip, `task_push` -> `task_done`, with a conditional store write
 * at insert, lease and completion (on SQLite, the writes of one event-loop turn share one commit).
 *
 * Exactly once is checked in the store: every measured task is `done` with `attempts = 1` (one claim,
 * hence one worker ran it) and its own data as result, and no task is left pending or claimed.
 *
 * `BENCH_WORKER_NODE_ARGS` passes node flags to the worker processes, e.g. `--cpu-prof --cpu-prof-dir=DIR`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { systemClock } from '../../src/clock.ts';
import { Hub } from '../../src/hub/hub.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { MemoryTaskStore, SqliteTaskStore, TaskHub, type TaskStore } from '../../src/hub/tasks/index.ts';
import { viewTask } from '../../src/hub/tasks/task-store.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { registerWorker } from '../../src/worker/registration.ts';
import { ROOT, type DispatchResult } from './common.ts';
import { drive, type DriveOptions } from './driver.ts';

const WORKER_BIN = path.join(ROOT, 'bin', 'cla-worker.js');

function startWorker(url: string, id: string, token: string): ChildProcess {
  // Extra node flags for profiling the workers, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (NODE_OPTIONS refuses --cpu-prof).
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  return spawn(process.execPath, [...nodeArgs, WORKER_BIN, 'run', '--url', url, '--id', id, '--token', token, '--task-handler', 'echo', '--task-concurrency', '1', '--quiet'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const force = setTimeout(() => child.kill('SIGKILL'), 5000);
  force.unref();
  await exited;
  clearTimeout(force);
}

/** Which task backend {@link benchOurs} runs on. */
export type OurBackend = 'sqlite' | 'memory';

export async function benchOurs(options: DriveOptions, backend: OurBackend = 'sqlite'): Promise<DispatchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-peers-'));
  const mainStore = openSqliteStore(path.join(dir, 'hub.sqlite'));
  const registry = new Registry(mainStore, systemClock);
  // As createHub: the task store on the registry's connection and group commit, one transaction per turn.
  const store: TaskStore = backend === 'sqlite' ? new SqliteTaskStore(mainStore.db, { commit: mainStore.groupCommit }) : new MemoryTaskStore();
  // Ids chosen here, as BullMQ's jobId: `submit()` takes its id synchronously, in call order.
  let next = 0;
  const tasks = new TaskHub({ store, newId: () => `t${next++}` });
  const hub = new Hub({ port: 0 }, { registry, extensions: [tasks], metrics: new HubMetrics({ processMetrics: false }) });
  const children: ChildProcess[] = [];
  try {
    const url = await hub.start();
    const { passkey } = await registry.createProject('bench');
    for (let i = 1; i <= options.workers; i++) {
      const { id, token } = await registerWorker({ url, passkey, id: `peer-${i}` });
      children.push(startWorker(url, id, token));
    }
    const workers = new Set<string>();
    const submitFailures: string[] = [];
    const result = await drive(
      {
        submit: (data) => {
          const id = `t${next}`;
          tasks.submit({ name: 'echo', data }).catch((error: unknown) => submitFailures.push(`${id}: ${(error as Error).message}`));
          return id;
        },
        onDone: (listener) => {
          tasks.finished$.subscribe((row) => {
            if (row.worker) workers.add(row.worker);
            listener(row.id, row.state === 'done', row.state === 'done' ? row.result : row.error);
          });
        },
        workersSeen: () => workers.size,
        processes: () => ({ workers: children.map((child) => child.pid!) }),
      },
      options,
    );

    const bad: string[] = [];
    const perWorker = new Map<string, number>();
    for (const [id, data] of result.measured) {
      const stored = await store.get(id);
      const row = stored && viewTask(stored);
      if (row?.worker) perWorker.set(row.worker, (perWorker.get(row.worker) ?? 0) + 1);
      if (!row || row.state !== 'done' || row.attempts !== 1 || JSON.stringify(row.result) !== JSON.stringify(data)) {
        bad.push(`${id}: ${row ? `${row.state}, attempts ${row.attempts}, result ${JSON.stringify(row.result)}` : 'missing'}`);
      }
    }
    const counts = await store.counts();
    const expected = result.measured.size + result.warmTasks;
    if (submitFailures.length > 0) throw new Error(`submit failed: ${submitFailures.slice(0, 3).join('; ')}`);
    if (bad.length > 0 || counts.done !== expected || counts.pending + counts.claimed + counts.failed !== 0) {
      throw new Error(`exactly-once check failed: ${bad.length} wrong rows (${bad.slice(0, 3).join('; ')}), store counts ${JSON.stringify(counts)}`);
    }
    return {
      system: `cla-worker hub (${backend})`,
      setup: `hub + TaskHub in the bench process (${backend === 'sqlite' ? `SQLite file, group commit, synchronous=${String(mainStore.db.pragma('synchronous', { simple: true }))}` : 'in-memory task store'}); ${options.workers} \`cla-worker run --task-handler echo --task-concurrency 1\` processes (default prefetch: 16)`,
      tasks: options.tasks,
      workers: options.workers,
      burstSeconds: result.burstSeconds,
      perSecond: options.tasks / result.burstSeconds,
      submitMs: result.submitMs,
      burst: result.burst,
      sequentialCold: result.sequentialCold,
      sequential: result.sequential,
      cpuPerTask: result.cpuPerTask,
      sequentialCpuPerTask: result.sequentialCpuPerTask,
      perWorker: Object.fromEntries([...perWorker].sort()),
      exactlyOnce: `store: ${counts.done} done (${result.warmTasks} warm-up), each measured task done once with attempts = 1 and its own data; 0 pending/claimed/failed`,
    };
  } finally {
    await Promise.all(children.map(stopWorker));
    await hub.stop();
    mainStore.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
