/**
 * The worker's task options: `--task-concurrency N`, `--task-prefetch N` and `--task-handler NAME[:FILTER]`
 * (repeatable), or `CLA_WORKER_TASK_CONCURRENCY`, `CLA_WORKER_TASK_PREFETCH` and `CLA_WORKER_TASK_HANDLERS`
 * (specs separated by spaces); flags win.
 *
 * A handler spec names a built-in handler (builtin-handlers.ts), which handles tasks of the same name,
 * and optionally the filter it announces: `echo`, `shell:cloud=aws,account=123,account=456` (a repeated
 * attribute accepts several values: `{cloud: [aws], account: [123, 456]}`).
 */
import { InvalidArgumentError, describeValue } from '../../errors.ts';
import { BUILTIN_TASK_HANDLERS } from './builtin-handlers.ts';
import { DEFAULT_TASK_CONCURRENCY, MAX_TASK_CAPACITY } from './task-extension.ts';

/** One `--task-handler`. */
export interface TaskHandlerOption {
  /** The built-in handler and the task name it handles. */
  name: string;
  filter: Record<string, string[]>;
}

/** The worker's task options after merging. */
export interface WorkerTaskOptions {
  /**
   * Tasks run at once. @default 4: tasks are mostly calls to cloud APIs (tagging a resource), so a few
   * in parallel hide their latency where 1 would queue a burst behind one slow call; 4 stays well under
   * the usual per-account API rate limits and matches libuv's default thread pool, and a worker that
   * runs heavier tasks lowers it.
   */
  concurrency: number;
  /**
   * Leased tasks held beyond `concurrency`, waiting in the worker's queue. @default undefined:
   * `max(concurrency, 16)` (see `defaultTaskPrefetch` in task-extension.ts); 0 for long tasks that should
   * not wait behind each other on one worker.
   */
  prefetch?: number;
  handlers: TaskHandlerOption[];
}

/** Parses `NAME[:attr=value,...]`. @throws InvalidArgumentError */
export function parseTaskHandlerSpec(spec: string, label = '--task-handler'): TaskHandlerOption {
  const colon = spec.indexOf(':');
  const name = (colon < 0 ? spec : spec.slice(0, colon)).trim();
  if (!(BUILTIN_TASK_HANDLERS as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(`Expected \`${label}\` to name a handler among ${BUILTIN_TASK_HANDLERS.join(', ')} (optionally :attr=value,...), got \`${spec}\``);
  }
  const filter: Record<string, string[]> = {};
  if (colon >= 0) {
    for (const part of spec.slice(colon + 1).split(',')) {
      const eq = part.indexOf('=');
      const key = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim();
      if (eq <= 0 || key === '' || value === '') throw new InvalidArgumentError(`Expected \`${label}\` filter entries as attr=value, got \`${part}\` in \`${spec}\``);
      const values = (filter[key] ??= []);
      if (!values.includes(value)) values.push(value);
    }
  }
  return { name, filter };
}

/** Merges flags (`taskConcurrency`, `taskHandler` as commander gives them) over the environment. */
export function parseTaskOptions(flags: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv = process.env): WorkerTaskOptions {
  const rawConcurrency = flags.taskConcurrency ?? env.CLA_WORKER_TASK_CONCURRENCY;
  const label = flags.taskConcurrency !== undefined ? '--task-concurrency' : 'CLA_WORKER_TASK_CONCURRENCY';
  let concurrency = DEFAULT_TASK_CONCURRENCY;
  if (rawConcurrency !== undefined && rawConcurrency !== '') {
    concurrency = typeof rawConcurrency === 'string' && /^\s*\d+\s*$/.test(rawConcurrency) ? Number(rawConcurrency) : typeof rawConcurrency === 'number' ? rawConcurrency : NaN;
    if (!Number.isSafeInteger(concurrency) || concurrency <= 0 || concurrency > 10_000) {
      throw new InvalidArgumentError(`Expected \`${label}\` to be a positive integer up to 10000, got ${describeValue(rawConcurrency)}`);
    }
  }
  const rawPrefetch = flags.taskPrefetch ?? env.CLA_WORKER_TASK_PREFETCH;
  const prefetchLabel = flags.taskPrefetch !== undefined ? '--task-prefetch' : 'CLA_WORKER_TASK_PREFETCH';
  let prefetch: number | undefined;
  if (rawPrefetch !== undefined && rawPrefetch !== '') {
    prefetch = typeof rawPrefetch === 'string' && /^\s*\d+\s*$/.test(rawPrefetch) ? Number(rawPrefetch) : typeof rawPrefetch === 'number' ? rawPrefetch : NaN;
    const most = MAX_TASK_CAPACITY - concurrency;
    if (!Number.isSafeInteger(prefetch) || prefetch < 0 || prefetch > most) {
      throw new InvalidArgumentError(`Expected \`${prefetchLabel}\` to be an integer from 0 to ${most} (${MAX_TASK_CAPACITY} less the task concurrency), got ${describeValue(rawPrefetch)}`);
    }
  }
  const fromFlags = flags.taskHandler;
  let specs: string[];
  let specLabel = '--task-handler';
  if (fromFlags !== undefined) {
    specs = (Array.isArray(fromFlags) ? fromFlags : [fromFlags]).map(String);
  } else {
    specs = (env.CLA_WORKER_TASK_HANDLERS ?? '').split(/\s+/).filter(Boolean);
    specLabel = 'CLA_WORKER_TASK_HANDLERS';
  }
  return { concurrency, ...(prefetch === undefined ? {} : { prefetch }), handlers: specs.map((spec) => parseTaskHandlerSpec(spec, specLabel)) };
}
