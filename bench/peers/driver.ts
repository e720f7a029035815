/**
 * The one load every system gets in the dispatch comparison, so the three columns measure the same thing:
 *
 * 1. warm-up: rounds of `2 x workers` tasks until every worker has run at least one (at most 60 s);
 * 2. burst: `tasks` echo tasks submitted back to back, then drained: tasks per second from the first
 *    submit to the last completion, and each task's submit -> completion latency (mostly queueing, by
 *    construction: the last task waits behind all the others);
 * 3. one at a time, cold: `sequentialWarm` tasks, each submitted after the previous one completed,
 *    right after the burst. Their latency is reported apart (`sequentialCold`): while they run, V8 still
 *    compiles the functions of the idle path (the burst made other ones hot), on background threads that
 *    the 2-core VM's scheduler lets run ahead of the woken event-loop thread, a few ms at a time: that
 *    warm-up was the whole one-at-a-time p99 tail of our hub (bench/RESULTS.md, "tail11").
 * 4. one at a time: `sequential` more tasks the same way: the latency of one task through an idle,
 *    warmed-up system, as a long-running hub or worker serves it.
 *
 * Completions are the ones the submitting side observes (our `TaskHub.finished$`, BullMQ's `completed`
 * queue event, the floor's reply). Each measured id must complete exactly once with its own data as the
 * result; the systems add their own checks on top (the task store, the workers' own counts).
 */
import { cpuMs, latency, type Latency } from './common.ts';

/** The data of one echo task. */
export interface Payload {
  phase: 'warm' | 'burst' | 'cold' | 'one';
  i: number;
}

/** One system under test, as the driver sees it. */
export interface EchoSystem {
  /** Submits one echo task and returns its id at once; never waits for the task. */
  submit(data: Payload): string;
  /** Called for every completion the system reports; `ok: false` for a failed task. */
  onDone(listener: (id: string, ok: boolean, result: unknown) => void): void;
  /** Distinct workers that have run a task so far. */
  workersSeen(): number;
  /** The system's processes other than this one, by role (e.g. `workers`, `redis-server`). */
  processes(): Record<string, number[]>;
}

export interface DriveOptions {
  tasks: number;
  /** One-at-a-time tasks measured apart before the `sequential` ones (0: none). */
  sequentialWarm: number;
  sequential: number;
  workers: number;
}

export interface DriveResult {
  burstSeconds: number;
  submitMs: number;
  burst: Latency;
  /** The first `sequentialWarm` one-at-a-time tasks, right after the burst; undefined when there were none. */
  sequentialCold: Latency | undefined;
  sequential: Latency;
  /** CPU ms per burst task: `bench process` (this one), each role of {@link EchoSystem.processes}, `total`. */
  cpuPerTask: Record<string, number>;
  /** The same for the one-at-a-time tasks: what one task costs through an idle system, less load-sensitive than its latency. */
  sequentialCpuPerTask: Record<string, number>;
  /** Ids of the measured tasks (burst, cold, one-at-a-time), with their data. */
  measured: Map<string, Payload>;
  warmTasks: number;
}

interface Seen {
  at: number;
  times: number;
  ok: boolean;
  result: unknown;
}

const WARM_LIMIT_MS = 60_000;

export async function drive(system: EchoSystem, options: DriveOptions): Promise<DriveResult> {
  const seen = new Map<string, Seen>();
  const waiting = new Map<string, () => void>();
  system.onDone((id, ok, result) => {
    const before = seen.get(id);
    if (before) {
      before.times += 1;
      return;
    }
    seen.set(id, { at: performance.now(), times: 1, ok, result });
    const wake = waiting.get(id);
    if (wake) {
      waiting.delete(id);
      wake();
    }
  });
  const done = (id: string) => (seen.has(id) ? Promise.resolve() : new Promise<void>((resolve) => waiting.set(id, resolve)));

  // 1. warm-up
  const warmStart = performance.now();
  let warmTasks = 0;
  while (system.workersSeen() < options.workers) {
    const left = WARM_LIMIT_MS - (performance.now() - warmStart);
    if (left <= 0) throw new Error(`warm-up: only ${system.workersSeen()} of ${options.workers} workers ran a task within ${WARM_LIMIT_MS / 1000} s`);
    const ids = Array.from({ length: options.workers * 2 }, () => system.submit({ phase: 'warm', i: warmTasks++ }));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`warm-up: tasks still not done after ${WARM_LIMIT_MS / 1000} s (${system.workersSeen()} workers seen)`)), left);
    });
    try {
      await Promise.race([Promise.all(ids.map(done)), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  // 2. burst
  const measured = new Map<string, Payload>();
  const submittedAt = new Map<string, number>();
  const roles = Object.entries(system.processes());
  let cpuBefore = cpuNow(roles);
  const start = performance.now();
  for (let i = 0; i < options.tasks; i++) {
    const data: Payload = { phase: 'burst', i };
    const at = performance.now();
    const id = system.submit(data);
    measured.set(id, data);
    submittedAt.set(id, at);
  }
  const submitMs = performance.now() - start;
  await Promise.all([...submittedAt.keys()].map(done));
  const cpuPerTask = cpuSince(cpuBefore, roles, options.tasks);
  let last = start;
  for (const id of submittedAt.keys()) last = Math.max(last, seen.get(id)!.at);
  const burst = latency([...submittedAt].map(([id, at]) => seen.get(id)!.at - at));

  /** Runs `count` tasks one at a time; their latencies. */
  const oneAtATime = async (phase: 'cold' | 'one', count: number): Promise<number[]> => {
    const single: number[] = [];
    for (let i = 0; i < count; i++) {
      const data: Payload = { phase, i };
      const at = performance.now();
      const id = system.submit(data);
      measured.set(id, data);
      await done(id);
      single.push(seen.get(id)!.at - at);
    }
    return single;
  };

  // 3. one at a time, cold
  const cold = await oneAtATime('cold', options.sequentialWarm);

  // 4. one at a time
  cpuBefore = cpuNow(roles);
  const single = await oneAtATime('one', options.sequential);
  const sequentialCpuPerTask = cpuSince(cpuBefore, roles, options.sequential);

  // Let late duplicates, if any, arrive before counting.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const wrong: string[] = [];
  for (const [id, data] of measured) {
    const s = seen.get(id);
    if (!s) wrong.push(`${id}: never completed`);
    else if (s.times !== 1) wrong.push(`${id}: completed ${s.times} times`);
    else if (!s.ok) wrong.push(`${id}: failed (${JSON.stringify(s.result)})`);
    else if (JSON.stringify(s.result) !== JSON.stringify(data)) wrong.push(`${id}: result ${JSON.stringify(s.result)} is not its data ${JSON.stringify(data)}`);
  }
  if (wrong.length > 0) throw new Error(`exactly-once check failed for ${wrong.length} tasks, e.g. ${wrong.slice(0, 3).join('; ')}`);
  return { burstSeconds: (last - start) / 1000, submitMs, burst, sequentialCold: cold.length > 0 ? latency(cold) : undefined, sequential: latency(single), cpuPerTask, sequentialCpuPerTask, measured, warmTasks };
}

type Roles = Array<[string, number[]]>;

function cpuNow(roles: Roles): { self: NodeJS.CpuUsage; roles: number[] } {
  return { self: process.cpuUsage(), roles: roles.map(([, pids]) => cpuMs(pids)) };
}

/** CPU ms per task since `before`: `bench process` (this one), each role, `total`. */
function cpuSince(before: { self: NodeJS.CpuUsage; roles: number[] }, roles: Roles, tasks: number): Record<string, number> {
  const self = process.cpuUsage(before.self);
  const perTask: Record<string, number> = { 'bench process': (self.user + self.system) / 1000 / tasks };
  roles.forEach(([role, pids], i) => (perTask[role] = (cpuMs(pids) - before.roles[i]!) / tasks));
  perTask.total = Object.values(perTask).reduce((sum, ms) => sum + ms, 0);
  return perTask;
}
