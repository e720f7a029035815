/**
 * Benchmarks against peers, in one run on one machine (`npm run bench:peers`):
 *
 * - **tasks**: echo tasks through our dispatcher (ours.ts) and through BullMQ on a real Redis
 *   (bullmq.ts), the same load for both (driver.ts): `--tasks` at once over `--workers` worker processes
 *   at concurrency 1, then `--sequential-warm` one at a time (reported apart as "cold": V8 is still
 *   compiling the idle path then), then `--sequential` one at a time; exactly once verified for each.
 * - **floor**: the same load over a raw `ws` + msgpackr request/response loop (floor.ts), the floor of
 *   our own protocol's cost.
 * - **memory**: hub RSS and heap per idle connected worker at 1,000 and 5,000 connections (memory.ts).
 *
 * Our dispatcher runs whenever `tasks` or `floor` is asked for: every ratio needs it. BullMQ needs
 * Debian's `redis-server`; without it that column is skipped with the install command, and the run
 * exits 1. Ratios are printed as ours / peer. These are measurements, never limits: a run fails only
 * when a task is lost or duplicated, a connection is refused, or a peer cannot be started.
 *
 * Our dispatcher runs on both task backends side by side (SQLite, in-memory) unless `--store` names one.
 *
 * Usage: npm run bench:peers -- [--only tasks|floor|memory] [--store sqlite|memory] [--tasks N] [--sequential-warm N] [--sequential N]
 *        [--workers N] [--connections 1000,5000] [--json]
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../src/errors.ts';
import { REDIS_INSTALL_HINT, benchBullmq, redisVersion } from './bullmq.ts';
import { fmt, type DispatchResult } from './common.ts';
import { benchFloor } from './floor.ts';
import { benchMemory, type MemoryResult, type ServerMemory } from './memory.ts';
import { benchOurs, type OurBackend } from './ours.ts';

const PARTS = ['tasks', 'floor', 'memory'] as const;
type Part = (typeof PARTS)[number];
const STORES: readonly OurBackend[] = ['sqlite', 'memory'];

interface PeersOptions {
  parts: Part[];
  stores: OurBackend[];
  tasks: number;
  sequentialWarm: number;
  sequential: number;
  workers: number;
  connections: number[];
  json: boolean;
}

const USAGE = 'usage: npm run bench:peers -- [--only tasks|floor|memory] [--store sqlite|memory] [--tasks N] [--sequential-warm N] [--sequential N] [--workers N] [--connections 1000,5000] [--json]';

function positiveInt(name: string, raw: string, least = 1): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isSafeInteger(n) || n < least) throw new InvalidArgumentError(`Expected \`--${name}\` to be a ${least === 0 ? 'non-negative' : 'positive'} integer, got \`${raw}\``);
  return n;
}

/**
 * Default `--sequential-warm`: after the burst, V8 compiled the idle path's functions over the first
 * ~2,500 one-at-a-time tasks here (36 TurboFan compiles in the first 500, 0-3 per 500 after 3,000:
 * bench/RESULTS.md, "tail11").
 */
const DEFAULT_SEQUENTIAL_WARM = 3000;

function parsePeersOptions(args: string[]): PeersOptions {
  const { values } = parseArgs({
    args,
    options: {
      only: { type: 'string', multiple: true },
      store: { type: 'string', multiple: true },
      tasks: { type: 'string', default: '5000' },
      'sequential-warm': { type: 'string', default: String(DEFAULT_SEQUENTIAL_WARM) },
      sequential: { type: 'string', default: '500' },
      workers: { type: 'string', default: '8' },
      connections: { type: 'string', default: '1000,5000' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const only = (values.only ?? []).flatMap((v) => v.split(','));
  for (const part of only) {
    if (!(PARTS as readonly string[]).includes(part)) throw new InvalidArgumentError(`Expected \`--only\` to be one of ${PARTS.join(', ')}, got \`${part}\``);
  }
  const stores = (values.store ?? []).flatMap((v) => v.split(','));
  for (const store of stores) {
    if (!(STORES as readonly string[]).includes(store)) throw new InvalidArgumentError(`Expected \`--store\` to be one of ${STORES.join(', ')}, got \`${store}\``);
  }
  const connections = values.connections.split(',').map((c) => positiveInt('connections', c));
  if (connections.some((c, i) => i > 0 && c <= connections[i - 1]!)) throw new InvalidArgumentError(`Expected \`--connections\` to be increasing, got \`${values.connections}\``);
  return {
    parts: only.length > 0 ? PARTS.filter((p) => only.includes(p)) : [...PARTS],
    stores: stores.length > 0 ? STORES.filter((s) => stores.includes(s)) : [...STORES],
    tasks: positiveInt('tasks', values.tasks),
    sequentialWarm: positiveInt('sequential-warm', values['sequential-warm'], 0),
    sequential: positiveInt('sequential', values.sequential),
    workers: positiveInt('workers', values.workers),
    connections,
    json: values.json,
  };
}

function commandLine(args: string[]): { command: string; node: string } {
  const rest = args.length > 0 ? ` ${args.join(' ')}` : '';
  const script = path.relative(process.cwd(), process.argv[1]!);
  const node = `node ${process.execArgv.join(' ')} ${script}${rest}`.replace(/\s+/g, ' ');
  const event = process.env.npm_lifecycle_event;
  const viaNpm = event === 'bench:peers' || event === 'bench';
  return { command: viaNpm ? `npm run ${event}${rest ? ` --${rest}` : ''}` : node, node };
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function dispatchReport(results: DispatchResult[]): string[] {
  const ours = results.filter((r) => r.system.startsWith('cla-worker hub'));
  const rows = results.map((r) => [
    r.system,
    String(r.tasks),
    fmt(r.perSecond, 0),
    fmt(r.burst.p50Ms, 1),
    fmt(r.burst.p99Ms, 1),
    fmt(r.sequential.p50Ms, 3),
    fmt(r.sequential.p99Ms, 3),
    fmt(r.sequential.meanMs, 3),
    r.sequentialCold ? fmt(r.sequentialCold.p99Ms, 3) : '-',
  ]);
  const lines = [
    table(['system', 'tasks', 'tasks/s', 'burst p50 ms', 'burst p99 ms', 'one p50 ms', 'one p99 ms', 'one mean ms', 'cold p99 ms'], rows),
    '',
    '(burst: all tasks submitted at once, latency submit -> completion seen by the submitter, mostly queueing;',
    ' one: one task at a time through the idle system; cold: the same, for the first --sequential-warm tasks',
    ' right after the burst, while V8 still compiles the idle path: see bench/peers/driver.ts)',
    '',
  ];
  for (const r of results) {
    lines.push(`${r.system}: ${r.setup}`);
    if (r.sequentialCold) lines.push(`  cold one at a time (${r.sequentialCold.count}): p50 ${fmt(r.sequentialCold.p50Ms, 3)} ms, p99 ${fmt(r.sequentialCold.p99Ms, 3)} ms, max ${fmt(r.sequentialCold.maxMs, 3)} ms`);
    lines.push(`  burst submitted in ${fmt(r.submitMs, 1)} ms, drained in ${fmt(r.burstSeconds, 3)} s; per worker: ${Object.entries(r.perWorker).map(([w, n]) => `${w}=${n}`).join(' ')}`);
    lines.push(`  CPU per task in the burst: ${Object.entries(r.cpuPerTask).map(([role, ms]) => `${role} ${fmt(ms, 3)} ms`).join(', ')}`);
    lines.push(`  CPU per task one at a time: ${Object.entries(r.sequentialCpuPerTask).map(([role, ms]) => `${role} ${fmt(ms, 3)} ms`).join(', ')}`);
    lines.push(`  exactly once: ${r.exactlyOnce}`);
  }
  if (ours.length > 0) lines.push('', '(throughput ratio < 1 and latency or CPU ratio > 1: ours slower or costlier)');
  for (const o of ours) {
    for (const peer of results.filter((r) => !ours.includes(r))) {
      lines.push(
        `${o.system} / ${peer.system}: throughput ${fmt(o.perSecond / peer.perSecond, 2)}x, burst p50 ${fmt(o.burst.p50Ms / peer.burst.p50Ms, 2)}x, one-at-a-time p50 ${fmt(o.sequential.p50Ms / peer.sequential.p50Ms, 2)}x, p99 ${fmt(o.sequential.p99Ms / peer.sequential.p99Ms, 2)}x${o.sequentialCold && peer.sequentialCold ? ` (cold ${fmt(o.sequentialCold.p99Ms / peer.sequentialCold.p99Ms, 2)}x)` : ''}, CPU per task ${fmt(o.cpuPerTask.total! / peer.cpuPerTask.total!, 2)}x (one at a time ${fmt(o.sequentialCpuPerTask.total! / peer.sequentialCpuPerTask.total!, 2)}x)`,
      );
    }
  }
  return lines;
}

function memoryReport(result: MemoryResult): string[] {
  const mib = (b: number) => fmt(b / 1024 / 1024, 1);
  const kib = (b: number) => fmt(b / 1024, 1);
  const perConn = (m: ServerMemory, n: number, field: 'rss' | 'heapUsed') => (m.points.find((p) => p.connections === n)!.usage[field] - m.baseline[field]) / n;
  const rows = [result.hub, result.raw].flatMap((m) =>
    m.points.map((p) => [
      m.server === 'hub' ? 'cla-worker hub' : 'raw ws',
      String(p.connections),
      mib(p.usage.rss),
      mib(p.usage.heapUsed),
      mib(p.usage.external + p.usage.arrayBuffers),
      p.connections === 0 ? '-' : kib(perConn(m, p.connections, 'rss')),
      p.connections === 0 ? '-' : kib(perConn(m, p.connections, 'heapUsed')),
      p.openMs === undefined ? '-' : fmt(p.openMs / 1000, 2),
    ]),
  );
  const lines = [
    table(['server', 'idle workers', 'RSS MiB', 'heapUsed MiB', 'external MiB', 'ΔRSS/conn KiB', 'Δheap/conn KiB', 'open s'], rows),
    '',
    '(Δ from the 0-connection baseline of the same process, each reading after forced GCs)',
  ];
  for (const m of [result.hub, result.raw]) {
    lines.push(`${m.server}: ${m.setup}`);
    const [a, b] = m.points.filter((p) => p.connections > 0).slice(-2);
    if (a && b) {
      const n = b.connections - a.connections;
      lines.push(`  marginal ${a.connections} -> ${b.connections}: ΔRSS ${kib((b.usage.rss - a.usage.rss) / n)} KiB, Δheap ${kib((b.usage.heapUsed - a.usage.heapUsed) / n)} KiB per connection`);
    }
    lines.push(`  after closing all (${fmt(m.closeMs / 1000, 2)} s): RSS ${mib(m.afterClose.rss)} MiB, heapUsed ${mib(m.afterClose.heapUsed)} MiB, ${m.afterCloseConnected} connected`);
  }
  lines.push('');
  for (const p of result.hub.points.filter((x) => x.connections > 0)) {
    const n = p.connections;
    lines.push(`ours / raw ws at ${n}: ΔRSS per connection ${fmt(perConn(result.hub, n, 'rss') / perConn(result.raw, n, 'rss'), 2)}x, Δheap per connection ${fmt(perConn(result.hub, n, 'heapUsed') / perConn(result.raw, n, 'heapUsed'), 2)}x`);
  }
  lines.push(`idle workers: bare ws clients in one other process, each a hello with the PSK and its own id; open files soft ${result.fileLimit.soft}, hard ${result.fileLimit.hard}, used ${result.fileLimit.used}`);
  if (result.capped) lines.push(`NOTE: ${result.capped.asked} connections asked for, ${result.capped.measured} measured: the hard open-files limit (${result.fileLimit.hard}) holds no more in one process and cannot be raised here (\`ulimit -Hn\` needs CAP_SYS_RESOURCE)`);
  return lines;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let options: PeersOptions;
  try {
    options = parsePeersOptions(args);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const { command, node } = commandLine(args);
  const redis = redisVersion();
  const machine = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    redis: redis ?? 'not installed',
    date: new Date().toISOString(),
    /** Other work on the machine skews every figure: say how busy it was. */
    loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
  const say = (lines: string[]) => {
    if (!options.json) process.stdout.write(`${lines.join('\n')}\n`);
  };
  say([
    'cla-worker bench: peers',
    `command: ${command}`,
    ...(command === node ? [] : [`runs as: ${node}`]),
    `node ${machine.node}, ${machine.platform}, ${machine.cores} x ${machine.cpu}, ${machine.memoryGiB} GiB, redis-server ${machine.redis}, ${machine.date}`,
    `load average at start (1, 5, 15 min): ${machine.loadAverage.join(', ')}`,
    `parts: ${options.parts.join(', ')}; ${options.tasks} tasks + ${options.sequentialWarm} one at a time (cold) + ${options.sequential} one at a time over ${options.workers} worker processes`,
    '',
  ]);

  const started = performance.now();
  const dispatch: DispatchResult[] = [];
  const skipped: string[] = [];
  if (options.parts.includes('tasks') && redis === undefined) {
    skipped.push(`BullMQ skipped: redis-server is not installed. Install Debian's with: ${REDIS_INSTALL_HINT}`);
    process.stderr.write(`${skipped.at(-1)}\n`);
  }
  let memory: MemoryResult | undefined;
  const drive = { tasks: options.tasks, sequentialWarm: options.sequentialWarm, sequential: options.sequential, workers: options.workers };
  if (options.parts.includes('tasks') || options.parts.includes('floor')) {
    for (const store of options.stores) {
      say([`our dispatcher (${store === 'sqlite' ? 'SQLite' : 'in-memory'} task store) ...`]);
      dispatch.push(await benchOurs(drive, store));
    }
  }
  if (options.parts.includes('tasks')) {
    if (redis !== undefined) {
      say(['BullMQ ...']);
      dispatch.push(await benchBullmq(drive));
    }
  }
  if (options.parts.includes('floor')) {
    say(['raw ws floor ...']);
    dispatch.push(await benchFloor(drive));
  }
  if (options.parts.includes('memory')) {
    say([`idle connections (${options.connections.join(', ')}) ...`]);
    memory = await benchMemory(options.connections);
  }
  const seconds = (performance.now() - started) / 1000;

  if (options.json) {
    process.stdout.write(`${JSON.stringify({ command, node, machine, options, dispatch, memory, skipped, seconds }, null, 2)}\n`);
  } else {
    say(['']);
    if (dispatch.length > 0) say(['## task dispatch', '', ...dispatchReport(dispatch), '']);
    if (memory) say(['## hub memory per idle worker connection', '', ...memoryReport(memory), '']);
    say([...skipped, `load average at end (1, 5, 15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`, `total ${fmt(seconds, 1)} s`]);
  }
  if (skipped.length > 0) process.exitCode = 1;
}

await main();
