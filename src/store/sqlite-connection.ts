/**
 * What the SQLite connections to the hub's data file share: the hub's own (./sqlite-store.ts, which its
 * task, workflow and resource stores use too) and those the CLI and tools open beside it
 * (../hub/tasks/sqlite-task-store.ts) set the same journal mode and busy timeout, and keep their
 * prepared statements.
 */
import type Database from 'better-sqlite3';
import { checkpointInThread } from './wal-checkpointer.ts';

/** How long a connection waits for another's write lock before SQLITE_BUSY, in milliseconds. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * WAL (readers do not block the one writer, so the hub and the CLI can share the file),
 * `synchronous = NORMAL` and {@link BUSY_TIMEOUT_MS}.
 *
 * NORMAL in WAL mode: a commit is durable against a crash of the process (it is in the WAL file, in the
 * OS's page cache, before anyone is told), not against a power loss or kernel crash, which can lose the
 * last commits but never corrupts the file; the WAL is fsynced at each checkpoint. SQLite recommends it
 * for WAL. The hub already ran at NORMAL without saying so: better-sqlite3 is built with
 * SQLITE_DEFAULT_WAL_SYNCHRONOUS=1, which applies once a connection uses the WAL. Set here so the choice
 * is visible and does not depend on how the library was built. FULL would add one fsync of the WAL per
 * commit, on the path of every job's end (measured in bench/RESULTS.md, "Issue 13, follow-up 4").
 *
 * Checkpoints run in a thread (./wal-checkpointer.ts), not inside a commit on the event loop.
 */
export function setConcurrencyPragmas(db: Database.Database): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  checkpointInThread(db);
}

/**
 * Runs `fn` atomically on `db`: a transaction, or a savepoint inside one already open (better-sqlite3's
 * `transaction()` decides at each call). One transaction function made once per connection: `transaction()`
 * builds four wrapper functions each time it is called, which on a hot path (a job's end, a task's lease
 * step, issues 9 and 13) cost more than the statements it wraps.
 */
export function savepointRunner(db: Database.Database): <T>(fn: () => T) => T {
  const run = db.transaction((fn: () => unknown) => fn());
  return <T>(fn: () => T) => run(fn) as T;
}

/**
 * A `prepare` that keeps each statement by its SQL text: preparing is most of a small query's cost (see
 * bench/RESULTS.md). Only for SQL of a bounded set of texts; dynamic SQL would grow the cache.
 */
export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const statements = new Map<string, Database.Statement>();
  return (sql) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
}
