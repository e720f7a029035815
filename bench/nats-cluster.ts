/**
 * Benchmark (issue 10): hubs on a 3-node nats-server cluster with replicas 3, the task bucket's stream
 * leader SIGKILLed mid-load (the run: test/integration/cluster-failover.ts). All real processes: three
 * nats-server nodes (test/integration/nats-cluster-nodes.ts), `cla-hub start --engine A,B,C --engine-replicas 3` hubs (each listing the nodes
 * from a different first one), `cla-worker run --task-handler echo` workers spread over the hubs, every
 * task submitted through hub 1's `tasks.submit`. When 40 % of the tasks are done, the leader of
 * `KV_cla_tasks` is killed; once tasks finish again it is started again (same ports and store) and the run
 * goes on to the last task.
 *
 * Figures come from the tasks' own `finishedAt` (the completing hub's clock): throughput before the kill
 * (from 10 % done to the kill), the failover gap (the longest time without a completion after the kill),
 * throughput after it (from the first completion after the gap to the last). Fails loudly (exit 1)
 * unless every task is done exactly once (state done, attempts 1, nothing failed, no result refused as
 * STALE_LEASE), every hub is still running, and no hub logged an error. `BENCH_NO_KILL=1`: the same run
 * without the kill.
 *
 * Usage: node --import tsx bench/nats-cluster.ts [--tasks 3000] [--hubs 3] [--workers 6] [--concurrency 4] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../src/errors.ts';
import { runClusterFailover, TASK_STREAM } from '../test/integration/cluster-failover.ts';
import { stopAll } from '../test/integration/processes.ts';

const KILL_AT = 0.4;

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`Expected \`--${name}\` to be a positive integer, got \`${raw}\``);
  return n;
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

async function run(count: number, hubs: number, workers: number, concurrency: number): Promise<Figures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-cluster-'));
  try {
    // BENCH_NO_KILL=1: the same run without the kill, to tell the failover's effects from the cluster's.
    const killAt = process.env.BENCH_NO_KILL ? undefined : KILL_AT;
    const r = await runClusterFailover({ dir, tasks: count, hubs, workers, concurrency, killAt, caughtUp: true });
    const killedAt = r.killedAt ?? Date.now();
    const finished = r.rows.map((row) => row.finishedAt!).sort((a, b) => a - b);
    const tenth = finished[Math.floor(finished.length * 0.1)]!;
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
    const end = finished.at(-1)!;
    return {
      tasks: count,
      hubs,
      workers,
      killed: r.killed ?? 'none',
      killedAtDone: r.killedAtDone,
      perSecondBefore: beforeCount / ((killedAt - tenth) / 1000),
      gapMs,
      firstCompletionAfterKillMs: (finished.find((t) => t > killedAt) ?? killedAt) - killedAt,
      perSecondAfter: finished.filter((t) => t >= gapEnd).length / Math.max(0.001, (end - gapEnd) / 1000),
      totalSeconds: (end - r.startedAt) / 1000,
      warnings: tally(r.warnings.map((w) => w.msg ?? JSON.stringify(w))),
    };
  } finally {
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
      `leader of ${TASK_STREAM} killed: ${r.killed}, at ${r.killedAtDone} tasks done; started again once tasks finished again`,
      `throughput before the kill  ${f(r.perSecondBefore).padStart(6)} tasks/s`,
      `failover gap                ${f(r.gapMs).padStart(6)} ms (first completion after the kill: ${f(r.firstCompletionAfterKillMs)} ms)`,
      `throughput after the gap    ${f(r.perSecondAfter).padStart(6)} tasks/s (x ${(r.perSecondAfter / r.perSecondBefore).toFixed(2)} of before)`,
      `whole run                   ${r.totalSeconds.toFixed(1)} s`,
      `hub warnings                ${Object.entries(r.warnings).map(([msg, n]) => `${n} x ${msg}`).join('; ') || 'none'}`,
      '',
      'exactly once: every task done once with attempts 1, nothing failed, no result refused as STALE_LEASE; every hub still running, no error logged',
      '',
    ].join('\n'),
  );
}

await main();
