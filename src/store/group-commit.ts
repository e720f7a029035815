/**
 * Group commit for a better-sqlite3 connection (issue 9): every operation queued during one event-loop
 * turn runs, in call order, inside one transaction, committed in the next `setImmediate`; each caller's
 * promise settles only after that commit. One fsync per turn instead of one per write, and nobody is
 * told of a change that a crash could still undo.
 *
 * An operation that throws is rolled back alone (operations of more than one statement wrap themselves
 * in `db.transaction()`, a savepoint inside the batch) and rejects its own promise; the others still
 * commit. A failed commit rejects every promise of the batch. The queue holds the calls of one turn:
 * it is bounded by the callers' own bounds (frames read per turn, admin requests), and a batch is split
 * into transactions of at most `maxBatch` operations so no transaction grows without bound.
 *
 * A hub has one connection to its data file and one group commit on it, shared by all its SQLite stores
 * (registry, tasks, workflows, resources: src/hub/create-hub.ts), so one turn is one transaction whichever
 * stores it writes; the registry's store, which owns the connection, closes it after the others drained.
 */
import type Database from 'better-sqlite3';
import { InvalidArgumentError } from '../errors.ts';
import { checkpointerOf, type WalCheckpointer } from './wal-checkpointer.ts';

interface Queued {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** What one operation of a batch returned or threw. */
interface Outcome {
  ok: boolean;
  value: unknown;
}

/**
 * The group commit a store on `db` runs through: `shared` (another store's on the same connection, so a
 * turn's writes of both are one transaction) or one of its own. A group commit of another connection is
 * refused: the store's statements would run outside the transaction it commits.
 */
export function groupCommitOn(db: Database.Database, shared: GroupCommit | undefined): GroupCommit {
  if (shared === undefined) return new GroupCommit(db);
  if (shared.db !== db) throw new InvalidArgumentError('Expected `commit` to be the group commit of the store\'s own connection (`db`), got one of another connection: pass the store the connection the group commit was made on');
  return shared;
}

/** Default most operations per transaction. */
export const DEFAULT_MAX_BATCH = 4096;

/** Queues operations on `db` and commits those of one turn together. */
export class GroupCommit {
  private queue: Queued[] = [];
  private scheduled = false;
  private idle: Array<() => void> = [];
  private committed = 0;
  /** Checkpoints the connection's WAL in a thread, when it has one (./wal-checkpointer.ts). */
  private readonly checkpointer: WalCheckpointer | undefined;

  constructor(
    /** The connection whose transactions this commits. */
    readonly db: Database.Database,
    private readonly maxBatch = DEFAULT_MAX_BATCH,
  ) {
    this.checkpointer = checkpointerOf(db);
    this.runBatch = db.transaction((batch: Queued[], outcomes: Outcome[]) => {
      for (let i = 0; i < batch.length; i++) {
        try {
          outcomes[i] = { ok: true, value: batch[i]!.fn() };
        } catch (error) {
          outcomes[i] = { ok: false, value: error };
        }
      }
    });
  }

  /** Runs `fn` in the current turn's transaction; resolves with its value once that is committed. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  /** How many transactions this group commit has committed so far (the tests count commits per hop with it). */
  get commits(): number {
    return this.committed;
  }

  /** Resolves once everything queued so far is committed (or refused). */
  drained(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    this.schedule();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const queued = this.queue;
    this.queue = [];
    for (let start = 0; start < queued.length; start += this.maxBatch) this.commit(queued.slice(start, start + this.maxBatch));
    if (this.queue.length === 0) for (const resolve of this.idle.splice(0)) resolve();
  };

  /**
   * Runs a batch's operations in one transaction. Made once: better-sqlite3's `transaction()` builds four
   * wrapper functions each time it is called (issue 13: once per commit was ~2 % of a hub's exec work).
   */
  private readonly runBatch: Database.Transaction<(batch: Queued[], outcomes: Outcome[]) => void>;

  private commit(batch: Queued[]): void {
    const outcomes: Outcome[] = new Array(batch.length);
    try {
      this.runBatch.immediate(batch, outcomes);
    } catch (error) {
      for (const queued of batch) queued.reject(error);
      return;
    }
    this.committed += 1;
    this.checkpointer?.committed(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const { ok, value } = outcomes[i]!;
      if (ok) batch[i]!.resolve(value);
      else batch[i]!.reject(value);
    }
  }
}
