/**
 * The garbage-collection policy of the `cla-hub ship|fetch` CLI (issue 13). Call once at start, before
 * the transfer.
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
