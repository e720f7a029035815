/**
 * Where tasks and their states live, behind one backend-neutral interface (../../../shared/STYLE.md,
 * BullMQ model): every implementation must pass test/unit/task-store-conformance.ts, which also checks it
 * against the lifecycle in machines/task.machine.ts. Each state change is one conditional write that
 * reports whether it happened (the lease is `UPDATE ... WHERE id = ? AND state = 'pending'`, then
 * `changes === 1`), so exactly one worker ever holds a task's lease. Like the main store it holds data,
 * not rules about time: callers pass every time (ms since the epoch) and every token.
 */
import type { TaskErrorValue } from '../../../machines/task.helpers.ts';
import { decodeValue } from '../../protocol/codec.ts';

export type { TaskErrorValue };

/**
 * The states of machines/task.machine.ts; `done` and `failed` are final. (`offered`, of the two-step
 * path before issue 9, is gone: schema step `offered-to-pending` turned the last such rows into pending.)
 */
export const TASK_STATES = ['pending', 'claimed', 'done', 'failed'] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** A task as it is submitted. */
export interface NewTask {
  /** Unique id (the hub and the CLI use UUIDs). */
  id: string;
  name: string;
  attrs: Record<string, string>;
  /**
   * The task's data as msgpack bytes (`encodeValue` of a plain value, see `isPlainValue`): stored and
   * pushed to the worker as they are (issue 9: data and results stay msgpack bytes end to end).
   */
  data: Uint8Array;
  /** ms since the epoch. */
  createdAt: number;
  /** How long the task may wait for a worker, in ms. */
  deadlineMs: number;
  /** Lost claims after which the task fails with WORKER_LOST. */
  maxAttempts: number;
}

/** A stored task. */
export interface TaskRow extends NewTask {
  /** Submission order, used to lease oldest first. */
  seq: number;
  state: TaskState;
  /** Claims so far, lost ones included. */
  attempts: number;
  /** The worker it is leased to; the last one once back to pending, done or failed. */
  worker: string | null;
  /** The lease token while claimed; `null` otherwise. */
  lease: string | null;
  /** The hub that granted the current lease; `null` unless claimed. */
  owner: string | null;
  /** When the lease runs out (ms since the epoch); `null` unless claimed. */
  expiresAt: number | null;
  /** `createdAt + deadlineMs`. */
  deadlineAt: number;
  /** What the handler returned, once done: msgpack bytes as the worker sent them (`decodeValue` reads them). */
  result: Uint8Array | null;
  error: TaskErrorValue | null;
  updatedAt: number;
  /**
   * Last push, last lease, end (ms since the epoch). A lease is its push, so the first two are equal
   * (rows written before issue 9 keep the time of their last offer).
   */
  offeredAt: number | null;
  claimedAt: number | null;
  finishedAt: number | null;
}

/** The row of a task just submitted: pending, never leased. */
export function newTaskRow(task: NewTask, seq: number): TaskRow {
  return {
    id: task.id,
    name: task.name,
    attrs: task.attrs,
    data: task.data,
    createdAt: task.createdAt,
    deadlineMs: task.deadlineMs,
    maxAttempts: task.maxAttempts,
    seq,
    state: 'pending',
    attempts: 0,
    worker: null,
    lease: null,
    owner: null,
    expiresAt: null,
    deadlineAt: task.createdAt + task.deadlineMs,
    result: null,
    error: null,
    updatedAt: task.createdAt,
    offeredAt: null,
    claimedAt: null,
    finishedAt: null,
  };
}

/**
 * A task as the library API, the admin methods and the CLI show it: a {@link TaskRow} with its data and
 * result decoded (the store keeps them as msgpack bytes; they are decoded only here, where they are used).
 */
export interface TaskView extends Omit<TaskRow, 'data' | 'result'> {
  /** A plain value. */
  data: unknown;
  /** What the handler returned, once done; `null` otherwise. */
  result: unknown;
}

/**
 * A stored row as {@link TaskView}: data and result decoded from their msgpack bytes, binary as
 * `Uint8Array` whichever backend and connection the bytes came from (a Buffer from SQLite or a socket
 * would decode binary as Buffer views; rows before issue 9's bytes gave `Uint8Array`, and still do).
 */
export function viewTask(row: TaskRow): TaskView {
  return { ...row, data: decodeValue(plainBytes(row.data)), result: row.result === null ? null : decodeValue(plainBytes(row.result)) };
}

/** `bytes` as a plain `Uint8Array` view of the same memory (no copy). */
function plainBytes(bytes: Uint8Array): Uint8Array {
  return Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes;
}

/** A task that left `claimed` without finishing: its holder must be told and its slot freed. */
export interface ReleasedTask {
  id: string;
  /** The worker that held it. */
  worker: string;
  /** The lease it held. */
  lease: string;
  /** Where it went: back to `pending`, or `failed` (WORKER_LOST) after its last attempt. */
  state: 'pending' | 'failed';
}

/** What one sweep changed (see {@link TaskStore.expire}). */
export interface Expired {
  /** Leases that ran out. */
  released: ReleasedTask[];
  /** Tasks that failed in this sweep: pending past their deadline, or out of attempts; final rows. */
  failed: TaskRow[];
}

/** Whom {@link TaskStore.leasePending}'s `choose` leases a pending task to: a worker and a fresh lease token. */
export interface LeaseChoice {
  worker: string;
  lease: string;
}

/**
 * What a lease step reads of a pending task: what choosing a worker (name, attributes) and pushing the
 * task (id, data) need, and where the next page starts (`seq`). A {@link TaskRow} is one; a backend may
 * read no more than this (issue 9: on SQLite reading and decoding whole rows cost more than the lease).
 */
export type PendingTask = Pick<TaskRow, 'seq' | 'id' | 'name' | 'attrs' | 'data'>;

/** What one {@link TaskStore.leasePending} step read and leased. */
export interface LeasedPage {
  /** Pending rows handed to `choose` (the step stops reading once `choose` says `null`). */
  seen: number;
  /** `seq` of the last row handed to `choose` (`afterSeq` when none): where the next page starts. */
  lastSeq: number;
  /** The rows leased in this step, each under the choice `choose` made for it. */
  leased: Array<{ row: PendingTask; choice: LeaseChoice }>;
}

/** Filters of {@link TaskStore.list}. */
export interface TaskListFilter {
  state?: TaskState;
  /** Newest first, at most this many. */
  limit: number;
}

/** Changes another hub made on a shared backend, as a {@link TaskStore} learns them (see {@link TaskStore.subscribe}). */
export interface TaskStoreEvents {
  /** A task became pending through another hub (submitted, released, rejected, expired): look again. */
  pending(): void;
  /** A task ended through another hub: its final row. */
  ended(row: TaskRow): void;
}

/** Where a {@link TaskStore} runs: the hub that holds the leases it writes. */
export interface TaskStoreOptions {
  /**
   * The id of the hub that writes through this store, kept on every lease it grants (the
   * `owner` column), so that {@link TaskStore.recover} at the next start releases only what this hub
   * held and never another hub's leases on a shared backend. Must be the same across restarts of one hub.
   * @default DEFAULT_HUB_ID
   */
  hubId?: string;
}

/** The owner of a single hub's leases. */
export const DEFAULT_HUB_ID = 'hub';

/**
 * The task store: asynchronous and batch-shaped, so a backend may group the writes of one event-loop
 * turn into one commit (SQLite) or send them over a network (a later multi-hub backend). A returned
 * promise resolves once the change is durable on the backend (after the commit that holds it), never
 * before: callers acknowledge to workers, admins and waiters only then. Calls take effect in the order
 * they are made. Booleans say whether the conditional write happened. No transaction leaks out of the
 * interface: each method is atomic on its own, and the multi-row ones (`releaseMany`, `expire`) are too.
 */
export interface TaskStore {
  /** This store's owner id (see {@link TaskStoreOptions.hubId}). */
  readonly hubId: string;
  /** Stores a new pending task; false when the id is taken. */
  insert(task: NewTask): Promise<boolean>;
  get(id: string): Promise<TaskRow | undefined>;
  list(filter: TaskListFilter): Promise<TaskRow[]>;
  /** Tasks per state. */
  counts(): Promise<Record<TaskState, number>>;
  /** Highest `seq` so far (0 when empty): a cheap way to notice tasks inserted by another process. */
  lastSeq(): Promise<number>;
  /** Pending tasks with `seq > afterSeq` whose name is in `names`, oldest first. */
  pending(afterSeq: number, names: readonly string[], limit: number): Promise<TaskRow[]>;
  /**
   * pending -> claimed by `worker` under `lease` until `expiresAt`, attempts + 1, owned by this hub: the
   * push of a lease with the task's data (issue 9), one conditional write. Of two
   * leases for one task exactly one returns true.
   */
  lease(id: string, worker: string, lease: string, at: number, expiresAt: number): Promise<boolean>;
  /**
   * Optional, for backends that can do it in one step: {@link pending} and a {@link lease} of each row
   * `choose` leases, atomic, in one commit (issue 9: on SQLite the dispatcher's read and its leases then
   * share the turn's transaction with the completions that freed the slots, one commit per turn instead
   * of three). `choose` runs synchronously inside the step, once per pending row in `seq` order: a
   * {@link LeaseChoice} leases the row, `undefined` skips it, `null` stops reading. A backend without it
   * is driven through `pending` and `lease` (the dispatcher falls back).
   */
  leasePending?(afterSeq: number, names: readonly string[], limit: number, choose: (row: PendingTask) => LeaseChoice | undefined | null, at: number, expiresAt: number): Promise<LeasedPage>;
  /**
   * claimed under `lease` -> pending, attempts - 1: the worker refused the pushed lease without running
   * it (no matching handler any more, stopping). False when `lease` is not current.
   */
  reject(id: string, lease: string, at: number): Promise<boolean>;
  /** Moves a claimed task's expiry when `lease` is its current lease. */
  renew(id: string, lease: string, at: number, expiresAt: number): Promise<boolean>;
  /** claimed under `lease` -> done; returns the final row, or undefined when the lease is not current. */
  complete(id: string, lease: string, result: Uint8Array, at: number): Promise<TaskRow | undefined>;
  /** claimed under `lease` -> failed with `error`; returns the final row, or undefined. */
  fail(id: string, lease: string, error: TaskErrorValue, at: number): Promise<TaskRow | undefined>;
  /**
   * The holder of lease `token` is gone (disconnected): claimed -> pending, or failed with WORKER_LOST
   * when its attempts are used up. Undefined when `token` no longer holds the task.
   */
  release(id: string, token: string, at: number): Promise<ReleasedTask | undefined>;
  /** {@link release} for many (task, token) pairs at once, in one atomic step; one entry per pair. */
  releaseMany(held: ReadonlyArray<readonly [id: string, token: string]>, at: number): Promise<Array<ReleasedTask | undefined>>;
  /** Leases with `expiresAt <= now` are released; pending tasks with `deadlineAt <= now` fail. */
  expire(now: number): Promise<Expired>;
  /**
   * After this hub restarts: every task leased by this hub ({@link hubId}; rows written before
   * owners were kept count as this hub's) goes back to pending. Returns how many.
   */
  recover(at: number): Promise<number>;
  /**
   * Backends shared by several hubs (JetStream) tell the dispatcher about the other hubs' changes here,
   * so a task submitted through one hub reaches the workers of another and a waiter learns of an end
   * it did not write; single-hub backends leave it out. Returns the unsubscribe.
   */
  subscribe?(events: TaskStoreEvents): () => void;
  /** Writes what is queued, then closes. */
  close(): Promise<void>;
}

/**
 * The part of a `leasePending` step every backend shares: hands each read row to `choose` in order until
 * it says stop, then leases the chosen ones (`lease`, the backend's conditional write). Choosing first
 * keeps the step atomic on a backend without transactions: should `choose` throw, nothing was leased.
 */
export function leasePage<R extends PendingTask>(rows: readonly R[], afterSeq: number, choose: (row: R) => LeaseChoice | undefined | null, lease: (row: R, choice: LeaseChoice) => boolean): LeasedPage {
  const { page, chosen } = choosePage(rows, afterSeq, choose);
  for (const pick of chosen) if (lease(pick.row, pick.choice)) page.leased.push(pick);
  return page;
}

/**
 * The choosing half of {@link leasePage}: the page with nothing leased yet, and the rows `choose` chose, in
 * order, for a backend that decides how to write them once it knows how many there are.
 */
export function choosePage<R extends PendingTask>(rows: readonly R[], afterSeq: number, choose: (row: R) => LeaseChoice | undefined | null): { page: LeasedPage; chosen: Array<{ row: R; choice: LeaseChoice }> } {
  const page: LeasedPage = { seen: 0, lastSeq: afterSeq, leased: [] };
  const chosen: Array<{ row: R; choice: LeaseChoice }> = [];
  for (const row of rows) {
    const choice = choose(row);
    if (choice === null) break;
    page.seen += 1;
    page.lastSeq = row.seq;
    if (choice) chosen.push({ row, choice });
  }
  return { page, chosen };
}
