/**
 * Shared pieces of the peers benchmark (bench/peers/run.ts): latency summaries, child processes that
 * talk to the parent over Node's IPC channel, and the messages they exchange. Timing reads the monotonic
 * `performance.now()` directly: measuring wall time is the point of a benchmark (../../../shared/STYLE.md).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PEERS_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.dirname(path.dirname(PEERS_DIR));

/** Submit -> done latencies of one phase, in ms. */
export interface Latency {
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** One system's dispatch figures (our hub, BullMQ, or the raw ws floor). */
export interface DispatchResult {
  system: string;
  /** What ran where, one line. */
  setup: string;
  tasks: number;
  workers: number;
  /** First submit to last completion of the burst, in s. */
  burstSeconds: number;
  perSecond: number;
  /** Time spent submitting the burst (the submit loop alone), in ms. */
  submitMs: number;
  burst: Latency;
  /** The first one-at-a-time tasks, right after the burst, while V8 still compiles the idle path (driver.ts); absent with `--sequential-warm 0`. */
  sequentialCold?: Latency;
  /** One task at a time through an idle system, after those. */
  sequential: Latency;
  /** Measured tasks each worker ran, by worker. */
  perWorker: Record<string, number>;
  /** CPU time (user + system) spent during the burst per task, in ms, by role (see {@link cpuMs}). */
  cpuPerTask: Record<string, number>;
  /** The same over the one-at-a-time tasks. */
  sequentialCpuPerTask: Record<string, number>;
  /** How exactly-once was checked, and what was found. */
  exactlyOnce: string;
}

let ticksPerSecond: number | undefined;

/**
 * CPU time (user + system) used so far by the given processes, in ms, from /proc/PID/stat (Linux; NaN
 * elsewhere or for a process that is gone). The resolution is one clock tick, usually 10 ms.
 */
export function cpuMs(pids: number[]): number {
  ticksPerSecond ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  let ticks = 0;
  for (const pid of pids) {
    try {
      // The command name (field 2) may hold spaces: count fields from the closing parenthesis.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    } catch {
      return Number.NaN;
    }
  }
  return (ticks * 1000) / ticksPerSecond;
}

/** Parent -> child and child -> parent messages over the IPC channel. */
export type ChildMessage =
  | { type: 'ready'; id: string }
  | { type: 'processed'; id: string; ids: Record<string, number> }
  | { type: 'memory'; usage: NodeJS.MemoryUsage; connected: number }
  | { type: 'opened'; total: number; ms: number }
  | { type: 'closed'; ms: number }
  | { type: 'url'; url: string; psk: string }
  | { type: 'error'; message: string };

export type ParentMessage = { type: 'report' } | { type: 'measure' } | { type: 'open'; total: number } | { type: 'close' } | { type: 'stop' };

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    meanMs: sorted.reduce((sum, ms) => sum + ms, 0) / sorted.length,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.at(-1)!,
  };
}

/** A child process with an IPC channel, and a way to wait for its next message of a given type. */
export class Child {
  /** Callers of {@link next} still waiting, oldest first. */
  private readonly waiting: Array<{ type: ChildMessage['type']; settle: (m: ChildMessage) => void }> = [];
  /** Messages nobody waited for yet. */
  private readonly queued: ChildMessage[] = [];
  readonly exited: Promise<string | null>;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    proc.on('message', (raw) => {
      const message = raw as ChildMessage;
      if (message.type === 'error' && this.waiting.length > 0) {
        // A failure in the child fails every wait on it.
        for (const waiter of this.waiting.splice(0)) waiter.settle(message);
        return;
      }
      const index = this.waiting.findIndex((w) => w.type === message.type);
      if (index >= 0) this.waiting.splice(index, 1)[0]!.settle(message);
      else this.queued.push(message);
    });
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(signal ?? (code === 0 ? null : String(code)))));
  }

  send(message: ParentMessage): void {
    this.proc.send(message);
  }

  /** The next message of `type`; rejects when the child sends `error` or exits first. */
  next<T extends ChildMessage['type']>(type: T): Promise<Extract<ChildMessage, { type: T }>> {
    const failed = (m: Extract<ChildMessage, { type: 'error' }>) => new Error(`${this.name}: ${m.message}`);
    const index = this.queued.findIndex((m) => m.type === type || m.type === 'error');
    if (index >= 0) {
      const m = this.queued.splice(index, 1)[0]!;
      return m.type === 'error' ? Promise.reject(failed(m)) : Promise.resolve(m as Extract<ChildMessage, { type: T }>);
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ type, settle: (m) => (m.type === 'error' ? reject(failed(m)) : resolve(m as Extract<ChildMessage, { type: T }>)) });
      // Once settled, this late reject is a no-op.
      void this.exited.then((how) => reject(new Error(`${this.name} exited (${how ?? 0}) before sending \`${type}\``)));
    });
  }

  /** SIGTERM, then SIGKILL after 5 s: cleanup must not hang the benchmark. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const force = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    force.unref();
    await this.exited;
    clearTimeout(force);
  }
}

/**
 * Starts `node [nodeArgs] --import tsx bench/peers/SCRIPT args` with an IPC channel. With `fileLimit`,
 * the child runs under `sh -c 'ulimit -n LIMIT; exec node ...'` so it may open that many sockets.
 */
export function startChild(name: string, script: string, args: string[], options: { nodeArgs?: string[]; fileLimit?: number } = {}): Child {
  const nodeArgv = [...(options.nodeArgs ?? []), '--import', 'tsx', path.join(PEERS_DIR, script), ...args];
  const stdio: Array<'ignore' | 'inherit' | 'ipc'> = ['ignore', 'inherit', 'inherit', 'ipc'];
  const child =
    options.fileLimit === undefined
      ? spawn(process.execPath, nodeArgv, { cwd: ROOT, stdio })
      : spawn('sh', ['-c', `ulimit -n ${options.fileLimit} && exec "$0" "$@"`, process.execPath, ...nodeArgv], { cwd: ROOT, stdio });
  return new Child(name, child);
}

/** For child scripts: sends a message to the parent (no-op without an IPC channel). */
export function tell(message: ChildMessage): void {
  process.send?.(message);
}

/** For child scripts: calls `handler` for each parent message; reports its failures as `error`. */
export function onParent(handler: (message: ParentMessage) => void | Promise<void>): void {
  process.on('message', (raw) => {
    Promise.resolve()
      .then(() => handler(raw as ParentMessage))
      .catch((error: unknown) => tell({ type: 'error', message: (error as Error).stack ?? String(error) }));
  });
  // The parent going away closes the channel: leave rather than linger.
  process.on('disconnect', () => process.exit(0));
}

/**
 * For child scripts: on SIGTERM, runs `cleanup` and exits 0 (the IPC channel would otherwise keep the
 * process alive); a failing cleanup exits 1.
 */
export function exitOnSigterm(cleanup: () => Promise<void>): void {
  process.once('SIGTERM', () => {
    cleanup().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
        process.exit(1);
      },
    );
  });
}

/** Merges the per-id counts the worker processes reported; `duplicates` are ids seen more than once. */
export function mergeProcessed(reports: Array<Record<string, number>>): { total: Map<string, number>; duplicates: string[] } {
  const total = new Map<string, number>();
  for (const report of reports) for (const [id, n] of Object.entries(report)) total.set(id, (total.get(id) ?? 0) + n);
  return { total, duplicates: [...total].filter(([, n]) => n !== 1).map(([id]) => id) };
}

export const fmt = (n: number, digits = 2): string => n.toFixed(digits);
