/**
 * {@link TaskStore} in memory: for tests, and for a like-for-like comparison with BullMQ on Redis
 * without persistence (bench/). Nothing survives the process. Several stores (one per hub id) may share
 * one {@link MemoryTaskTables}, as several hubs share one backend. Every write is the same conditional
 * step as the SQLite backend's (state, worker and token checked before the change), applied at once;
 * rows handed out are never mutated afterwards (each change replaces the row). A task's data and result are
 * the msgpack bytes the store was given, kept as they are.
 */
import { noWorkerError, workerLostError } from '../../../machines/task.helpers.ts';
import { DEFAULT_HUB_ID, TASK_STATES, leasePage, newTaskRow, type Expired, type LeaseChoice, type LeasedPage, type NewTask, type PendingTask, type ReleasedTask, type TaskErrorValue, type TaskListFilter, type TaskRow, type TaskState, type TaskStore, type TaskStoreOptions } from './task-store.ts';

/** The shared rows of in-memory task stores. */
export class MemoryTaskTables {
  /** Rows by seq - 1 (seq is the insertion order). */
  readonly rows: TaskRow[] = [];
  readonly byId = new Map<string, number>();
  /** Ids of claimed tasks (what `expire` looks at). */
  readonly active = new Set<string>();
  /** No pending row has a seq below this (a hint that keeps `pending()` from rescanning ended rows). */
  lowestPending = 1;
}

/** A {@link TaskStore} on {@link MemoryTaskTables}. */
export class MemoryTaskStore implements TaskStore {
  readonly hubId: string;

  constructor(
    readonly tables: MemoryTaskTables = new MemoryTaskTables(),
    options: TaskStoreOptions = {},
  ) {
    this.hubId = options.hubId ?? DEFAULT_HUB_ID;
  }

  async insert(task: NewTask): Promise<boolean> {
    const t = this.tables;
    if (t.byId.has(task.id)) return false;
    const seq = t.rows.length + 1;
    // The data's msgpack bytes as given (issue 9): nothing writes to them, so they are kept, not copied.
    t.rows.push(newTaskRow({ ...task, attrs: { ...task.attrs } }, seq));
    t.byId.set(task.id, seq - 1);
    return true;
  }

  async get(id: string): Promise<TaskRow | undefined> {
    return this.row(id);
  }

  async list(filter: TaskListFilter): Promise<TaskRow[]> {
    const out: TaskRow[] = [];
    for (let i = this.tables.rows.length - 1; i >= 0 && out.length < filter.limit; i--) {
      const row = this.tables.rows[i]!;
      if (filter.state === undefined || row.state === filter.state) out.push(row);
    }
    return out;
  }

  async counts(): Promise<Record<TaskState, number>> {
    const counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
    for (const row of this.tables.rows) counts[row.state] += 1;
    return counts;
  }

  async lastSeq(): Promise<number> {
    return this.tables.rows.length;
  }

  async pending(afterSeq: number, names: readonly string[], limit: number): Promise<TaskRow[]> {
    return this.pendingRows(afterSeq, names, limit);
  }

  async leasePending(afterSeq: number, names: readonly string[], limit: number, choose: (row: PendingTask) => LeaseChoice | undefined | null, at: number, expiresAt: number): Promise<LeasedPage> {
    return leasePage(this.pendingRows(afterSeq, names, limit), afterSeq, choose, (row, choice) => this.leaseRow(row.id, choice.worker, choice.lease, at, expiresAt));
  }

  async lease(id: string, worker: string, lease: string, at: number, expiresAt: number): Promise<boolean> {
    return this.leaseRow(id, worker, lease, at, expiresAt);
  }

  async reject(id: string, lease: string, at: number): Promise<boolean> {
    const row = this.row(id);
    if (row?.state !== 'claimed' || row.lease !== lease) return false;
    this.put({ ...row, state: 'pending', lease: null, owner: null, expiresAt: null, attempts: row.attempts - 1, updatedAt: at });
    return true;
  }

  async renew(id: string, lease: string, at: number, expiresAt: number): Promise<boolean> {
    const row = this.row(id);
    if (row?.state !== 'claimed' || row.lease !== lease) return false;
    this.put({ ...row, expiresAt, updatedAt: at });
    return true;
  }

  async complete(id: string, lease: string, result: Uint8Array, at: number): Promise<TaskRow | undefined> {
    const row = this.row(id);
    if (row?.state !== 'claimed' || row.lease !== lease) return undefined;
    return this.put({ ...row, state: 'done', result, ...this.ended(at) });
  }

  async fail(id: string, lease: string, error: TaskErrorValue, at: number): Promise<TaskRow | undefined> {
    const row = this.row(id);
    if (row?.state !== 'claimed' || row.lease !== lease) return undefined;
    return this.put({ ...row, state: 'failed', error: structuredClone(error), ...this.ended(at) });
  }

  async release(id: string, token: string, at: number): Promise<ReleasedTask | undefined> {
    return this.releaseOne(id, token, at)?.released;
  }

  async releaseMany(held: ReadonlyArray<readonly [string, string]>, at: number): Promise<Array<ReleasedTask | undefined>> {
    return held.map(([id, token]) => this.releaseOne(id, token, at)?.released);
  }

  async expire(now: number): Promise<Expired> {
    const out: Expired = { released: [], failed: [] };
    const expiring = [...this.tables.active]
      .map((id) => this.row(id)!)
      .filter((row) => row.expiresAt !== null && row.expiresAt <= now)
      .sort((a, b) => a.seq - b.seq);
    for (const row of expiring) {
      const { released, failed } = this.releaseOne(row.id, row.lease!, now)!;
      out.released.push(released);
      if (failed) out.failed.push(failed);
    }
    const t = this.tables;
    for (let seq = t.lowestPending; seq <= t.rows.length; seq++) {
      const row = t.rows[seq - 1]!;
      if (row.state !== 'pending' || row.deadlineAt > now) continue;
      const error = noWorkerError({ id: row.id, name: row.name, attrs: row.attrs, deadlineMs: row.deadlineMs, attempts: row.attempts, worker: row.worker });
      out.failed.push(this.put({ ...row, state: 'failed', error, ...this.ended(now) }));
    }
    return out;
  }

  async recover(at: number): Promise<number> {
    let n = 0;
    for (const id of [...this.tables.active]) {
      const row = this.row(id)!;
      if (row.owner !== this.hubId) continue;
      this.put({ ...row, state: 'pending', lease: null, owner: null, expiresAt: null, updatedAt: at });
      n += 1;
    }
    return n;
  }

  async close(): Promise<void> {}

  private pendingRows(afterSeq: number, names: readonly string[], limit: number): TaskRow[] {
    const t = this.tables;
    const out: TaskRow[] = [];
    if (names.length === 0 || limit <= 0) return out;
    while (t.lowestPending <= t.rows.length && t.rows[t.lowestPending - 1]!.state !== 'pending') t.lowestPending += 1;
    const wanted = new Set(names);
    for (let seq = Math.max(afterSeq + 1, t.lowestPending); seq <= t.rows.length && out.length < limit; seq++) {
      const row = t.rows[seq - 1]!;
      if (row.state === 'pending' && wanted.has(row.name)) out.push(row);
    }
    return out;
  }

  private leaseRow(id: string, worker: string, lease: string, at: number, expiresAt: number): boolean {
    const row = this.row(id);
    if (row?.state !== 'pending') return false;
    this.put({ ...row, state: 'claimed', worker, lease, owner: this.hubId, expiresAt, attempts: row.attempts + 1, offeredAt: at, claimedAt: at, updatedAt: at });
    return true;
  }

  private row(id: string): TaskRow | undefined {
    const index = this.tables.byId.get(id);
    return index === undefined ? undefined : this.tables.rows[index];
  }

  /** Replaces the stored row, keeping the indexes right. */
  private put(row: TaskRow): TaskRow {
    const t = this.tables;
    t.rows[row.seq - 1] = row;
    if (row.state === 'claimed') t.active.add(row.id);
    else t.active.delete(row.id);
    if (row.state === 'pending' && row.seq < t.lowestPending) t.lowestPending = row.seq;
    return row;
  }

  private ended(at: number): Pick<TaskRow, 'lease' | 'owner' | 'expiresAt' | 'finishedAt' | 'updatedAt'> {
    return { lease: null, owner: null, expiresAt: null, finishedAt: at, updatedAt: at };
  }

  /** The holder of lease `token` is gone: back to pending, or failed once the task used its last attempt. */
  private releaseOne(id: string, token: string, at: number): { released: ReleasedTask; failed?: TaskRow } | undefined {
    const row = this.row(id);
    if (!row || row.lease !== token || row.state !== 'claimed') return undefined;
    const base = { id, worker: row.worker ?? '', lease: token };
    if (row.attempts >= row.maxAttempts) {
      const error = workerLostError({ id, name: row.name, attrs: row.attrs, deadlineMs: row.deadlineMs, attempts: row.attempts, worker: row.worker });
      const failed = this.put({ ...row, state: 'failed', error, ...this.ended(at) });
      return { released: { ...base, state: 'failed' }, failed };
    }
    this.put({ ...row, state: 'pending', lease: null, owner: null, expiresAt: null, updatedAt: at });
    return { released: { ...base, state: 'pending' } };
  }
}
