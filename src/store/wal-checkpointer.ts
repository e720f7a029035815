/**
 * WAL checkpoints off the hub's event loop (issue 9, the one-at-a-time tail). SQLite checkpoints a WAL
 * file from inside a commit once it passes `wal_autocheckpoint` pages (1,000 by default): that commit then
 * copies the WAL into the database and fsyncs both files (synchronous = NORMAL fsyncs at checkpoints only),
 * 3-5 ms here, on the event loop, during which no frame is read. One task at a time on SQLite, one commit
 * in ~90 tasks did it, and those tasks were the 1 % of slow ones (bench/RESULTS.md, "Issue 9,
 * one-at-a-time tail").
 *
 * Here a worker thread with its own connection to the file runs `wal_checkpoint(PASSIVE)` when asked:
 * a passive checkpoint waits for nobody, and the writer keeps appending to the WAL while it runs. The
 * group commit (./group-commit.ts) asks after every {@link CHECKPOINT_EVERY_OPS} operations committed, at
 * most one request in flight (no queue, no timer). Commits, and so what a caller is told, do not change.
 *
 * The connection's own autocheckpoint stays on as a backstop at {@link BACKSTOP_PAGES}: SQLite starts the
 * WAL over only once a checkpoint copied all of it, which a passive one rarely does while commits keep
 * coming, so under steady load the WAL grows to the backstop and the writer then checkpoints inline, once
 * per ~10,000 pages instead of every 1,000, and copies only what the thread has not (measured with strace
 * on bench/peers/store-tail.ts, 3,000 tasks one at a time: 98 fsyncs on the event loop before, 12 after,
 * open and close included). If the thread fails, the default comes back and SQLite checkpoints inline as before.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** Operations committed between two checkpoint requests (one at a time, ~3 operations per task). */
export const CHECKPOINT_EVERY_OPS = 256;
/** The connection's own `wal_autocheckpoint` while the thread checkpoints (pages of 4 KiB: 40 MiB). */
export const BACKSTOP_PAGES = 10_000;
/** SQLite's default `wal_autocheckpoint`, restored when the thread fails. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

// Plain CommonJS run by the thread (`eval`): no loader needed, whatever runs the hub (tsx, a bundle).
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // One checkpoint missed (the file busy or gone): the next request or the backstop does it.
  }
  parentPort.postMessage('done');
});
`;

const checkpointers = new WeakMap<Database.Database, WalCheckpointer>();

/** Checkpoints `db`'s WAL in a thread from now on (a file in WAL mode only; the thread starts at the first request). */
export function checkpointInThread(db: Database.Database): void {
  if (db.memory || checkpointers.has(db) || String(db.pragma('journal_mode', { simple: true })) !== 'wal') return;
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  checkpointers.set(db, new WalCheckpointer(db));
}

/** The thread that checkpoints `db`, if it has one. */
export function checkpointerOf(db: Database.Database): WalCheckpointer | undefined {
  return checkpointers.get(db);
}

/** Ends `db`'s checkpoint thread, then closes `db` (SQLite checkpoints and removes the WAL at the last close). */
export async function closeConnection(db: Database.Database): Promise<void> {
  const checkpointer = checkpointers.get(db);
  checkpointers.delete(db);
  await checkpointer?.stop();
  if (db.open) db.close();
}

/** One connection's checkpoint thread. */
export class WalCheckpointer {
  private worker: Worker | undefined;
  private failed = false;
  private inFlight = false;
  private ops = 0;
  private done = 0;
  private settle: Array<() => void> = [];

  constructor(private readonly db: Database.Database) {}

  /** Counts `ops` operations committed; asks for a checkpoint every {@link CHECKPOINT_EVERY_OPS}. */
  committed(ops: number): void {
    this.ops += ops;
    if (this.ops < CHECKPOINT_EVERY_OPS || this.inFlight || this.failed) return;
    this.ops = 0;
    this.inFlight = true;
    try {
      (this.worker ??= this.startThread()).postMessage('checkpoint');
    } catch {
      // No thread here (e.g. better-sqlite3 not resolvable from a bundle): never fail the commit that
      // asked; SQLite checkpoints inline again.
      this.fallBack();
    }
  }

  /** Checkpoints the thread has finished so far (the tests wait for one with {@link settled}). */
  get checkpoints(): number {
    return this.done;
  }

  /** Resolves once no checkpoint is in flight. */
  settled(): Promise<void> {
    return this.inFlight ? new Promise((resolve) => this.settle.push(resolve)) : Promise.resolve();
  }

  /** Lets a running checkpoint finish, then ends the thread. */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.failed = true; // no more requests
    if (!worker) return;
    this.worker = undefined;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    // Held open until the thread has closed its connection (it is unref'd while idle).
    worker.ref();
    worker.postMessage('close');
    await exited;
  }

  private startThread(): Worker {
    const worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { file: this.db.name, module: createRequire(import.meta.url).resolve('better-sqlite3') } });
    // Never what keeps the hub running.
    worker.unref();
    worker.on('message', () => {
      this.inFlight = false;
      this.done += 1;
      for (const resolve of this.settle.splice(0)) resolve();
    });
    worker.on('error', () => this.fallBack());
    worker.on('exit', () => this.fallBack());
    return worker;
  }

  /** The thread is gone: SQLite checkpoints inline again (the default), as without this class. */
  private fallBack(): void {
    if (this.failed) return;
    this.failed = true;
    this.worker = undefined;
    this.inFlight = false;
    for (const resolve of this.settle.splice(0)) resolve();
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
  }
}
