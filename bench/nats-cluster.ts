/**
 * Benchmark (issue 10): hubs on a 3-node nats-server cluster with replicas 3, the task bucket's stream
 * leader SIGKILLed mid-load. All real processes: three nats-server nodes (test/integration/
 * nats-cluster-nodes.ts), `cla-hub start --engine A,B,C --engine-replicas 3` hubs (each listing the nodes
 * from a different first one), `cla-worker run --task-handler echo` workers spread over the hubs, every
 * task submitted through hub 1's `tasks.submit`. When 40 % of the tasks are done, the leader of
 * `KV_cla_tasks` is killed; once tasks finish again it is started again (same ports and store) and the run
 * goes on to the last task.
 *
 * Figures come from the tasks' own `finishedAt` (the completing hub's clock): throughput before the kill
 * (from 10 % done to the kill), the failover gap (the longest time without a completion after the kill),
 * throughput after it (from the first completion after the gap to the last). Fails loudly (exit 1)
 * unless every task is done exactly once (state done, attempts 1, nothing failed), every hub is still
 * running, and no hub logged an error.
 *
 * Usage: node --import tsx bench/nats-cluster.ts [--tasks 3000] [--hubs 3] [--workers 6] [--concurrency 4] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../src/errors.ts';
import { connectEngine, type NatsEngine } from '../src/engine/nats-connect.ts';
import { openJetStreamTaskStore, type JetStreamTaskStore } from '../src/engine/jetstream-task-store.ts';
import { AdminClient } from '../src/hub/admin-client.ts';
import { adminTokenFile } from '../src/hub/hub-record.ts';
import type { TaskRow } from '../src/hub/tasks/task-store.ts';
import { startCluster3, type Cluster3 } from '../test/integration/nats-cluster-nodes.ts';
import { startCli, startHub, stopAll, WORKER_BIN, type LiveProcess, type RunningHub } from '../test/integration/processes.ts';

const PSK = 'bench-nats-cluster-psk-0123456789';
const STREAM = 'KV_cla_tasks';
const KILL_AT = 0.4;

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`Expected \`--${name}\` to be a positive integer, got \`${raw}\``);
  return n;
}

async function submitAll(hub: RunningHub, count: number): Promise<void> {
  const client = await AdminClient.connect(hub.url, fs.readFileSync(adminTokenFile(hub.data), 'utf8').trim());
  try {
    // Batches below the hub's bound of open requests per connection (256).
    for (let i = 0; i < count; i += 200) {
      await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, j) => client.call('tasks.submit', { name: 'echo', data: { i: i + j } })));
    }
  } finally {
    client.close();
  }
}

/** Error-level log lines (pino JSON, level 50+) and anything Node printed about an unhandled rejection. */
function errorLines(output: string): string[] {
  return output.split('\n').filter((line) => /"level":(5\d|60)/.test(line) || /unhandled/i.test(line));
}

const tally = (items: string[]) => items.reduce<Record<string, number>>((acc, item) => ({ ...acc, [item]: (acc[item] ?? 0) + 1 }), {});

interface Figures {
  tasks: number;
  hubs: number;
  workers: number;
  killed: string;
  killedAtDone: number;
  perSecondBefore: number;
  gapMs: number;
  firstCompletionAfterKillMs: number;
  perSecondAfter: number;
  totalSeconds: number;
  /** What the hubs warned about (messages and how often). */
  warnings: Record<string, number>;
}

async function run(count: number, hubCount: number, workers: number, concurrency: number): Promise<Figures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-cluster-'));
  let cluster: Cluster3 | undefined;
  let engine: NatsEngine | undefined;
  let store: JetStreamTaskStore | undefined;
  const hubs: RunningHub[] = [];
  const children: LiveProcess[] = [];
  try {
    cluster = await startCluster3(path.join(dir, 'nats'));
    const urls = cluster.urls;
    for (let h = 0; h < hubCount; h++) {
      const hubDir = path.join(dir, `hub${h + 1}`);
      fs.mkdirSync(hubDir);
      const engineUrls = [...urls.slice(h % 3), ...urls.slice(0, h % 3)].join(',');
      hubs.push(await startHub(hubDir, ['--psk', PSK, '--no-cron', '--json-logs', '--engine', engineUrls, '--engine-replicas', '3']));
    }
    for (let w = 0; w < workers; w++) {
      const hub = hubs[w % hubs.length]!;
      const worker = startCli(WORKER_BIN, ['run', '--url', hub.url, '--psk', PSK, '--id', `bench-${w + 1}`, '--task-handler', 'echo', '--task-concurrency', String(concurrency)], { cwd: dir });
      await worker.waitFor(/connected to the hub/);
      children.push(worker);
    }
    engine = await connectEngine(urls, { name: 'bench observer', replicas: 3 });
    store = await openJetStreamTaskStore(engine.nc, { hubId: 'bench-observer', replicas: 3 });
    const info = await engine.jsm.streams.info(STREAM);
    if (info.config.num_replicas !== 3) throw new Error(`${STREAM} has ${info.config.num_replicas} replicas, expected 3`);

    // Progress as the observer's watch sees other hubs' completions; the kill and the restart hang on it.
    let ended = 0;
    let onEnded = () => {};
    store.subscribe({ pending: () => {}, ended: () => { ended += 1; onEnded(); } });
    const reach = (n: number) =>
      new Promise<void>((resolve) => {
        if (ended >= n) return resolve();
        onEnded = () => {
          if (ended >= n) resolve();
        };
      });

    const start = Date.now();
    const submitted = submitAll(hubs[0]!, count);
    await reach(Math.ceil(count * KILL_AT));
    const killedAtDone = ended;
    const killedAt = Date.now();
    // BENCH_NO_KILL=1: the same run without the kill, to tell the failover's effects from the cluster's.
    const killed = process.env.BENCH_NO_KILL ? { name: 'none', index: -1 } : await cluster.killLeader(STREAM);
    // Started again once tasks finish again: the two others have elected a leader and the hubs moved on.
    await reach(killedAtDone + workers * concurrency);
    if (killed.index >= 0) await cluster.restart(killed.index);
    await submitted;
    await reach(count);
    await cluster.caughtUp(STREAM);

    const rows = await store.list({ limit: count + 1 });
    const counts = await store.counts();
    const retried = rows.filter((row) => row.attempts !== 1);
    if (rows.length !== count || counts.done !== count || counts.failed !== 0 || retried.length !== 0) {
      throw new Error(`exactly-once check failed: ${rows.length} rows, counts ${JSON.stringify(counts)}, attempts != 1: ${retried.slice(0, 10).map((r) => `${r.id}=${r.attempts}`).join(' ')}`);
    }
    const dead = hubs.filter((hub) => hub.process.child.exitCode !== null || hub.process.child.signalCode !== null);
    if (dead.length > 0) throw new Error(`${dead.length} hub(s) exited during the run:\n${dead.map((hub) => hub.process.stderr.slice(-2000)).join('\n')}`);
    const errors = hubs.flatMap((hub) => errorLines(hub.process.stdout + hub.process.stderr));
    if (errors.length > 0) throw new Error(`hubs logged ${errors.length} error(s):\n${errors.slice(0, 10).join('\n')}`);
    const warnings = hubs.flatMap((hub) => (hub.process.stdout + hub.process.stderr).split('\n').filter((line) => /"level":40/.test(line)));

    const finished = rows.map((row: TaskRow) => row.finishedAt!).sort((a, b) => a - b);
    const at = (fraction: number) => finished[Math.min(finished.length - 1, Math.floor(finished.length * fraction))]!;
    const tenth = at(0.1);
    const beforeCount = finished.filter((t) => t >= tenth && t <= killedAt).length;
    // The failover gap: the longest pause between completions from the kill on.
    let gapMs = 0;
    let gapEnd = killedAt;
    let previous = killedAt;
    for (const t of finished) {
      if (t < killedAt) continue;
      if (t - previous > gapMs) {
        gapMs = t - previous;
        gapEnd = t;
      }
      previous = t;
    }
    const afterWindow = finished.filter((t) => t >= gapEnd);
    const end = finished.at(-1)!;
    return {
      tasks: count,
      hubs: hubCount,
      workers,
      killed: killed.name,
      killedAtDone,
      perSecondBefore: beforeCount / ((killedAt - tenth) / 1000),
      gapMs,
      firstCompletionAfterKillMs: (finished.find((t) => t > killedAt) ?? killedAt) - killedAt,
      perSecondAfter: afterWindow.length / Math.max(0.001, (end - gapEnd) / 1000),
      totalSeconds: (end - start) / 1000,
      warnings: tally(warnings.map((line) => (JSON.parse(line) as { msg?: string }).msg ?? line)),
    };
  } finally {
    // BENCH_LOGS=DIR keeps every hub's log lines there, to look into a warning or a failure.
    if (process.env.BENCH_LOGS) for (const [h, hub] of hubs.entries()) fs.writeFileSync(path.join(process.env.BENCH_LOGS, `hub${h + 1}.log`), hub.process.stdout + hub.process.stderr);
    await store?.close();
    await engine?.close();
    await Promise.all(children.map((child) => child.stop('SIGTERM')));
    await Promise.all(hubs.map((hub) => hub.process.stop('SIGTERM')));
    await cluster?.stop();
    await stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let count: number, hubs: number, workers: number, concurrency: number, json: boolean;
  try {
    const { values } = parseArgs({
      args,
      options: {
        tasks: { type: 'string', default: '3000' },
        hubs: { type: 'string', default: '3' },
        workers: { type: 'string', default: '6' },
        concurrency: { type: 'string', default: '4' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    });
    count = positiveInt('tasks', values.tasks);
    hubs = positiveInt('hubs', values.hubs);
    workers = positiveInt('workers', values.workers);
    concurrency = positiveInt('concurrency', values.concurrency);
    json = values.json;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: node --import tsx bench/nats-cluster.ts [--tasks N] [--hubs N] [--workers N] [--concurrency N] [--json]\n`);
    process.exitCode = 2;
    return;
  }
  const machine = { node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, load: os.loadavg().map((l) => l.toFixed(2)).join(' '), date: new Date().toISOString() };
  const command = `node --import tsx bench/nats-cluster.ts ${args.join(' ')}`.trim();
  const r = await run(count, hubs, workers, concurrency);
  const loadAfter = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  if (json) {
    process.stdout.write(`${JSON.stringify({ command, machine, loadAfter, concurrency, result: r }, null, 2)}\n`);
    return;
  }
  const f = (n: number, d = 0) => n.toFixed(d);
  process.stdout.write(
    [
      'cla-worker bench: hubs on a 3-node nats-server cluster (replicas 3), the task stream leader killed mid-load (real processes)',
      `command: ${command}`,
      `node ${machine.node}, ${machine.cores} x ${machine.cpu}, load average at start ${machine.load}, at end ${loadAfter}, ${machine.date}`,
      `${r.tasks} tasks through hub 1, ${r.hubs} hubs, ${r.workers} \`cla-worker run --task-handler echo --task-concurrency ${concurrency}\``,
      '',
      `leader of ${STREAM} killed: ${r.killed}, at ${r.killedAtDone} tasks done; started again once tasks finished again`,
      `throughput before the kill  ${f(r.perSecondBefore).padStart(6)} tasks/s`,
      `failover gap                ${f(r.gapMs).padStart(6)} ms (first completion after the kill: ${f(r.firstCompletionAfterKillMs)} ms)`,
      `throughput after the gap    ${f(r.perSecondAfter).padStart(6)} tasks/s (x ${(r.perSecondAfter / r.perSecondBefore).toFixed(2)} of before)`,
      `whole run                   ${r.totalSeconds.toFixed(1)} s`,
      `hub warnings                ${Object.entries(r.warnings).map(([msg, n]) => `${n} x ${msg}`).join('; ') || 'none'}`,
      '',
      'exactly once: every task done once with attempts 1, nothing failed; every hub still running, no error logged',
      '',
    ].join('\n'),
  );
}

await main();
