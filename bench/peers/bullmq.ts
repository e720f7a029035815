/**
 * BullMQ in the peers comparison: Debian's `redis-server` started here on a free loopback port with no
 * persistence (`--save '' --appendonly no`), a `Queue` and a `QueueEvents` in this process, and
 * `workers` BullMQ `Worker`s at concurrency 1, each in its own process (bullmq-worker.ts), running the
 * same echo. Latency runs from `queue.add()` to the `completed` queue event seen here, the counterpart of
 * our `TaskHub.finished$`.
 *
 * Exactly once: each `completed` event arrives once per job id with the job's data as its return value
 * (driver.ts), the workers' own counts say each id ran once in one worker, and Redis counts every job as
 * completed, none failed, waiting, active or delayed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { mergeProcessed, startChild, type Child, type DispatchResult } from './common.ts';
import { drive, type DriveOptions } from './driver.ts';

export const REDIS_INSTALL_HINT = 'apt-get install -y --no-install-recommends redis-server';
const QUEUE = 'peers-echo';

/** `redis-server --version`, or undefined when it is not installed. */
export function redisVersion(): string | undefined {
  const run = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (run.error || run.status !== 0) return undefined;
  return /v=(\S+)/.exec(run.stdout)?.[1] ?? run.stdout.trim();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server: loopback only, no RDB snapshots, no AOF, its files in a temp folder. */
async function startRedis(): Promise<{ port: number; process: ChildProcess; dir: string }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined); // refused while redis starts: connect() rejects too, and we retry
  const until = performance.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch (error) {
      client.disconnect();
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} at start`);
      if (performance.now() > until) throw new Error(`redis-server did not answer on port ${port} within 10 s: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  client.disconnect();
  return { port, process: child, dir };
}

async function stopRedis(redis: { process: ChildProcess; dir: string }): Promise<void> {
  const { process: child } = redis;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM'); // redis-server shuts down cleanly on SIGTERM (and saves nothing: --save '')
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    force.unref();
    await exited;
    clearTimeout(force);
  }
  fs.rmSync(redis.dir, { recursive: true, force: true });
}

export async function benchBullmq(options: DriveOptions): Promise<DispatchResult> {
  const redis = await startRedis();
  const connection = { host: '127.0.0.1', port: redis.port };
  // The events stream is trimmed to about 10,000 entries by default, and a burst makes ~4 events per job:
  // keep them all so no `completed` event can be trimmed before QueueEvents reads it.
  const queue = new Queue(QUEUE, { connection, streams: { events: { maxLen: 20 * (options.tasks + options.sequentialWarm + options.sequential) + 10_000 } } });
  const events = new QueueEvents(QUEUE, { connection: { ...connection, maxRetriesPerRequest: null } });
  const children: Child[] = [];
  try {
    await queue.waitUntilReady();
    await events.waitUntilReady();
    for (let i = 1; i <= options.workers; i++) children.push(startChild(`bullmq worker ${i}`, 'bullmq-worker.ts', [String(redis.port), QUEUE, `bullmq-${i}`]));
    const ready = new Set<string>();
    for (const child of children) void child.next('ready').then((m) => ready.add(m.id), () => undefined);

    let next = 0;
    const addFailures: string[] = [];
    const result = await drive(
      {
        submit: (data) => {
          const id = `j${next++}`;
          queue.add('echo', data, { jobId: id }).catch((error: unknown) => addFailures.push(`${id}: ${(error as Error).message}`));
          return id;
        },
        onDone: (listener) => {
          events.on('completed', ({ jobId, returnvalue }) => listener(jobId, true, typeof returnvalue === 'string' ? (JSON.parse(returnvalue) as unknown) : returnvalue));
          events.on('failed', ({ jobId, failedReason }) => listener(jobId, false, failedReason));
        },
        workersSeen: () => ready.size,
        processes: () => ({ workers: children.map((child) => child.proc.pid!), 'redis-server': [redis.process.pid!] }),
      },
      options,
    );
    if (addFailures.length > 0) throw new Error(`${addFailures.length} adds failed, e.g. ${addFailures[0]}`);

    const reports = await Promise.all(
      children.map((child) => {
        const reply = child.next('processed');
        child.send({ type: 'report' });
        return reply;
      }),
    );
    const { total, duplicates } = mergeProcessed(reports.map((r) => r.ids));
    const missing = [...result.measured.keys()].filter((id) => total.get(id) !== 1);
    const counts = await queue.getJobCounts('completed', 'failed', 'active', 'wait', 'delayed', 'prioritized', 'waiting-children');
    const expected = result.measured.size + result.warmTasks;
    const leftover = counts.failed! + counts.active! + counts.wait! + counts.delayed! + counts.prioritized! + counts['waiting-children']!;
    if (duplicates.length > 0 || missing.length > 0 || counts.completed !== expected || leftover !== 0) {
      throw new Error(`exactly-once check failed: ${duplicates.length} jobs ran more than once, ${missing.length} measured jobs not run exactly once, counts ${JSON.stringify(counts)}`);
    }
    const perWorker: Record<string, number> = {};
    for (const report of reports) perWorker[report.id] = Object.keys(report.ids).filter((id) => result.measured.has(id)).length;
    return {
      system: 'BullMQ',
      setup: `Queue + QueueEvents in the bench process, redis-server ${redisVersion() ?? '?'} (no persistence), ${options.workers} Worker processes at concurrency 1`,
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
      perWorker: Object.fromEntries(Object.entries(perWorker).sort()),
      exactlyOnce: `Redis: ${counts.completed} completed (${result.warmTasks} warm-up), 0 failed/active/waiting; one completed event per job; workers ran each job once`,
    };
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    await events.close();
    await queue.close();
    await stopRedis(redis);
  }
}
