/**
 * Which worker a task is leased to: pure, so the rule is tested without sockets.
 *
 * 1. Only workers with a handler for the task's name whose filter matches its attributes are candidates.
 * 2. The most specific filter wins: a worker whose filter constrains more of the task's attributes
 *    (`{cloud: [aws], account: [123]}` over `{cloud: [aws]}`) takes the task. The rule is strict: while a
 *    more specific worker is connected, the task waits for a free slot there instead of falling back to
 *    a catch-all. Whoever declared account 123 explicitly is the worker meant for it (its credentials,
 *    its network); a catch-all that steals such tasks whenever the specific worker is busy would make
 *    routing depend on load. A catch-all takes the task only when no more specific worker is connected
 *    and enabled (a disabled or leaving worker is not a candidate at all).
 * 3. Among the winners, the least loaded one: the lowest share of its task capacity in use, then the
 *    fewest tasks held, then the worker id (so ties are deterministic).
 */
import { bestSpecificity, type TaskFilter } from '../../../machines/task.helpers.ts';

/** A connected worker as the selection sees it. */
export interface TaskCandidate {
  workerId: string;
  handlers: ReadonlyArray<{ name: string; filter: TaskFilter }>;
  /** Tasks it may hold at once (leased: running or queued). */
  capacity: number;
  /** Tasks it holds now. */
  held: number;
}

/** What {@link selectWorker} decided. */
export type Selection<C extends TaskCandidate> =
  /** Lease it to this worker. */
  | { kind: 'lease'; worker: C; specificity: number }
  /** Matching workers exist, but every one of the most specific is full: wait. */
  | { kind: 'busy'; specificity: number }
  /** No connected worker can handle the task. */
  | { kind: 'none' };

/** Picks the worker for a task of `name` with `attrs` (see the file comment for the rule). */
export function selectWorker<C extends TaskCandidate>(candidates: Iterable<C>, name: string, attrs: Readonly<Record<string, string>>): Selection<C> {
  let bestSpec = -1;
  let best: C | undefined;
  for (const candidate of candidates) {
    const spec = bestSpecificity(candidate.handlers, name, attrs);
    if (spec < 0) continue;
    if (spec > bestSpec) {
      bestSpec = spec;
      best = undefined;
    } else if (spec < bestSpec) continue;
    if (candidate.held >= candidate.capacity) continue;
    if (best === undefined || lessLoaded(candidate, best)) best = candidate;
  }
  if (bestSpec < 0) return { kind: 'none' };
  return best === undefined ? { kind: 'busy', specificity: bestSpec } : { kind: 'lease', worker: best, specificity: bestSpec };
}

function lessLoaded(a: TaskCandidate, b: TaskCandidate): boolean {
  // Cross-multiplied shares avoid floating point: a.held / a.capacity < b.held / b.capacity.
  const share = a.held * b.capacity - b.held * a.capacity;
  if (share !== 0) return share < 0;
  if (a.held !== b.held) return a.held < b.held;
  return a.workerId < b.workerId;
}
