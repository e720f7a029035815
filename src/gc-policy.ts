/**
 * The garbage-collection policy of the processes that move file bytes: the `cla-worker run` agent and the
 * `cla-hub ship|fetch` CLI (issue 13). Call once at start, before the first transfer.
 *
 * Why: moving a file allocates about two bytes of ArrayBuffer per byte received (the socket's read
 * buffers and `ws`'s buffer per message), while the JavaScript heap stays small (8-20 MB). With V8's
 * default incremental marking, such a process restarts marking right after each mark-compact (the
 * trace says "Start (allocation limit)" at 17 MB of a 29 MB limit) and finishes it every 100-150 ms:
 * 95-143 mark-compacts per 4 GiB moved, and the helper threads' concurrent marking cost the receiving
 * end of a fetch 1.3-1.7 CPU s per GiB (bench/RESULTS.md, "Issue 13, transfer CPU per GiB"). Without
 * incremental marking the same run did 3-4 mark-compacts and the fetch's receiver went from 3.5-3.9 to
 * 2.2-2.4 CPU s/GiB. What it costs: a mark-compact, when one is due, runs in one pause instead of in
 * steps; with heaps this small that is a few ms. The hub, whose heap grows with its sessions, keeps
 * V8's default.
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
