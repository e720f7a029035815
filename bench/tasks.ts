/**
 * Benchmark: tasks through the dispatcher. The hub (with its TaskHub on a real SQLite file) runs in this
 * process; the workers are real `cla-worker run --task-handler echo` processes. Timing reads the
 * monotonic `performance.now()`: measuring wall time is the point here (../../shared/STYLE.md).
 *
 * 1. burst: `--tasks` tasks submitted at once through `TaskHub.submit()`, drained by `--workers` workers
 *    at `--concurrency` each: tasks per second from the first submit to the last completion, and the
 *    submit -> done latency of each task (mostly time spent waiting in the queue, by construction).
 * 2. one at a time: `--sequential` tasks, each submitted after the previous one ended: the latency of
 *    one task through an idle dispatcher (insert, lease and push, run, done: 1 round trip).
 *
 * Exactly once is checked, not assumed: every task must end `done` once (one `finished$` event per id,
 * the store's counts), with the result its echo handler returned (its own data).
 *
 * `--store jetstream` keeps the tasks in NATS JetStream (issue 10: a nats-server started for the run in
 * its temp folder, single node) instead of the SQLite file; the CPU per task of the burst is reported for
 * this process (hub + dispatcher + store client) and, on JetStream, for nats-server too (/proc).
 * bench/tasks-engines.ts runs both stores in one go, side by side.
 *
 * Usage: node --import tsx bench/tasks.ts [--tasks 5000] [--workers 4] [--concurrency 4] [--sequential 500] [--store sqlite|jetstream] [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/clock.ts';
import { InvalidArgumentError } from '../src/errors.ts';
import { Hub } from '../src/hub/hub.ts';
import { HubMetrics } from '../src/hub/metrics.ts';
import { Registry } from '../src/hub/registry.ts';
import { SqliteTaskStore } from '../src/hub/tasks/sqlite-task-store.ts';
import { TaskHub } from '../src/hub/tasks/task-hub.ts';
import type { TaskView } from '../src/hub/tasks/task-store.ts';
import { openSqliteStore } from '../src/store/sqlite-store.ts';
import { registerWorker } from '../src/worker/registration.ts';
import { connectEngine, type NatsEngine } from '../src/engine/nats-connect.ts';
import { JetStreamTaskStore } from '../src/engine/jetstream-task-store.ts';
import type { TaskStore } from '../src/hub/tasks/task-store.ts';
import { startNatsServer, type NatsServer } from '../test/integration/nats-server.ts';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const WORKER_BIN = path.join(ROOT, 'bin', 'cla-worker.js');

interface Latency {
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`Expected \`--${name}\` to be a positive integer, got \`${raw}\``);
  return n;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    meanMs: sorted.reduce((sum, ms) => sum + ms, 0) / sorted.length,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.at(-1)!,
  };
}

async function startWorker(url: string, id: string, token: string, concurrency: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [WORKER_BIN, 'run', '--url', url, '--id', id, '--token', token, '--task-handler', 'echo', '--task-concurrency', String(concurrency), '--quiet'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CLA_JSON_LOGS: '1' },
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const look = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('starting worker')) resolve();
    };
    child.stdout!.on('data', look);
    child.once('exit', (code, signal) => reject(new Error(`worker ${id} ended before it started (${signal ?? code}): ${out}`)));
  });
  return child;
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

/** CPU time (user + system) of another process so far, in ms, from /proc (Linux; clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const ownCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

function commandLine(args: string[]): string {
  const script = path.relative(process.cwd(), process.argv[1]!);
  return `node ${process.execArgv.join(' ')} ${script}${args.length ? ` ${args.join(' ')}` : ''}`.replace(/\s+/g, ' ');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let count: number, workers: number, concurrency: number, sequential: number, json: boolean, storeKind: 'sqlite' | 'jetstream';
  try {
    const { values } = parseArgs({
      args,
      options: {
        tasks: { type: 'string', default: '5000' },
        workers: { type: 'string', default: '4' },
        concurrency: { type: 'string', default: '4' },
        sequential: { type: 'string', default: '500' },
        json: { type: 'boolean', default: false },
        store: { type: 'string', default: 'sqlite' },
      },
      strict: true,
    });
    count = positiveInt('tasks', values.tasks);
    workers = positiveInt('workers', values.workers);
    concurrency = positiveInt('concurrency', values.concurrency);
    sequential = positiveInt('sequential', values.sequential);
    json = values.json;
    if (values.store !== 'sqlite' && values.store !== 'jetstream') throw new InvalidArgumentError(`Expected \`--store\` to be sqlite or jetstream, got \`${values.store}\``);
    storeKind = values.store;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: node --import tsx bench/tasks.ts [--tasks N] [--workers N] [--concurrency N] [--sequential N] [--store sqlite|jetstream] [--json]\n`);
    process.exitCode = 2;
    return;
  }
  const machine = { node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, platform: `${process.platform}-${process.arch}`, date: new Date().toISOString() };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-tasks-'));
  const mainStore = openSqliteStore(path.join(dir, 'hub.sqlite'));
  const registry = new Registry(mainStore, systemClock);
  let nats: NatsServer | undefined;
  let engine: NatsEngine | undefined;
  let store: TaskStore;
  if (storeKind === 'jetstream') {
    nats = await startNatsServer(path.join(dir, 'nats'));
    engine = await connectEngine([nats.url], { name: 'bench hub' });
    store = await new JetStreamTaskStore(engine.nc, { hubId: 'bench' }).opened();
  } else store = new SqliteTaskStore(mainStore.db, { commit: mainStore.groupCommit });
  const tasks = new TaskHub({ store });
  const hub = new Hub({ port: 0 }, { registry, extensions: [tasks], metrics: new HubMetrics({ processMetrics: false }) });
  const children: ChildProcess[] = [];
  try {
    const url = await hub.start();
    const { passkey } = await registry.createProject('bench');
    for (let i = 1; i <= workers; i++) {
      const { id, token } = await registerWorker({ url, passkey, id: `bench-${i}` });
      children.push(await startWorker(url, id, token, concurrency));
    }
    // Wait until every worker subscribed: a warm-up task per worker slot proves the path end to end.
    const warm = await Promise.all(Array.from({ length: workers * concurrency * 2 }, (_, i) => tasks.submit({ name: 'echo', data: { warm: i } })));
    await Promise.all(warm.map((id) => tasks.wait(id)));

    // Every finished task, with the time it was seen.
    const ends = new Map<string, { at: number; row: TaskView; times: number }>();
    tasks.finished$.subscribe((row) => {
      const seen = ends.get(row.id);
      if (seen) seen.times += 1;
      else ends.set(row.id, { at: performance.now(), row, times: 1 });
    });

    // 1. burst
    const submitted = new Map<string, { at: number; i: number }>();
    let remaining = count;
    const allDone = new Promise<void>((resolve) => {
      // A task is pushed only in a later turn than the one its submit() resolved in (the dispatcher's
      // pump runs in setImmediate), so every id is registered below before its task can end.
      const sub = tasks.finished$.subscribe((row) => {
        if (submitted.has(row.id) && ends.get(row.id)!.times === 1 && --remaining === 0) {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    const start = performance.now();
    const cpuAtStart = { hub: ownCpuMs(), engine: nats ? processCpuMs(nats.child.pid!) : 0 };
    const submits: Array<Promise<void>> = [];
    for (let i = 0; i < count; i++) {
      const at = performance.now();
      submits.push(tasks.submit({ name: 'echo', data: { i } }).then((id) => void submitted.set(id, { at, i })));
    }
    await Promise.all(submits);
    const submitMs = performance.now() - start;
    await allDone;
    const cpu = { hubMsPerTask: (ownCpuMs() - cpuAtStart.hub) / count, engineMsPerTask: nats ? (processCpuMs(nats.child.pid!) - cpuAtStart.engine) / count : 0 };
    const burstMs = Math.max(...[...submitted.keys()].map((id) => ends.get(id)!.at)) - start;
    const burstLatency = latency([...submitted].map(([id, s]) => ends.get(id)!.at - s.at));

    // 2. one at a time
    const single: number[] = [];
    for (let i = 0; i < sequential; i++) {
      const at = performance.now();
      const row = await tasks.wait(await tasks.submit({ name: 'echo', data: { s: i } }));
      single.push(performance.now() - at);
      if (row.state !== 'done') throw new Error(`sequential task ${row.id} ended ${row.state}`);
    }

    // Exactly once: one end per task, done, with its own data as result; the store agrees.
    const wrong = [...submitted].filter(([id, s]) => {
      const end = ends.get(id);
      return !end || end.times !== 1 || end.row.state !== 'done' || JSON.stringify(end.row.result) !== JSON.stringify({ i: s.i }) || end.row.attempts !== 1;
    });
    const counts = await store.counts();
    const expectedDone = warm.length + count + sequential;
    if (wrong.length > 0 || counts.done !== expectedDone || counts.failed + counts.pending + counts.claimed !== 0) {
      throw new Error(`exactly-once check failed: ${wrong.length} tasks wrong, store counts ${JSON.stringify(counts)}`);
    }
    const perWorker = new Map<string, number>();
    for (const id of submitted.keys()) perWorker.set(ends.get(id)!.row.worker!, (perWorker.get(ends.get(id)!.row.worker!) ?? 0) + 1);

    const result = {
      command: commandLine(args),
      machine,
      tasks: count,
      workers,
      concurrency,
      store: storeKind,
      burst: { seconds: burstMs / 1000, perSecond: count / (burstMs / 1000), submitMs, latency: burstLatency, perWorker: Object.fromEntries([...perWorker].sort()), cpu },
      sequential: latency(single),
      exactlyOnce: { done: counts.done, duplicates: 0, wrongResults: 0 },
    };
    if (json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const f = (n: number, d = 2) => n.toFixed(d);
    const row = (name: string, l: Latency) => `${name.padEnd(34)} ${String(l.count).padStart(5)}  ${f(l.meanMs).padStart(8)}  ${f(l.p50Ms).padStart(8)}  ${f(l.p99Ms).padStart(8)}  ${f(l.maxMs).padStart(8)}`;
    process.stdout.write(
      [
        'cla-worker bench: tasks through the dispatcher',
        `command: ${result.command}`,
        `node ${machine.node}, ${machine.platform}, ${machine.cores} x ${machine.cpu}, ${machine.date}`,
        `hub + TaskHub in this process (${nats ? 'NATS JetStream, single nats-server' : `SQLite file, synchronous=${mainStore.db.pragma('synchronous', { simple: true })}`}); ${workers} \`cla-worker run --task-handler echo --task-concurrency ${concurrency}\` processes`,
        '',
        `burst: ${count} tasks submitted in ${f(submitMs, 1)} ms, all done after ${f(burstMs / 1000, 3)} s: ${f(result.burst.perSecond, 0)} tasks/s`,
        `  CPU per task: ${f(cpu.hubMsPerTask, 3)} ms in this process${nats ? ` + ${f(cpu.engineMsPerTask, 3)} ms in nats-server` : ''}`,
        `  per worker: ${[...perWorker].sort().map(([w, n]) => `${w}=${n}`).join(' ')}`,
        '',
        `${'submit -> done latency'.padEnd(34)} ${'tasks'.padStart(5)}  ${'mean ms'.padStart(8)}  ${'p50 ms'.padStart(8)}  ${'p99 ms'.padStart(8)}  ${'max ms'.padStart(8)}`,
        row('burst (queued behind the others)', burstLatency),
        row('one at a time (idle dispatcher)', result.sequential),
        '',
        `exactly once: ${count + sequential} measured tasks (+${warm.length} warm-up) done once each, results match, store: ${JSON.stringify(counts)}`,
        '',
      ].join('\n'),
    );
  } finally {
    await Promise.all(children.map(stopWorker));
    await hub.stop();
    await store.close();
    await engine?.close();
    await nats?.stop();
    mainStore.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
