/**
 * The SQL of the SQLite task backend, synchronous (better-sqlite3): one method per TaskStore operation,
 * each one conditional statement or a savepoint. ./sqlite-task-store.ts runs these inside group commits;
 * nothing else should call them. The task tables' schema is `TASK_STEPS` in src/store/schema-steps.ts,
 * applied by the file's one migration runner (src/store/migrations.ts) when a connection opens it. The
 * CLI opens a connection of its own to the file a running hub has open (WAL).
 *
 * A LIMIT is bound as `LIMIT CAST(? AS INTEGER)`, never `LIMIT ?`: since SQLite 3.4x the planner reads the
 * value bound to a bare `LIMIT ?` and marks the statement to be prepared again whenever that parameter is
 * bound, so every run of it parsed and planned its SQL anew (cpu13 in bench/RESULTS.md: the lease step's
 * read, once per task, was its largest share of the hub's SQLite work one task at a time).
 */
import type Database from 'better-sqlite3';
import { migrate } from '../../store/migrations.ts';
import { savepointRunner, statementCache } from '../../store/sqlite-connection.ts';
import { noWorkerError, workerLostError } from '../../../machines/task.helpers.ts';
import { TASK_STATES, choosePage, type Expired, type LeaseChoice, type LeasedPage, type NewTask, type PendingTask, type ReleasedTask, type TaskErrorValue, type TaskListFilter, type TaskRow, type TaskState } from './task-store.ts';

interface TaskRecord {
  seq: number;
  id: string;
  name: string;
  attrs: string;
  /** msgpack bytes (BLOB, schema step `values-as-msgpack`). */
  data: Uint8Array;
  state: TaskState;
  attempts: number;
  max_attempts: number;
  worker: string | null;
  lease: string | null;
  owner: string | null;
  expires_at: number | null;
  deadline_ms: number;
  deadline_at: number;
  result: Uint8Array | null;
  error: string | null;
  created_at: number;
  updated_at: number;
  offered_at: number | null;
  claimed_at: number | null;
  finished_at: number | null;
}

/** Stored attributes: most tasks have none, and `{}` needs no parse. */
const decodeAttrs = (text: string): Record<string, string> => (text === '{}' ? {} : (JSON.parse(text) as Record<string, string>));

const toRow = (r: TaskRecord): TaskRow => ({
  seq: r.seq,
  id: r.id,
  name: r.name,
  attrs: decodeAttrs(r.attrs),
  data: r.data,
  state: r.state,
  attempts: r.attempts,
  maxAttempts: r.max_attempts,
  worker: r.worker,
  lease: r.lease,
  owner: r.owner,
  expiresAt: r.expires_at,
  deadlineMs: r.deadline_ms,
  deadlineAt: r.deadline_at,
  result: r.result,
  error: r.error === null ? null : (JSON.parse(r.error) as TaskErrorValue),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  offeredAt: r.offered_at,
  claimedAt: r.claimed_at,
  finishedAt: r.finished_at,
});

/** The task operations on one better-sqlite3 connection, synchronous; owner `hubId`. */
export class SqliteTaskTables {
  private readonly stmt: (sql: string) => Database.Statement;
  /** Runs a function in a savepoint (see {@link savepointRunner}). */
  private readonly transaction: <T>(fn: () => T) => T;

  constructor(
    readonly db: Database.Database,
    readonly hubId: string,
  ) {
    this.stmt = statementCache(db);
    migrate(db);
    this.transaction = savepointRunner(db);
  }

  insert(task: NewTask): boolean {
    return (
      this.stmt(
        `INSERT OR IGNORE INTO tasks (id, name, attrs, data, state, max_attempts, deadline_ms, deadline_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)`,
      ).run(
        task.id,
        task.name,
        JSON.stringify(task.attrs),
        task.data,
        task.maxAttempts,
        task.deadlineMs,
        task.createdAt + task.deadlineMs,
        task.createdAt,
        task.createdAt,
      ).changes === 1
    );
  }

  get(id: string): TaskRow | undefined {
    const r = this.stmt('SELECT * FROM tasks WHERE id = ?').get(id) as TaskRecord | undefined;
    return r && toRow(r);
  }

  list(filter: TaskListFilter): TaskRow[] {
    const rows = (
      filter.state === undefined
        ? this.stmt('SELECT * FROM tasks ORDER BY seq DESC LIMIT CAST(? AS INTEGER)').all(filter.limit)
        : this.stmt('SELECT * FROM tasks WHERE state = ? ORDER BY seq DESC LIMIT CAST(? AS INTEGER)').all(filter.state, filter.limit)
    ) as TaskRecord[];
    return rows.map(toRow);
  }

  counts(): Record<TaskState, number> {
    const counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
    for (const r of this.stmt('SELECT state, COUNT(*) AS n FROM tasks GROUP BY state').all() as Array<{ state: TaskState; n: number }>) counts[r.state] = r.n;
    return counts;
  }

  lastSeq(): number {
    return (this.stmt('SELECT MAX(seq) FROM tasks').pluck().get() as number | null) ?? 0;
  }

  pending(afterSeq: number, names: readonly string[], limit: number): TaskRow[] {
    if (names.length === 0) return [];
    const rows = this.stmt(
      `SELECT * FROM tasks WHERE state = 'pending' AND seq > ? AND name IN (SELECT value FROM json_each(?))
       ORDER BY seq LIMIT CAST(? AS INTEGER)`,
    ).all(afterSeq, JSON.stringify(names), limit) as TaskRecord[];
    return rows.map(toRow);
  }

  lease(id: string, worker: string, lease: string, at: number, expiresAt: number): boolean {
    return (
      this.stmt(
        `UPDATE tasks SET state = 'claimed', worker = ?, lease = ?, owner = ?, expires_at = ?, attempts = attempts + 1, offered_at = ?, claimed_at = ?, updated_at = ?
         WHERE id = ? AND state = 'pending'`,
      ).run(worker, lease, this.hubId, expiresAt, at, at, at, id).changes === 1
    );
  }

  leasePending(afterSeq: number, names: readonly string[], limit: number, choose: (row: PendingTask) => LeaseChoice | undefined | null, at: number, expiresAt: number): LeasedPage {
    if (names.length === 0) return { seen: 0, lastSeq: afterSeq, leased: [] };
    // Only what choosing and pushing need, as arrays (issue 9: whole rows as objects cost more than the
    // lease itself), and one name compared directly: the usual case, a worker pool of one handler.
    const raw = (
      names.length === 1
        ? this.stmt(`SELECT seq, id, name, attrs, data FROM tasks WHERE state = 'pending' AND seq > ? AND name = ? ORDER BY seq LIMIT CAST(? AS INTEGER)`).raw().all(afterSeq, names[0], limit)
        : this.stmt(`SELECT seq, id, name, attrs, data FROM tasks WHERE state = 'pending' AND seq > ? AND name IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT CAST(? AS INTEGER)`)
            .raw()
            .all(afterSeq, JSON.stringify(names), limit)
    ) as Array<[number, string, string, string, Uint8Array]>;
    // The data as stored, msgpack bytes: pushed as they are, never decoded here (issue 9).
    const rows = raw.map(([seq, id, name, attrs, data]): PendingTask => ({ seq, id, name, attrs: decodeAttrs(attrs), data }));
    // Every choice is made before the first write (choosePage), so a `choose` that throws leases nothing.
    const { page, chosen } = choosePage(rows, afterSeq, choose);
    // By `seq`, the table's own key (`id` is a second index).
    const lease = this.stmt(
      `UPDATE tasks SET state = 'claimed', worker = ?, lease = ?, owner = ?, expires_at = ?, attempts = attempts + 1, offered_at = ?, claimed_at = ?, updated_at = ?
       WHERE seq = ? AND state = 'pending'`,
    );
    const write = (): LeasedPage => {
      for (const pick of chosen) if (lease.run(pick.choice.worker, pick.choice.lease, this.hubId, expiresAt, at, at, at, pick.row.seq).changes === 1) page.leased.push(pick);
      return page;
    };
    // A savepoint undoes the leases written before one that fails; a single UPDATE is atomic alone, and
    // one lease per step is the usual case one task at a time, where the savepoint's SAVEPOINT and RELEASE
    // cost about what the lease does (cpu13 in bench/RESULTS.md).
    return chosen.length > 1 ? this.transaction(write) : write();
  }

  reject(id: string, lease: string, at: number): boolean {
    return (
      this.stmt(
        `UPDATE tasks SET state = 'pending', lease = NULL, owner = NULL, expires_at = NULL, attempts = attempts - 1, updated_at = ?
         WHERE id = ? AND state = 'claimed' AND lease = ?`,
      ).run(at, id, lease).changes === 1
    );
  }

  renew(id: string, lease: string, at: number, expiresAt: number): boolean {
    return (
      this.stmt(`UPDATE tasks SET expires_at = ?, updated_at = ? WHERE id = ? AND state = 'claimed' AND lease = ?`).run(
        expiresAt,
        at,
        id,
        lease,
      ).changes === 1
    );
  }

  complete(id: string, lease: string, result: Uint8Array, at: number): TaskRow | undefined {
    // The columns this UPDATE leaves as they were, as an array; the rest are what it wrote (issue 9:
    // `RETURNING *` as an object, decoded, cost four times the update).
    const r = this.stmt(
      `UPDATE tasks SET state = 'done', result = ?, lease = NULL, owner = NULL, expires_at = NULL, finished_at = ?, updated_at = ?
       WHERE id = ? AND state = 'claimed' AND lease = ?
       RETURNING seq, name, attrs, data, attempts, max_attempts, worker, deadline_ms, deadline_at, created_at, offered_at, claimed_at`,
    )
      .raw()
      .get(result, at, at, id, lease) as [number, string, string, Uint8Array, number, number, string | null, number, number, number, number | null, number | null] | undefined;
    if (!r) return undefined;
    const [seq, name, attrs, data, attempts, maxAttempts, worker, deadlineMs, deadlineAt, createdAt, offeredAt, claimedAt] = r;
    return {
      seq,
      id,
      name,
      attrs: decodeAttrs(attrs),
      data,
      state: 'done',
      attempts,
      maxAttempts,
      worker,
      lease: null,
      owner: null,
      expiresAt: null,
      deadlineMs,
      deadlineAt,
      // The bytes the worker sent, as stored.
      result,
      error: null,
      createdAt,
      updatedAt: at,
      offeredAt,
      claimedAt,
      finishedAt: at,
    };
  }

  fail(id: string, lease: string, error: TaskErrorValue, at: number): TaskRow | undefined {
    const r = this.stmt(
      `UPDATE tasks SET state = 'failed', error = ?, lease = NULL, owner = NULL, expires_at = NULL, finished_at = ?, updated_at = ?
       WHERE id = ? AND state = 'claimed' AND lease = ? RETURNING *`,
    ).get(JSON.stringify(error), at, at, id, lease) as TaskRecord | undefined;
    return r && toRow(r);
  }

  release(id: string, token: string, at: number): ReleasedTask | undefined {
    return this.releaseMany([[id, token]], at)[0];
  }

  releaseMany(held: ReadonlyArray<readonly [string, string]>, at: number): Array<ReleasedTask | undefined> {
    return this.transaction(() =>
      held.map(([id, token]) => {
        const r = this.stmt(`SELECT * FROM tasks WHERE id = ? AND lease = ? AND state = 'claimed'`).get(id, token) as TaskRecord | undefined;
        return r && this.releaseRecord(r, at).released;
      }),
    );
  }

  expire(now: number): Expired {
    // INDEXED BY: left to itself the planner reads every claimed or pending row through
    // tasks_by_state to skip a sort of the few expiring ones (issue 9: a sweep every 200 ms read the
    // whole backlog of a burst, 4% of the hub's time).
    return this.transaction(() => {
      const out: Expired = { released: [], failed: [] };
      const expiring = this.stmt(`SELECT * FROM tasks INDEXED BY tasks_expiring WHERE state = 'claimed' AND expires_at <= ? ORDER BY seq`).all(now) as TaskRecord[];
      for (const r of expiring) {
        const { released, failed } = this.releaseRecord(r, now);
        out.released.push(released);
        if (failed) out.failed.push(failed);
      }
      const late = this.stmt(`SELECT * FROM tasks INDEXED BY tasks_deadline WHERE state = 'pending' AND deadline_at <= ? ORDER BY seq`).all(now) as TaskRecord[];
      for (const r of late) {
        const error = noWorkerError({ id: r.id, name: r.name, attrs: JSON.parse(r.attrs) as Record<string, string>, deadlineMs: r.deadline_ms, attempts: r.attempts, worker: r.worker });
        const failed = this.finishFailed(r.id, 'pending', null, error, now);
        if (failed) out.failed.push(failed);
      }
      return out;
    });
  }

  recover(at: number): number {
    // Rows without an owner were written before owners were kept, when one hub held everything. (Rows
    // offered before issue 9 became pending in schema step `offered-to-pending`.)
    return this.stmt(
      `UPDATE tasks SET state = 'pending', lease = NULL, owner = NULL, expires_at = NULL, updated_at = ?
       WHERE state = 'claimed' AND (owner = ? OR owner IS NULL)`,
    ).run(at, this.hubId).changes;
  }

  /** The holder of claimed `r` is gone: back to pending, or failed once it used its last attempt. */
  private releaseRecord(r: TaskRecord, at: number): { released: ReleasedTask; failed?: TaskRow } {
    const base = { id: r.id, worker: r.worker ?? '', lease: r.lease ?? '' };
    if (r.attempts >= r.max_attempts) {
      const error = workerLostError({ id: r.id, name: r.name, attrs: JSON.parse(r.attrs) as Record<string, string>, deadlineMs: r.deadline_ms, attempts: r.attempts, worker: r.worker });
      const failed = this.finishFailed(r.id, 'claimed', r.lease, error, at);
      return { released: { ...base, state: 'failed' }, failed };
    }
    this.stmt(`UPDATE tasks SET state = 'pending', lease = NULL, owner = NULL, expires_at = NULL, updated_at = ? WHERE id = ? AND lease = ?`).run(at, r.id, r.lease);
    return { released: { ...base, state: 'pending' } };
  }

  private finishFailed(id: string, from: TaskState, lease: string | null, error: TaskErrorValue, at: number): TaskRow | undefined {
    const r = this.stmt(
      `UPDATE tasks SET state = 'failed', error = ?, lease = NULL, owner = NULL, expires_at = NULL, finished_at = ?, updated_at = ?
       WHERE id = ? AND state = ? AND lease IS ? RETURNING *`,
    ).get(JSON.stringify(error), at, at, id, from, lease) as TaskRecord | undefined;
    return r && toRow(r);
  }
}

