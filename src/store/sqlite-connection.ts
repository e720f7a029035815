/**
 * What the SQLite stores on the hub's data file share: the main store (./sqlite-store.ts) and the task
 * store (../hub/tasks/sqlite-task-store.ts) open their own connections to one file, so they set the
 * same journal mode and busy timeout, and both keep their prepared statements.
 */
import type Database from 'better-sqlite3';

/** How long a connection waits for another's write lock before SQLITE_BUSY, in milliseconds. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * WAL (readers do not block the one writer, so the hub and the CLI can share the file) and
 * {@link BUSY_TIMEOUT_MS}.
 */
export function setConcurrencyPragmas(db: Database.Database): void {
  db.pragma('journal_mode = WAL');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
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
