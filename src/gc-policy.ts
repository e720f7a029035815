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
import vm from 'node:vm';

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

/** ArrayBuffer bytes (live or dead, not yet freed) above which a transfer's process collects; see {@link TransferHeapGrowth}. */
export const TRANSFER_ARRAY_BUFFER_CAP_BYTES = 28 * 1024 * 1024;
/** Room per further concurrent transfer above the cap: one flow-control window (8 MiB). */
const TRANSFER_WINDOW_BYTES_FOR_CAP = 8 * 1024 * 1024;
/** Over the cap by this much after a young-generation collection: the dead buffers are old, collect all. */
const MAJOR_MARGIN_BYTES = 8 * 1024 * 1024;
/** How often, in ms, a process holding the policy compares its ArrayBuffer bytes with the cap. */
export const ARRAY_BUFFER_CHECK_MS = 20;

/** What {@link holdTransferHeapGrowth} needs from V8 (tests pass their own). */
export interface HeapFlags {
  usedHeapBytes(): number;
  setFlags(flags: string): void;
  /** Bytes of ArrayBuffer backing stores not yet freed (`process.memoryUsage().arrayBuffers`). */
  arrayBufferBytes?(): number;
  /** Runs a young-generation (`minor`) or full (`major`) collection now. */
  collect?(type: 'minor' | 'major'): void;
}

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;
let gcFunction: GcFunction | undefined;
/** V8's `gc()`, exposed once: the flag applies to contexts made after it is set (Node's documented trick). */
function exposedGc(): GcFunction {
  if (gcFunction) return gcFunction;
  const global = (globalThis as { gc?: GcFunction }).gc;
  if (typeof global === 'function') return (gcFunction = global);
  v8.setFlagsFromString('--expose-gc');
  try {
    gcFunction = vm.runInNewContext('gc') as GcFunction;
  } finally {
    v8.setFlagsFromString('--no-expose-gc'); // later contexts (eval jobs) do not get it
  }
  return gcFunction;
}

const v8Flags: HeapFlags = {
  usedHeapBytes: () => v8.getHeapStatistics().used_heap_size,
  setFlags: (flags) => v8.setFlagsFromString(flags),
  arrayBufferBytes: () => process.memoryUsage().arrayBuffers,
  // `gc()` with no argument is a full collection; Node 20's V8 runs `{ type: 'major' }` as a scavenge.
  collect: (type) => (type === 'major' ? exposedGc()() : exposedGc()({ type: 'minor' })),
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
 *
 * The ArrayBuffer cap (xfer7): while raised, every {@link ARRAY_BUFFER_CHECK_MS} ms the ArrayBuffer bytes
 * not yet freed are compared with {@link TRANSFER_ARRAY_BUFFER_CAP_BYTES} (one more window per further
 * transfer); over it, a young-generation collection runs, and a full one when the bytes are still more
 * than 8 MiB over at the next check after a young one. Why: left to V8, the dead buffers were most of a
 * worker's peak RSS (36-68 MiB of ArrayBuffers at the peak, live ones ~10): V8 scavenges for them only
 * once the young generation holds 32 MiB of backing stores (2x its largest semi-space, a constant, not
 * `--max-semi-space-size`), and those promoted (in flight at two scavenges) wait for a mark-compact,
 * which the raised factor defers until external memory is 64 MB over its last level (V8's
 * `kExternalAllocationSoftLimit`). Freed 1 MiB buffers then also stay in glibc's heap, so the process keeps
 * the peak's RSS. With the cap the peak growth of a worker fell from 52-73 to 40-45 MiB (bench/RESULTS.md,
 * xfer7) for ~15% more young collections and no more full ones; its CPU per GiB did not move. A 24 MiB
 * cap gave 37-40 MiB but cost the hub and the worker 0.1-0.3 CPU s/GiB (more young and full collections).
 */
export class TransferHeapGrowth {
  private holds = 0;
  private raised = false;
  private timer: NodeJS.Timeout | undefined;
  /** The last check collected the young generation and the bytes were over the cap. */
  private minorRan = false;
  /** Collections this policy ran (the bench and tests read them). */
  readonly collections = { minor: 0, major: 0 };

  constructor(private readonly flags: HeapFlags = v8Flags) {}

  /**
   * One check of the ArrayBuffer cap (the timer runs it every {@link ARRAY_BUFFER_CHECK_MS} while raised).
   * Over the cap: a young-generation collection frees the dead buffers of the last messages; still over
   * at the next check (the freeing runs in the background, so it is looked at then): the dead buffers
   * are in the old generation, and a full collection frees them.
   */
  checkArrayBuffers(): void {
    const bytes = this.flags.arrayBufferBytes?.() ?? 0;
    // One transfer's cap also when called with no hold (a direct call, a check racing the last release).
    const cap = TRANSFER_ARRAY_BUFFER_CAP_BYTES + (Math.max(1, this.holds) - 1) * TRANSFER_WINDOW_BYTES_FOR_CAP;
    if (bytes <= cap) {
      this.minorRan = false;
      return;
    }
    const type = this.minorRan && bytes > cap + MAJOR_MARGIN_BYTES ? 'major' : 'minor';
    this.flags.collect?.(type);
    this.collections[type] += 1;
    this.minorRan = type === 'minor';
  }

  /** The ArrayBuffer cap is being checked (a hold raised the factor and V8's counters are at hand). */
  get watching(): boolean {
    return this.timer !== undefined;
  }

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
      if (this.flags.arrayBufferBytes && this.flags.collect) {
        this.timer = setInterval(() => this.checkArrayBuffers(), ARRAY_BUFFER_CHECK_MS);
        this.timer.unref();
      }
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds -= 1;
      if (this.holds === 0 && this.raised) {
        this.raised = false;
        clearInterval(this.timer);
        this.timer = undefined;
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
