/**
 * Where tasks and their states live, behind one backend-neutral interface (../../../shared/STYLE.md,
 * BullMQ model): every implementation must pass test/unit/task-store-conformance.ts, which also checks it
 * against the lifecycle in machines/task.machine.ts. Each state change is one conditional write that
 * reports whether it happened (the claim is `UPDATE ... WHERE state = 'offered' AND worker = ?`, then
 * `changes === 1`), so exactly one worker ever holds a task's claim. Like the main store it holds data,
 * not rules about time: callers pass every time (ms since the epoch) and every token.
 */
import type { TaskErrorValue } from '../../../machines/task.helpers.ts';

export type { TaskErrorValue };

/** The states of machines/task.machine.ts; `done` and `failed` are final. */
export const TASK_STATES = ['pending', 'offered', 'claimed', 'done', 'failed'] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** A task as it is submitted. */
export interface NewTask {
  /** Unique id (the hub and the CLI use UUIDs). */
  id: string;
  name: string;
  attrs: Record<string, string>;
  /** A plain value (see `isPlainValue`). */
  data: unknown;
  /** ms since the epoch. */
  createdAt: number;
  /** How long the task may wait for a worker, in ms. */
  deadlineMs: number;
  /** Lost claims after which the task fails with WORKER_LOST. */
  maxAttempts: number;
}

/** A stored task. */
export interface TaskRow extends NewTask {
  /** Submission order, used to offer oldest first. */
  seq: number;
  state: TaskState;
  /** Claims so far, lost ones included. */
  attempts: number;
  /** The worker it is offered to or claimed by; the last one once back to pending, done or failed. */
  worker: string | null;
  /** The offer's token while offered, the lease token while claimed; `null` otherwise. */
  lease: string | null;
  /** When the offer or lease runs out (ms since the epoch); `null` unless offered or claimed. */
  expiresAt: number | null;
  /** `createdAt + deadlineMs`. */
  deadlineAt: number;
  /** What the handler returned, once done. */
  result: unknown;
  error: TaskErrorValue | null;
  updatedAt: number;
  /** Last offer, last claim, end (ms since the epoch). */
  offeredAt: number | null;
  claimedAt: number | null;
  finishedAt: number | null;
}

/** A task that left `offered` or `claimed` without finishing: its holder must be told and its slot freed. */
export interface ReleasedTask {
  id: string;
  /** The worker that held it. */
  worker: string;
  /** The token it held (offer or lease). */
  lease: string;
  /** What it held: an offer or a lease. */
  from: 'offered' | 'claimed';
  /** Where it went: back to `pending`, or `failed` (WORKER_LOST) after its last attempt. */
  state: 'pending' | 'failed';
}

/** What one sweep changed (see {@link TaskStore.expire}). */
export interface Expired {
  /** Offers and leases that ran out. */
  released: ReleasedTask[];
  /** Tasks that failed in this sweep: pending past their deadline, or out of attempts; final rows. */
  failed: TaskRow[];
}

/** Filters of {@link TaskStore.list}. */
export interface TaskListFilter {
  state?: TaskState;
  /** Newest first, at most this many. */
  limit: number;
}

/** The task store. Methods are synchronous (better-sqlite3); booleans say whether the write happened. */
export interface TaskStore {
  /** Runs `fn` in one transaction (nested calls join it). */
  transaction<T>(fn: () => T): T;
  /** Stores a new pending task; false when the id is taken. */
  insert(task: NewTask): boolean;
  get(id: string): TaskRow | undefined;
  list(filter: TaskListFilter): TaskRow[];
  /** Tasks per state. */
  counts(): Record<TaskState, number>;
  /** Highest `seq` so far (0 when empty): a cheap way to notice tasks inserted by another process. */
  lastSeq(): number;
  /** Pending tasks with `seq > afterSeq` whose name is in `names`, oldest first. */
  pending(afterSeq: number, names: readonly string[], limit: number): TaskRow[];
  /** pending -> offered to `worker` with an offer `token` until `expiresAt`. */
  offer(id: string, worker: string, token: string, at: number, expiresAt: number): boolean;
  /**
   * offered to `worker` -> claimed under `lease` until `expiresAt`; attempts + 1. One atomic UPDATE:
   * of two claims for the same offer, exactly one returns true.
   */
  claim(id: string, worker: string, lease: string, at: number, expiresAt: number): boolean;
  /** Moves a claimed task's expiry when `lease` is its current lease. */
  renew(id: string, lease: string, at: number, expiresAt: number): boolean;
  /** claimed under `lease` -> done; returns the final row, or undefined when the lease is not current. */
  complete(id: string, lease: string, result: unknown, at: number): TaskRow | undefined;
  /** claimed under `lease` -> failed with `error`; returns the final row, or undefined. */
  fail(id: string, lease: string, error: TaskErrorValue, at: number): TaskRow | undefined;
  /**
   * The holder of `token` is gone (disconnected): offered -> pending; claimed -> pending, or failed with
   * WORKER_LOST when its attempts are used up. Undefined when `token` no longer holds the task.
   */
  release(id: string, token: string, at: number): ReleasedTask | undefined;
  /** Offers and leases with `expiresAt <= now` are released; pending tasks with `deadlineAt <= now` fail. */
  expire(now: number): Expired;
  /** After a hub restart: every offered or claimed task goes back to pending. Returns how many. */
  recover(at: number): number;
  close(): void;
}
