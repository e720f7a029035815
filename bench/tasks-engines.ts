/**
 * Benchmark (issue 10): task throughput and CPU per task with the task store on SQLite (1 hub) and on
 * NATS JetStream (1, 2 and 3 hubs sharing one single-node nats-server), in one run, all with real
 * processes: `cla-hub start [--engine URL]` hubs, `cla-worker run --task-handler echo` workers spread
 * round-robin over the hubs, every task submitted through hub 1's `tasks.submit` (as `cla-hub task submit`
 * does). Throughput runs from the first submit to the moment the store counts every task done (looked
 * up every 50 ms); CPU is user + system time from /proc of every hub process and of nats-server over the
 * same span, divided by the tasks. Exactly once is checked: every task done, attempts 1, nothing failed.
 *
 * On 2 cores the hubs, workers and nats-server share the CPU: more hubs cannot raise throughput here;
 * the CPU per task says what each hub and the engine cost (bench/RESULTS.md).
 *
 * Usage: node --import tsx bench/tasks-engines.ts [--tasks 3000] [--workers 6] [--concurrency 4] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../src/errors.ts';
import { connectEngine } from '../src/engine/nats-connect.ts';
import { openJetStreamTaskStore } from '../src/engine/jetstream-task-store.ts';
import { AdminClient } from '../src/hub/admin-client.ts';
import { adminTokenFile } from '../src/hub/hub-record.ts';
import { openSqliteTaskStore } from '../src/hub/tasks/sqlite-task-store.ts';
import type { TaskState, TaskStore } from '../src/hub/tasks/task-store.ts';
import { startNatsServer, type NatsServer } from '../test/integration/nats-server.ts';
import { startCli, startHub, stopAll, WORKER_BIN, type LiveProcess, type RunningHub } from '../test/integration/processes.ts';

const PSK = 'bench-tasks-engines-psk-0123456789';

interface Mode {
  name: string;
  hubs: number;
  engine: boolean;
}

const MODES: Mode[] = [
  { name: 'SQLite, 1 hub', hubs: 1, engine: false },
  { name: 'JetStream, 1 hub', hubs: 1, engine: true },
  { name: 'JetStream, 2 hubs', hubs: 2, engine: true },
  { name: 'JetStream, 3 hubs', hubs: 3, engine: true },
];

/** CPU time (user + system) of a process so far, in ms, from /proc (clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`Expected \`--${name}\` to be a positive integer, got \`${raw}\``);
  return n;
}

async function submitAll(hub: RunningHub, count: number, tag: string): Promise<void> {
  const client = await AdminClient.connect(hub.url, fs.readFileSync(adminTokenFile(hub.data), 'utf8').trim());
  try {
    // Batches below the hub's bound of open requests per connection (256).
    for (let i = 0; i < count; i += 200) {
      await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, j) => client.call('tasks.submit', { name: 'echo', data: { tag, i: i + j } })));
    }
  } finally {
    client.close();
  }
}

async function doneCount(store: TaskStore, total: number): Promise<Record<TaskState, number>> {
  for (;;) {
    const counts = await store.counts();
    if (counts.done + counts.failed >= total) return counts;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function runMode(mode: Mode, count: number, workers: number, concurrency: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-engines-'));
  let nats: NatsServer | undefined;
  const hubs: RunningHub[] = [];
  const children: LiveProcess[] = [];
  let store: TaskStore | undefined;
  let closeEngine = async () => {};
  try {
    if (mode.engine) nats = await startNatsServer(path.join(dir, 'nats'));
    for (let h = 1; h <= mode.hubs; h++) {
      const hubDir = path.join(dir, `hub${h}`);
      fs.mkdirSync(hubDir);
      hubs.push(await startHub(hubDir, ['--psk', PSK, '--no-cron', '--quiet', ...(nats ? ['--engine', nats.url] : [])]));
    }
    for (let w = 0; w < workers; w++) {
      const hub = hubs[w % hubs.length]!;
      const worker = startCli(WORKER_BIN, ['run', '--url', hub.url, '--psk', PSK, '--id', `bench-${w + 1}`, '--task-handler', 'echo', '--task-concurrency', String(concurrency)], { cwd: dir });
      await worker.waitFor(/connected to the hub/);
      children.push(worker);
    }
    if (nats) {
      const engine = await connectEngine([nats.url], { name: 'bench observer' });
      closeEngine = () => engine.close();
      store = await openJetStreamTaskStore(engine.nc, { hubId: 'bench-observer' });
    } else store = openSqliteTaskStore(hubs[0]!.data, { mustExist: true });
    // Warm-up: every worker slot busy twice, through the whole path.
    const warm = workers * concurrency * 2;
    await submitAll(hubs[0]!, warm, 'warm');
    await doneCount(store, warm);

    const pids = [...hubs.map((hub) => hub.process.child.pid!), ...(nats ? [nats.child.pid!] : [])];
    const cpuBefore = pids.map(processCpuMs);
    const start = performance.now();
    await submitAll(hubs[0]!, count, 'burst');
    const submitMs = performance.now() - start;
    const counts = await doneCount(store, warm + count);
    const seconds = (performance.now() - start) / 1000;
    const cpuMs = pids.map((pid, i) => processCpuMs(pid) - cpuBefore[i]!);
    const hubCpuMs = cpuMs.slice(0, hubs.length).reduce((a, b) => a + b, 0);
    const engineCpuMs = nats ? cpuMs.at(-1)! : 0;
    const retried = (await store.list({ limit: warm + count })).filter((row) => row.attempts !== 1).length;
    if (counts.done !== warm + count || counts.failed !== 0 || retried !== 0) throw new Error(`${mode.name}: exactly-once check failed: ${JSON.stringify(counts)}, ${retried} tasks with attempts != 1`);
    return { mode: mode.name, hubs: mode.hubs, tasks: count, seconds, perSecond: count / seconds, submitMs, cpuMsPerTask: { hubs: hubCpuMs / count, engine: engineCpuMs / count, total: (hubCpuMs + engineCpuMs) / count } };
  } finally {
    await store?.close();
    await closeEngine();
    await Promise.all(children.map((child) => child.stop('SIGTERM')));
    await Promise.all(hubs.map((hub) => hub.process.stop('SIGTERM')));
    await nats?.stop();
    await stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let count: number, workers: number, concurrency: number, json: boolean;
  try {
    const { values } = parseArgs({
      args,
      options: { tasks: { type: 'string', default: '3000' }, workers: { type: 'string', default: '6' }, concurrency: { type: 'string', default: '4' }, json: { type: 'boolean', default: false } },
      strict: true,
    });
    count = positiveInt('tasks', values.tasks);
    workers = positiveInt('workers', values.workers);
    concurrency = positiveInt('concurrency', values.concurrency);
    json = values.json;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: node --import tsx bench/tasks-engines.ts [--tasks N] [--workers N] [--concurrency N] [--json]\n`);
    process.exitCode = 2;
    return;
  }
  const machine = { node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, load: os.loadavg().map((l) => l.toFixed(2)).join(' '), date: new Date().toISOString() };
  const results = [];
  for (const mode of MODES) results.push(await runMode(mode, count, workers, concurrency));
  if (json) {
    process.stdout.write(`${JSON.stringify({ command: `node --import tsx bench/tasks-engines.ts ${args.join(' ')}`.trim(), machine, workers, concurrency, results }, null, 2)}\n`);
    return;
  }
  const base = results[0]!;
  const f = (n: number, d = 2) => n.toFixed(d);
  process.stdout.write(
    [
      'cla-worker bench: tasks on SQLite vs NATS JetStream (real hub, worker and nats-server processes)',
      `command: node --import tsx bench/tasks-engines.ts ${args.join(' ')}`.trim(),
      `node ${machine.node}, ${machine.cores} x ${machine.cpu}, load average at start ${machine.load}, ${machine.date}`,
      `${count} tasks through hub 1, ${workers} \`cla-worker run --task-handler echo --task-concurrency ${concurrency}\` spread over the hubs`,
      '',
      `${'store'.padEnd(20)} ${'tasks/s'.padStart(8)} ${'x SQLite'.padStart(9)} ${'CPU ms/task: hubs'.padStart(18)} ${'engine'.padStart(7)} ${'total'.padStart(7)} ${'x SQLite'.padStart(9)}`,
      ...results.map(
        (r) =>
          `${r.mode.padEnd(20)} ${f(r.perSecond, 0).padStart(8)} ${f(r.perSecond / base.perSecond).padStart(9)} ${f(r.cpuMsPerTask.hubs, 3).padStart(18)} ${f(r.cpuMsPerTask.engine, 3).padStart(7)} ${f(r.cpuMsPerTask.total, 3).padStart(7)} ${f(r.cpuMsPerTask.total / base.cpuMsPerTask.total).padStart(9)}`,
      ),
      '',
      'exactly once: every task done once with attempts 1, in every mode',
      '',
    ].join('\n'),
  );
}

await main();
