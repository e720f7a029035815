/**
 * {@link TaskStore} on SQLite, the embedded default: the statements of ./sqlite-task-tables.ts run
 * through a {@link GroupCommit}, so the task writes of one event-loop turn (the leases of one pump, the
 * completions read from every socket in that turn) share one transaction and one fsync, and each
 * caller's promise resolves only after that commit.
 */
import Database from 'better-sqlite3';
import { ClaError, ErrorCode } from '../../errors.ts';
import { groupCommitOn, type GroupCommit } from '../../store/group-commit.ts';
import { setConcurrencyPragmas } from '../../store/sqlite-connection.ts';
import { closeConnection } from '../../store/wal-checkpointer.ts';
import { SqliteTaskTables } from './sqlite-task-tables.ts';
import { DEFAULT_HUB_ID, type Expired, type LeaseChoice, type LeasedPage, type NewTask, type PendingTask, type ReleasedTask, type TaskErrorValue, type TaskListFilter, type TaskRow, type TaskState, type TaskStore, type TaskStoreOptions } from './task-store.ts';

/**
 * A {@link TaskStore} on one better-sqlite3 connection. A hub passes its registry's group commit
 * (`commit`: `SqliteStore.groupCommit`), so a turn's task and registry writes are one transaction; alone
 * (the CLI, tests) it makes its own.
 */
export class SqliteTaskStore implements TaskStore {
  readonly hubId: string;
  private readonly tables: SqliteTaskTables;
  private readonly batch: GroupCommit;
  private closed = false;

  /** `ownsDb`: `close()` closes the connection too. `commit`: the group commit of `db` to share (one of its own by default). */
  constructor(
    readonly db: Database.Database,
    options: TaskStoreOptions & { ownsDb?: boolean; commit?: GroupCommit } = {},
  ) {
    this.hubId = options.hubId ?? DEFAULT_HUB_ID;
    this.tables = new SqliteTaskTables(db, this.hubId);
    this.batch = groupCommitOn(db, options.commit);
    this.ownsDb = options.ownsDb ?? false;
  }

  private readonly ownsDb: boolean;

  /** Transactions committed by this store's group commit so far (a shared one counts every store's). */
  get commits(): number {
    return this.batch.commits;
  }

  insert(task: NewTask): Promise<boolean> {
    return this.batch.run(() => this.tables.insert(task));
  }

  get(id: string): Promise<TaskRow | undefined> {
    return this.batch.run(() => this.tables.get(id));
  }

  list(filter: TaskListFilter): Promise<TaskRow[]> {
    return this.batch.run(() => this.tables.list(filter));
  }

  counts(): Promise<Record<TaskState, number>> {
    return this.batch.run(() => this.tables.counts());
  }

  lastSeq(): Promise<number> {
    return this.batch.run(() => this.tables.lastSeq());
  }

  pending(afterSeq: number, names: readonly string[], limit: number): Promise<TaskRow[]> {
    return this.batch.run(() => this.tables.pending(afterSeq, names, limit));
  }

  lease(id: string, worker: string, lease: string, at: number, expiresAt: number): Promise<boolean> {
    return this.batch.run(() => this.tables.lease(id, worker, lease, at, expiresAt));
  }

  leasePending(afterSeq: number, names: readonly string[], limit: number, choose: (row: PendingTask) => LeaseChoice | undefined | null, at: number, expiresAt: number): Promise<LeasedPage> {
    return this.batch.run(() => this.tables.leasePending(afterSeq, names, limit, choose, at, expiresAt));
  }

  reject(id: string, lease: string, at: number): Promise<boolean> {
    return this.batch.run(() => this.tables.reject(id, lease, at));
  }

  renew(id: string, lease: string, at: number, expiresAt: number): Promise<boolean> {
    return this.batch.run(() => this.tables.renew(id, lease, at, expiresAt));
  }

  complete(id: string, lease: string, result: Uint8Array, at: number): Promise<TaskRow | undefined> {
    return this.batch.run(() => this.tables.complete(id, lease, result, at));
  }

  fail(id: string, lease: string, error: TaskErrorValue, at: number): Promise<TaskRow | undefined> {
    return this.batch.run(() => this.tables.fail(id, lease, error, at));
  }

  release(id: string, token: string, at: number): Promise<ReleasedTask | undefined> {
    return this.batch.run(() => this.tables.release(id, token, at));
  }

  releaseMany(held: ReadonlyArray<readonly [string, string]>, at: number): Promise<Array<ReleasedTask | undefined>> {
    return this.batch.run(() => this.tables.releaseMany(held, at));
  }

  expire(now: number): Promise<Expired> {
    return this.batch.run(() => this.tables.expire(now));
  }

  recover(at: number): Promise<number> {
    return this.batch.run(() => this.tables.recover(at));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.batch.drained();
    if (this.ownsDb) await closeConnection(this.db);
  }
}

/**
 * Opens a task store on the hub's data file with its own connection (WAL and busy timeout as the main
 * store sets them), for the CLI and tools; a hub puts its task store on its registry's connection instead. `mustExist`: refuse to create a missing file (the CLI must not invent a data file).
 */
export function openSqliteTaskStore(file: string, options: TaskStoreOptions & { mustExist?: boolean } = {}): SqliteTaskStore {
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: options.mustExist ?? false });
  } catch (cause) {
    throw new ClaError(ErrorCode.ConfigMissing, `No hub data file at ${file}: start the hub once with \`cla-hub start --data ${file}\`, or pass the right file.`, {
      cause,
      data: { file },
    });
  }
  try {
    setConcurrencyPragmas(db);
    return new SqliteTaskStore(db, { hubId: options.hubId, ownsDb: true });
  } catch (error) {
    db.close();
    throw error;
  }
}
