/**
 * Pure helpers of the task lifecycle: the errors a task fails with and how a handler's filter matches a
 * task's attributes. They compute, never act; the machine, the hub's store and dispatcher and the
 * worker's task extension all use them, so every side words and matches the same way.
 */
import type { WireError } from '../src/errors.ts';

/** How a task's error is kept: the wire form of an error (code, message, retryable, data). */
export type TaskErrorValue = WireError;

/** A handler's filter: attribute -> accepted values (see `taskHandlerSchema` in frames-bus.ts). */
export type TaskFilter = Readonly<Record<string, readonly string[]>>;

/** `{account=123, cloud=aws}`: attributes sorted by name, for messages. */
export function formatAttrs(attrs: Readonly<Record<string, string>>): string {
  const entries = Object.keys(attrs)
    .sort()
    .map((key) => `${key}=${attrs[key]}`);
  return `{${entries.join(', ')}}`;
}

/** `60 s`, `1.5 s`. */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** The facts an error message needs. */
export interface TaskFacts {
  id: string;
  name: string;
  attrs: Readonly<Record<string, string>>;
  deadlineMs: number;
  attempts: number;
  worker: string | null;
}

/** The error of a task that no worker took before its deadline (NO_WORKER, retryable). */
export function noWorkerError(task: TaskFacts): TaskErrorValue {
  const lost = task.attempts > 0 ? ` (its ${task.attempts} claim(s) were lost, the last by worker ${task.worker})` : '';
  return {
    code: 'NO_WORKER',
    message: `No worker for task ${task.name} with attributes ${formatAttrs(task.attrs)} within its deadline of ${seconds(task.deadlineMs)}${lost}`,
    retryable: true,
    data: { task: task.id, name: task.name, attrs: { ...task.attrs }, deadlineMs: task.deadlineMs, attempts: task.attempts },
  };
}

/** The error of a task whose claims were lost `attempts` times (WORKER_LOST, retryable). */
export function workerLostError(task: TaskFacts): TaskErrorValue {
  return {
    code: 'WORKER_LOST',
    message: `Task ${task.name} ${task.id} lost its worker ${task.attempts} time(s), the last being ${task.worker}; giving up`,
    retryable: true,
    data: { task: task.id, name: task.name, attempts: task.attempts, worker: task.worker },
  };
}

/**
 * How specifically `filter` matches `attrs`: the number of attributes it constrains (0 for an empty
 * filter, which matches every task of its name), or -1 when some filtered attribute is missing from the
 * task or has none of the accepted values.
 */
export function filterSpecificity(filter: TaskFilter, attrs: Readonly<Record<string, string>>): number {
  let constrained = 0;
  for (const [key, accepted] of Object.entries(filter)) {
    const value = Object.hasOwn(attrs, key) ? attrs[key] : undefined;
    if (value === undefined || !accepted.includes(value)) return -1;
    constrained += 1;
  }
  return constrained;
}

/** The best specificity among handlers `{name, filter}` for a task, or -1 when none matches. */
export function bestSpecificity(
  handlers: ReadonlyArray<{ name: string; filter: TaskFilter }>,
  name: string,
  attrs: Readonly<Record<string, string>>,
): number {
  let best = -1;
  for (const handler of handlers) {
    if (handler.name !== name) continue;
    best = Math.max(best, filterSpecificity(handler.filter, attrs));
  }
  return best;
}
