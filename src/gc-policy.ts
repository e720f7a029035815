/**
 * The garbage-collection policies of transfers (issue 13): the `cla-hub ship|fetch` CLI's
 * ({@link useTransferGcPolicy}, below) and the hub's and the worker's while a transfer runs
 * ({@link TransferHeapGrowth}). The CLI calls its own once at start, before the transfer.
 *
 * Why: moving a file allocates about two bytes of ArrayBuffer per byte received (the socket's read
 * buffers and `ws`'s buffer per message), while the JavaScript heap stays small (8-20 MB). With V8's
 * default incremental marking, such a process restarts marking right after each mark-compact (the trace
 * says "Start (allocation limit)" at 17 MB of a 29 MB limit) and finishes it every 40-150 ms: 95-143
 * mark-compacts per 4 GiB moved, whose concurrent marking cost a fetch's receiving end 1.3-1.7 CPU s/GiB
 * (bench/RESULTS.md, "Issue 13, transfer CPU per GiB"). Without incremental marking the same run did 3-4
 * mark-compacts. A mark-compact, when due, then runs in one pause instead of in steps: a few ms with
 * heaps this small.
 *
 * Only the CLI, a process that lives for one transfer: the worker gained as much CPU per GiB with it
 * (−0.8 to −1.9 s/GiB) but its peak RSS grew by 85-106 MiB over a benchmark run, against 48-75 without (old
 * ArrayBuffers then wait for a mark-compact that external memory alone starts), past the 64 MiB bound;
 * the hub's heap grows with its sessions and a long pause there would hold every connection.
 *
 * V8 reads this flag whenever it decides to start marking, so setting it after start-up takes effect
 * (checked with --trace-gc: 4 mark-compacts instead of 95 in the same run).
 */
import v8 from 'node:v8';

let applied = false;

/** Turns V8's incremental marking off in this process (once); see the module comment. */
export function useTransferGcPolicy(): void {
  if (applied) return;
  applied = true;
  v8.setFlagsFromString('--no-incremental-marking');
}

/** V8's heap growing factor, in percent over 1, while a transfer runs in a process with a small heap. */
export const TRANSFER_HEAP_GROWING_PERCENT = 400;
/** Heap in use above which a transfer leaves the growing factor alone: V8's own limit then leaves room. */
export const SMALL_HEAP_BYTES = 64 * 1024 * 1024;

/** What {@link holdTransferHeapGrowth} needs from V8 (tests pass their own). */
export interface HeapFlags {
  usedHeapBytes(): number;
  setFlags(flags: string): void;
}

const v8Flags: HeapFlags = {
  usedHeapBytes: () => v8.getHeapStatistics().used_heap_size,
  setFlags: (flags) => v8.setFlagsFromString(flags),
};

/**
 * Raises V8's heap growing factor to {@link TRANSFER_HEAP_GROWING_PERCENT} while at least one transfer
 * runs in this process (a hub relaying it, a worker sending or receiving it) and the heap in use is below
 * {@link SMALL_HEAP_BYTES} at its start; the returned function ends the hold (once), and the last one puts
 * V8's own dynamic factor back (`0`).
 *
 * Why (issue 13): every byte moved arrives in ArrayBuffers that die at once (Node's 64 KiB socket reads,
 * ws's buffer per message: about two bytes per byte), and V8 11 (Node 20) counts the external memory
 * allocated since the last mark-compact against the old generation's limit. With a small heap (the
 * hub's and a worker's 15-20 MB) that limit is only ~25 MB above the heap, so in about a third of the runs
 * the dead buffers alone started incremental marking again and again ("Start (allocation limit)" with the
 * old generation at 18 of 43 MB): a full mark-compact every 15-45 MiB moved, 2-3 CPU s per GiB in the hub
 * and in the worker (the "bad GC mode" of bench/RESULTS.md). A larger factor moves the limit far enough
 * that these starts stop (bad mode in 0 of 15 runs, against 8 of 19 without; bench/RESULTS.md, branch
 * xfer5). Only while a transfer runs, and only on a small heap, so a hub holding thousands of sessions
 * keeps V8's own growth. The factor is read when V8 recomputes its limits after a mark-compact, so it
 * takes effect from the next one.
 */
export class TransferHeapGrowth {
  private holds = 0;
  private raised = false;

  constructor(private readonly flags: HeapFlags = v8Flags) {}

  /** Transfers holding the policy now. */
  get active(): number {
    return this.holds;
  }

  /** Starts one hold; the returned function ends it (a second call does nothing). */
  hold(): () => void {
    this.holds += 1;
    if (!this.raised && this.flags.usedHeapBytes() < SMALL_HEAP_BYTES) {
      this.raised = true;
      this.flags.setFlags(`--heap-growing-percent=${TRANSFER_HEAP_GROWING_PERCENT}`);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds -= 1;
      if (this.holds === 0 && this.raised) {
        this.raised = false;
        this.flags.setFlags('--heap-growing-percent=0');
      }
    };
  }
}

/** This process's {@link TransferHeapGrowth} over V8's own flags. */
export const transferHeapGrowth = new TransferHeapGrowth();

/** {@link TransferHeapGrowth.hold} of this process's policy. */
export function holdTransferHeapGrowth(): () => void {
  return transferHeapGrowth.hold();
}
