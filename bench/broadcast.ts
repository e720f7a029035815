/**
 * Benchmark 2: action broadcast to N connected workers. One measured round is a one-step workflow run:
 * the hub broadcasts the action to every subscriber, each answers `action_done` at once, the step and
 * run end; that is the full path `WorkflowEngine.runManual` -> N `action` frames -> N `action_done` ->
 * step machine settled -> run machine ended, SQLite writes included. Rounds run back to back for
 * `--seconds` after a `--warmup`, for each N of `--workers` (default 1,10,50).
 *
 * The hub (with the actions extension, on a real SQLite file in a temp folder) runs in this process; the
 * N worker connections (real `WorkerAgent`s over real websockets) are spread over `--processes` child
 * processes (default 2), which run this same file with `--role workers`. Timing reads the monotonic
 * `performance.now()` directly, as bench/run.ts does: measuring wall time is the point here. Nothing
 * asserts on time; a run fails only if a round does not succeed.
 *
 * Usage: node --import tsx bench/broadcast.ts [--workers 1,10,50] [--seconds N] [--warmup N] [--idle N] [--processes N] [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/clock.ts';
import { InvalidArgumentError } from '../src/errors.ts';
import { ActionsExtension } from '../src/hub/actions/actions-extension.ts';
import { toWorkflowDefinition } from '../src/hub/actions/workflow-definitions.ts';
import { Hub } from '../src/hub/hub.ts';
import { Registry } from '../src/hub/registry.ts';
import { openSqliteStore } from '../src/store/sqlite-store.ts';
import { ActionExtension } from '../src/worker/actions/action-extension.ts';
import { WorkerAgent } from '../src/worker/agent.ts';
import { SubscribeExtension, SubscriptionRegistry } from '../src/worker/subscriptions.ts';
import { cpuMs } from './peers/common.ts';

const SCRIPT = fileURLToPath(import.meta.url);
const ROOT = path.dirname(path.dirname(SCRIPT));

interface Result {
  workers: number;
  rounds: number;
  seconds: number;
  perSecond: number;
  answersPerSecond: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time (user + system) per round, in ms: this process (the hub) and the worker processes. */
  hubCpuMs: number;
  workersCpuMs: number;
  /**
   * CPU time per second of the same processes while no round runs (measured for `--idle` seconds before
   * the rounds: 1,000 connections' pings, timers and GC), in ms/s; and the CPU per round net of it,
   * `(CPU - idle rate x wall time) / rounds`, in ms. On a loaded machine, where few rounds run, the idle
   * cost is a large part of the raw CPU per round.
   */
  hubIdleMsPerS: number;
  workersIdleMsPerS: number;
  hubNetCpuMs: number;
  workersNetCpuMs: number;
}

// ---- worker role: N WorkerAgents in this process, answering `bench` at once ----------------------

async function workerRole(url: string, credentials: Array<[string, string]>): Promise<void> {
  const agents = credentials.map(([id, token]) => {
    const subscriptions = new SubscriptionRegistry(id);
    const actions = new ActionExtension(subscriptions).on('bench', () => undefined, { timeoutMs: 60_000 });
    return new WorkerAgent({ id, token, url, extensions: [new SubscribeExtension(subscriptions), actions] });
  });
  const exits = agents.map((agent) => agent.run());
  profileOnSignal(`workers-${process.pid}`);
  process.stdout.write('started\n');
  const stop = () => agents.forEach((agent) => agent.stop('benchmark done'));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await Promise.all(exits);
}

// ---- hub role -------------------------------------------------------------------------------------

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`Expected \`--${name}\` to be a positive number, got \`${raw}\``);
  return n;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function startWorkers(url: string, credentials: Array<[string, string]>): ChildProcess {
  // The hub's node flags (`--import tsx`, and e.g. `--cpu-prof` to profile the workers too).
  const child = spawn(process.execPath, [...process.execArgv, SCRIPT, '--role', 'workers', '--url', url, '--credentials', JSON.stringify(credentials)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout!.resume();
  return child;
}

async function stopWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      // Cleanup safety only: a process that ignores SIGTERM must not keep the benchmark alive.
      const force = setTimeout(() => child.kill('SIGKILL'), 5000);
      force.unref();
      return exited;
    }),
  );
}

/** Waits (real time, bounded) until `n` subscribers of `bench` are connected. */
async function waitForSubscribers(ext: ActionsExtension, n: number): Promise<void> {
  const deadline = performance.now() + 60_000;
  while (ext.bus.subscribersOf('bench').filter((s) => s.connected).length < n) {
    if (performance.now() > deadline) throw new Error(`only ${ext.bus.subscribersOf('bench').length} of ${n} subscribers connected`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** CPU ms per second of this process and of the worker processes over `seconds` without rounds. */
async function measureIdle(seconds: number, children: ChildProcess[]): Promise<{ hub: number; workers: number }> {
  const pids = children.map((child) => child.pid!);
  const hubStart = process.cpuUsage();
  const workersStart = cpuMs(pids);
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const elapsed = (performance.now() - start) / 1000;
  const hub = process.cpuUsage(hubStart);
  return { hub: (hub.user + hub.system) / 1000 / elapsed, workers: (cpuMs(pids) - workersStart) / elapsed };
}

async function measure(ext: ActionsExtension, workers: number, seconds: number, children: ChildProcess[], idle = { hub: 0, workers: 0 }): Promise<Result> {
  const latencies: number[] = [];
  const pids = children.map((child) => child.pid!);
  const hubCpuStart = process.cpuUsage();
  const workersCpuStart = cpuMs(pids);
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    const { run } = await ext.engine.runManual('bench');
    await ext.engine.whenIdle();
    const state = (await ext.store.getStoredRun(run))?.state;
    if (state !== 'succeeded') throw new Error(`run ${run} ended ${state}`);
    const after = performance.now();
    latencies.push(after - now);
    now = after;
  }
  const elapsed = (now - start) / 1000;
  const hubCpu = process.cpuUsage(hubCpuStart);
  const workersCpuMs = cpuMs(pids) - workersCpuStart;
  latencies.sort((a, b) => a - b);
  const meanMs = latencies.reduce((sum, ms) => sum + ms, 0) / latencies.length;
  const hubCpuMs = (hubCpu.user + hubCpu.system) / 1000;
  return {
    workers,
    rounds: latencies.length,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    answersPerSecond: (latencies.length * workers) / elapsed,
    meanMs,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    hubCpuMs: hubCpuMs / latencies.length,
    workersCpuMs: workersCpuMs / latencies.length,
    hubIdleMsPerS: idle.hub,
    workersIdleMsPerS: idle.workers,
    hubNetCpuMs: (hubCpuMs - idle.hub * elapsed) / latencies.length,
    workersNetCpuMs: (workersCpuMs - idle.workers * elapsed) / latencies.length,
  };
}

/**
 * With BENCH_CPU_PROFILE=DIR in a worker process: SIGUSR2 starts a CPU profile, the next SIGUSR2 writes
 * it to DIR/`name`.cpuprofile. The hub signals its children around the measured rounds, so the profile
 * holds no start-up (1,000 connects) and no warm-up.
 */
function profileOnSignal(name: string): void {
  if (!process.env.BENCH_CPU_PROFILE) return;
  let profile: Promise<{ stop(name: string): Promise<void> } | undefined> | undefined;
  process.on('SIGUSR2', () => {
    if (!profile) profile = startProfile();
    else {
      void profile.then((p) => p?.stop(name));
      profile = undefined;
    }
  });
}

/**
 * With BENCH_CPU_PROFILE=DIR, a CPU profile of the hub during the measured rounds only (not start-up)
 * is written to DIR/hub-N.cpuprofile, and one of each worker process to DIR/workers-PID.cpuprofile.
 */
async function startProfile(children: ChildProcess[] = []): Promise<{ stop(name: string): Promise<void> } | undefined> {
  const dir = process.env.BENCH_CPU_PROFILE;
  if (!dir) return undefined;
  for (const child of children) child.kill('SIGUSR2');
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(name) {
      for (const child of children) child.kill('SIGUSR2');
      const { profile } = await session.post('Profiler.stop');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
      // The workers write theirs on the signal: wait (bounded) before they are stopped.
      const files = children.map((child) => path.join(dir, `workers-${child.pid}.cpuprofile`));
      const deadline = performance.now() + 30_000;
      while (!files.every((file) => fs.existsSync(file)) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    },
  };
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);

function table(results: Result[]): string {
  const head = ['workers', 'rounds', 'rounds/s', 'answers/s', 'mean ms', 'p50 ms', 'p99 ms', 'ms/worker', 'hub CPU ms/round', 'workers CPU ms/round', 'idle hub/workers ms/s', 'net hub/workers ms/round'];
  const rows = results.map((r) => [
    String(r.workers),
    String(r.rounds),
    fmt(r.perSecond, 1),
    fmt(r.answersPerSecond, 0),
    fmt(r.meanMs, 3),
    fmt(r.p50Ms, 3),
    fmt(r.p99Ms, 3),
    fmt(r.meanMs / r.workers, 3),
    fmt(r.hubCpuMs, 1),
    fmt(r.workersCpuMs, 1),
    `${fmt(r.hubIdleMsPerS, 1)} / ${fmt(r.workersIdleMsPerS, 1)}`,
    `${fmt(r.hubNetCpuMs, 1)} / ${fmt(r.workersNetCpuMs, 1)}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function hubRole(args: string[], values: { workers: string; seconds: string; warmup: string; idle: string; processes: string; json: boolean }): Promise<void> {
  const counts = values.workers.split(',').map((n) => Math.round(positive('workers', n)));
  const seconds = positive('seconds', values.seconds);
  const warmup = positive('warmup', values.warmup);
  const idleSeconds = positive('idle', values.idle);
  const processes = Math.round(positive('processes', values.processes));
  const command = `node --import tsx bench/broadcast.ts${args.length ? ` ${args.join(' ')}` : ''}`;
  const machine = { node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, platform: `${process.platform}-${process.arch}`, date: new Date().toISOString() };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-broadcast-'));
  const store = openSqliteStore(path.join(dir, 'hub.db'));
  const registry = new Registry(store, systemClock);
  const { passkey } = await registry.createProject('bench');
  const workflows = new Map([['bench', toWorkflowDefinition({ name: 'bench', steps: [{ name: 'bench', action: 'bench', timeout: '60s' }], on_conflict: 'parallel' }, 'bench')]]);
  const ext = new ActionsExtension({ db: store.db, workflows, cron: false });
  const hub = new Hub({ port: 0 }, { registry, extensions: [ext] });
  const results: Result[] = [];
  let children: ChildProcess[] = [];
  try {
    const url = await hub.start();
    const max = Math.max(...counts);
    const credentials = await Promise.all(Array.from({ length: max }, async (_, i) => {
      const id = `bench-${i + 1}`;
      return [id, (await registry.register({ passkey, id })).token] as [string, string];
    }));
    for (const n of counts) {
      await stopWorkers(children);
      await waitForSubscribers(ext, 0).catch(() => undefined);
      const share = Math.ceil(n / processes);
      children = [];
      for (let p = 0; p * share < n; p += 1) children.push(startWorkers(url, credentials.slice(p * share, Math.min(n, (p + 1) * share))));
      await waitForSubscribers(ext, n);
      await measure(ext, n, warmup, children);
      const idle = await measureIdle(idleSeconds, children);
      const profiler = await startProfile(children);
      const result = await measure(ext, n, seconds, children, idle);
      await profiler?.stop(`hub-${n}`);
      results.push(result);
      if (!values.json) process.stderr.write(`  ${n} worker(s): ${fmt(result.meanMs, 3)} ms mean\n`);
    }
  } finally {
    await stopWorkers(children);
    await hub.stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ command, machine, seconds, warmup, processes, results }, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    [
      'cla-worker bench: action broadcast to N connected workers (one-step workflow run, every worker answers action_done at once)',
      `command: ${command}`,
      `${machine.node}, ${machine.platform}, ${machine.cores} x ${machine.cpu}, ${machine.date}`,
      `${seconds} s per N after ${warmup} s warm-up and ${idleSeconds} s idle (no rounds: the idle CPU rate); hub in this process (SQLite file), workers in ${processes} child process(es), real websockets`,
      `load average at end (1, 5, 15 min): ${os.loadavg().map((n) => n.toFixed(2)).join(', ')}`,
      '',
      table(results),
      '',
    ].join('\n'),
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let values: { role: string; url?: string; credentials?: string; workers: string; seconds: string; warmup: string; idle: string; processes: string; json: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        role: { type: 'string', default: 'hub' },
        url: { type: 'string' },
        credentials: { type: 'string' },
        workers: { type: 'string', default: '1,10,50' },
        seconds: { type: 'string', default: '5' },
        warmup: { type: 'string', default: '1' },
        idle: { type: 'string', default: '2' },
        processes: { type: 'string', default: '2' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    }) as { values: typeof values });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: node --import tsx bench/broadcast.ts [--workers 1,10,50] [--seconds N] [--warmup N] [--idle N] [--processes N] [--json]\n`);
    process.exitCode = 2;
    return;
  }
  if (values.role === 'workers') await workerRole(values.url!, JSON.parse(values.credentials!) as Array<[string, string]>);
  else await hubRole(args, values);
}

await main();
