/**
 * WAL checkpoints off the hub's event loop (issue 9, the one-at-a-time tail). SQLite checkpoints a WAL
 * file from inside a commit once it passes `wal_autocheckpoint` pages (1,000 by default): that commit then
 * copies the WAL into the database and fsyncs both files (synchronous = NORMAL fsyncs at checkpoints only),
 * 3-5 ms here, on the event loop, during which no frame is read. One task at a time on SQLite, one commit
 * in ~90 tasks did it, and those tasks were the 1 % of slow ones (bench/RESULTS.md, "Issue 9,
 * one-at-a-time tail").
 *
 * Here a worker thread with its own connection to the file runs `wal_checkpoint(PASSIVE)` when asked:
 * a passive checkpoint waits for nobody, and the writer keeps appending to the WAL while it runs. Commits,
 * and so what a caller is told, do not change. The thread keeps the process's priority: at nice 19
 * (`os.setPriority(19)` in the thread, which on Linux renices that thread alone) no gain in the
 * one-at-a-time tail showed, and under load its checkpoints took up to 71 ms instead of 12-26, holding
 * the checkpoint lock the backstop needs, so the WAL passed the backstop by up to 10 MB (ckpt13 in
 * bench/RESULTS.md).
 *
 * When it is asked (ckpt13): by the WAL's growth, not by operations. The group commit reports each commit
 * ({@link WalCheckpointer.committed}); at most every {@link CHECK_EVERY_OPS} operations the checkpointer
 * reads how many WAL frames are not yet copied into the database (`mxFrame - nBackfill` in the WAL-index
 * header of the `-shm` file, https://www.sqlite.org/walformat.html, one 136-byte read) and asks once
 * {@link CHECKPOINT_PAGES} are; and once the hub is idle (no commit for {@link IDLE_MS}) with any left.
 * One task at a time writes ~10 frames per task, so a checkpoint comes every few hundred tasks instead of
 * every ~85, and a quiet hub leaves its WAL copied. At most one request in flight. The header is read
 * without SQLite's locks: a read torn by a concurrent commit is off by one commit's frames, which only
 * moves a request by a commit.
 *
 * Bounds. The connection's own autocheckpoint stays on as a backstop at {@link BACKSTOP_PAGES}: SQLite starts
 * the WAL over only once a checkpoint copied all of it, which a passive one rarely does while commits keep
 * coming (a burst), so then the WAL grows to the backstop and the writer checkpoints inline, once per
 * ~10,000 pages, copying only what the thread has not: the thread is asked once more
 * {@link BEFORE_BACKSTOP_PAGES} before it, so that inline copy and its two fsyncs are small (~1.5 ms against
 * 6-8 ms after a checkpoint 4,000 pages earlier, ckpt13). The thread is not asked past the backstop: its
 * checkpoint would hold the checkpoint lock the writer's needs. `journal_size_limit` ({@link WAL_LIMIT_BYTES}) makes
 * the writer truncate the file back to that size when it starts the WAL over, should it have grown past the
 * backstop (a reader holding an old snapshot keeps any checkpoint from copying past it). If the thread
 * fails, the default comes back and SQLite checkpoints inline as before.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** WAL frames (pages) not yet copied into the database at which the thread is asked for a checkpoint. */
export const CHECKPOINT_PAGES = 4000;
/** Most operations committed between two reads of the WAL-index header (a burst's commit may exceed it alone). */
export const CHECK_EVERY_OPS = 32;
/** A hub with no commit for this long is idle: the thread copies what is left of the WAL. */
export const IDLE_MS = 250;
/** The connection's own `wal_autocheckpoint` while the thread checkpoints (pages of 4 KiB: 40 MiB). */
export const BACKSTOP_PAGES = 10_000;
/** The thread is asked once more this close to the backstop (with half of it to copy). */
export const BEFORE_BACKSTOP_PAGES = 600;
/**
 * `journal_size_limit`: the size the writer truncates the WAL file to when it starts it over. Above what the
 * backstop lets the WAL reach (~41 MB of 4 KiB pages), so steady load never truncates and extends the file
 * again; only a WAL that overran the backstop (a reader holding an old snapshot, a checkpoint that could not
 * finish) is cut back.
 */
export const WAL_LIMIT_BYTES = 48 * 1024 * 1024;
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
  db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
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

/** Byte offsets in the `-shm` file (WAL-index header, native byte order): https://www.sqlite.org/walformat.html */
const SHM_MX_FRAME = 16;
const SHM_N_BACKFILL = 96;
const SHM_HEADER_BYTES = 136;
/** The header's byte order is the machine's. */
const LITTLE_ENDIAN = os.endianness() === 'LE';

/** One connection's checkpoint thread. */
export class WalCheckpointer {
  private worker: Worker | undefined;
  private failed = false;
  private inFlight = false;
  private ops = 0;
  private done = 0;
  /** Checkpoints asked for, by why: the WAL's growth (or the backstop's nearness), or an idle hub. */
  readonly asked = { growth: 0, idle: 0 };
  private settle: Array<() => void> = [];
  private next: Array<() => void> = [];
  /** The `-shm` file's descriptor, opened at the first read. */
  private shm: number | undefined;
  private readonly header = Buffer.alloc(SHM_HEADER_BYTES);
  /** Commits since the idle timer was armed; the timer, while armed. */
  private commitsSinceArmed = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly db: Database.Database) {}

  /**
   * Counts `ops` operations committed; every {@link CHECK_EVERY_OPS}, asks for a checkpoint if
   * {@link CHECKPOINT_PAGES} WAL frames wait to be copied, unless the WAL holds {@link BACKSTOP_PAGES}
   * already: then the writer's own checkpoint (the backstop) copies the rest after its next commit, and
   * starts the WAL over, which it cannot while the thread holds the checkpoint lock. Arms the idle check.
   */
  committed(ops: number): void {
    if (this.failed) return;
    this.commitsSinceArmed += 1;
    if (this.idleTimer === undefined) this.armIdle();
    this.ops += ops;
    if (this.ops < CHECK_EVERY_OPS || this.inFlight) return;
    this.ops = 0;
    const wal = this.walFrames();
    if (wal === undefined || wal.frames >= BACKSTOP_PAGES) return;
    // Last, one just before the backstop, so that the writer's inline checkpoint finds little to copy and sync.
    if (wal.toCopy >= CHECKPOINT_PAGES || (wal.frames >= BACKSTOP_PAGES - BEFORE_BACKSTOP_PAGES && wal.toCopy >= BEFORE_BACKSTOP_PAGES / 2)) this.request('growth');
  }

  /**
   * The WAL's frames (`mxFrame`) and those not yet copied into the database (`mxFrame - nBackfill`), from
   * the WAL-index header; undefined, and SQLite checkpoints inline again, when it cannot be read.
   */
  walFrames(): { frames: number; toCopy: number } | undefined {
    try {
      this.shm ??= fs.openSync(`${this.db.name}-shm`, 'r');
      if (fs.readSync(this.shm, this.header, 0, SHM_HEADER_BYTES, 0) < SHM_HEADER_BYTES) throw new Error('short read');
    } catch {
      this.fallBack();
      return undefined;
    }
    const frames = LITTLE_ENDIAN ? this.header.readUInt32LE(SHM_MX_FRAME) : this.header.readUInt32BE(SHM_MX_FRAME);
    const backfilled = LITTLE_ENDIAN ? this.header.readUInt32LE(SHM_N_BACKFILL) : this.header.readUInt32BE(SHM_N_BACKFILL);
    return { frames, toCopy: Math.max(0, frames - backfilled) };
  }

  /** Checkpoints the thread has finished so far (the tests wait for one with {@link settled}). */
  get checkpoints(): number {
    return this.done;
  }

  /** Resolves once no checkpoint is in flight. */
  settled(): Promise<void> {
    return this.inFlight ? new Promise((resolve) => this.settle.push(resolve)) : Promise.resolve();
  }

  /**
   * Resolves when the next checkpoint has finished, or the thread is gone (the tests wait for the idle one
   * with it); the idle timer and the thread keep the process running meanwhile.
   */
  nextCheckpoint(): Promise<void> {
    if (this.failed) return Promise.resolve();
    this.idleTimer?.ref();
    this.worker?.ref();
    return new Promise((resolve) => this.next.push(resolve));
  }

  /** Lets a running checkpoint finish, then ends the thread. */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.failed = true; // no more requests
    for (const resolve of this.next.splice(0)) resolve();
    this.clearIdle();
    this.closeShm();
    if (!worker) return;
    this.worker = undefined;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    // Held open until the thread has closed its connection (it is unref'd while idle).
    worker.ref();
    worker.postMessage('close');
    await exited;
  }

  private request(why: keyof WalCheckpointer['asked']): void {
    this.asked[why] += 1;
    this.inFlight = true;
    // A checkpoint in flight is let finish before the process exits (and `settled()` waits for it).
    try {
      (this.worker ??= this.startThread()).ref();
      this.worker.postMessage('checkpoint');
    } catch {
      // No thread here (e.g. better-sqlite3 not resolvable from a bundle): never fail the commit that
      // asked; SQLite checkpoints inline again.
      this.fallBack();
    }
  }

  /** Checks for an idle hub in {@link IDLE_MS}: one timer per period while commits come, none once idle. */
  private armIdle(): void {
    this.commitsSinceArmed = 0;
    this.idleTimer = setTimeout(this.onIdleCheck, IDLE_MS);
    // Never what keeps the hub running, unless someone waits for the next checkpoint.
    if (this.next.length === 0) this.idleTimer.unref();
  }

  private readonly onIdleCheck = (): void => {
    this.idleTimer = undefined;
    if (this.failed) return;
    // Commits came meanwhile, or a checkpoint is still running: look again later.
    if (this.commitsSinceArmed > 0 || this.inFlight) {
      this.armIdle();
      return;
    }
    if (!this.db.open) return;
    if ((this.walFrames()?.toCopy ?? 0) > 0) this.request('idle');
  };

  private clearIdle(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private closeShm(): void {
    if (this.shm !== undefined) fs.closeSync(this.shm);
    this.shm = undefined;
  }

  private startThread(): Worker {
    const worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { file: this.db.name, module: createRequire(import.meta.url).resolve('better-sqlite3') } });
    // Never what keeps the hub running.
    worker.unref();
    worker.on('message', () => {
      // Idle again, unless stop() holds it open until it has exited.
      if (!this.failed) worker.unref();
      this.inFlight = false;
      this.done += 1;
      for (const resolve of this.settle.splice(0)) resolve();
      for (const resolve of this.next.splice(0)) resolve();
    });
    worker.on('error', () => this.fallBack());
    worker.on('exit', () => this.fallBack());
    return worker;
  }

  /** The thread is gone: SQLite checkpoints inline again (the default), as without this class. */
  private fallBack(): void {
    if (this.failed) return;
    this.failed = true;
    // A thread still running (the WAL-index header could not be read) ends with its connection; after
    // its 'error' or 'exit' this is a no-op.
    void this.worker?.terminate();
    this.worker = undefined;
    this.inFlight = false;
    this.clearIdle();
    this.closeShm();
    for (const resolve of this.settle.splice(0)) resolve();
    for (const resolve of this.next.splice(0)) resolve();
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
  }
}
