/**
 * One watchdog process per worker process (issue 11 case 7, made cheap for issue 13): a small `/bin/sh`
 * in its own process group that reads lines from a pipe whose other end only this worker holds.
 * `+PGID` adds a job's process group to its list, `-PGID` removes it. When the worker dies, even by
 * SIGKILL, the kernel closes the pipe, `read` sees EOF, and the watchdog sends SIGTERM to every group still
 * listed, then SIGKILL after the grace. A job costs two small pipe writes instead of a process spawn (the
 * old design started one `/bin/sh` per job, a fork of the whole worker on the exec critical path).
 *
 * Why a group id is never signalled after its job ended (the old design killed the per-job watchdog before
 * it could act on a reused id; this one orders the messages instead): the worker writes `-PGID` when the
 * job's process has been reaped and its pipes closed, before anything else can happen to that id in this
 * process. A pipe delivers bytes in order and EOF only after every byte written before the writer died,
 * so the watchdog has removed the group before it acts on EOF, whether the worker dies just after the
 * write or long after. The window between the reap and the `-PGID` write (one turn of the event loop) is
 * the same as the old design's window between the reap and its kill of the per-job watchdog.
 *
 * If the watchdog exits while the worker lives (killed by someone, out of memory), the worker starts a new
 * one, sends it every group still running, and logs a warning. A watchdog that stops reading (stopped by
 * SIGSTOP) is replaced once `maxQueuedBytes` wait in the pipe, so the queue in this process stays bounded.
 * POSIX only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../logger.ts';
import { processIdentity, type ProcessIdentity } from './process-identity.ts';
import { signalProcessGroup } from './process-tree.ts';

/** Grace between the watchdog's SIGTERM and SIGKILL, in seconds. */
export const WATCHDOG_GRACE_SECONDS = 2;

/** Watchdogs started in a row after one exited, with no new job in between, before the worker gives up. */
const MAX_RESTARTS = 3;

// Builtins only while the worker lives (`read`, `case`, parameter expansion): no process per message.
// The list is kept as " 1 2 3 "; a line that is not `+N`/`-N` with N a positive integer is ignored.
const WATCHDOG_SCRIPT = `
groups=' '
while IFS= read -r line; do
  g=\${line#?}
  case $g in ''|*[!0-9]*) continue ;; esac
  case $line in
    +*) case $groups in *" $g "*) ;; *) groups="$groups$g " ;; esac ;;
    -*) case $groups in *" $g "*) groups="\${groups%% $g *} \${groups#* $g }" ;; esac ;;
  esac
done
[ "$groups" = ' ' ] && exit 0
for g in $groups; do kill -TERM -"$g" 2>/dev/null; done
sleep ${WATCHDOG_GRACE_SECONDS}
for g in $groups; do kill -KILL -"$g" 2>/dev/null; done
`;

/** Options of {@link GroupWatchdog}. */
export interface GroupWatchdogOptions {
  log: Logger;
  /** Bytes allowed to wait in this process for the watchdog to read them. @default 65536 */
  maxQueuedBytes?: number;
  /** Called with each new watchdog process (tests). */
  onStart?: (child: ChildProcess) => void;
}

/** The watchdog of this worker process, started at the first guarded group. */
export class GroupWatchdog {
  private child: ChildProcess | undefined;
  private childIdentity: ProcessIdentity | null = null;
  private readonly live = new Set<number>();
  private readonly maxQueuedBytes: number;
  /** Restarts since the last new group: a shell that cannot run must not be forked again and again. */
  private restarts = 0;
  /** `-PGID` lines not written yet (see {@link remove}). */
  private removals = '';

  constructor(private readonly options: GroupWatchdogOptions) {
    this.maxQueuedBytes = options.maxQueuedBytes ?? 64 * 1024;
  }

  /** The running watchdog's identity (recorded in the ledger so the next start can stop it), or null. */
  get identity(): ProcessIdentity | null {
    return this.childIdentity;
  }

  /** The process groups currently listed. */
  get groups(): ReadonlySet<number> {
    return this.live;
  }

  /** Lists group `pgid`: it is signalled if this process dies before {@link remove}. */
  add(pgid: number): void {
    const running = this.child !== undefined;
    this.live.add(pgid);
    this.restarts = 0;
    // A watchdog started now is sent the whole list, this group included.
    if (running) this.write(`${this.takeRemovals()}+${pgid}\n`);
    else this.ensureRunning();
  }

  /**
   * Removes group `pgid` from the list (call once its leader was reaped). Its `-PGID` line is written at the
   * end of this tick (`process.nextTick`), before the next `+PGID` line if one comes first, so the pipe
   * keeps the call order. Issue 13: the exit of a job is corked on the worker's socket in the same tick
   * as its removal (exec-runner.ts releases the group after emitting `exit`), and the socket's uncork is a
   * `nextTick` queued earlier, so the exit frame leaves before this pipe write wakes the watchdog's shell
   * on the other core. The line still goes in the turn of the reap (nextTicks run before the event loop
   * goes on), so the window of the argument above is unchanged.
   */
  remove(pgid: number): void {
    if (!this.live.delete(pgid)) return;
    if (this.removals === '') process.nextTick(this.writeRemovals);
    this.removals += `-${pgid}\n`;
  }

  /**
   * Stops the watchdog without signalling any group (tests). A worker that exits closes the pipe instead,
   * and the groups still listed are stopped: no job outlives its worker.
   */
  close(): void {
    const child = this.child;
    this.child = undefined;
    this.childIdentity = null;
    if (child?.pid !== undefined) signalProcessGroup(child.pid, 'SIGKILL');
  }

  /** Starts a watchdog if none runs; false when none could be started (then groups are unguarded). */
  private ensureRunning(): boolean {
    if (this.child !== undefined) return true;
    let child: ChildProcess;
    try {
      child = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'cla-job-watchdog'], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    } catch (error) {
      this.options.log.warn({ err: error }, 'cannot start the job watchdog; jobs would outlive a crash of this worker');
      return false;
    }
    child.on('error', (error) => {
      if (this.child === child || child.pid === undefined) this.options.log.warn({ err: error }, 'cannot start the job watchdog; jobs would outlive a crash of this worker');
    });
    child.stdin?.on('error', () => undefined);
    child.once('exit', (code, signal) => this.exited(child, signal ?? code));
    // Neither the watchdog nor its pipe may keep the worker's event loop alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    if (child.pid === undefined) return false; // 'error' follows
    this.child = child;
    this.childIdentity = processIdentity(child.pid);
    this.options.onStart?.(child);
    // A restarted watchdog learns the groups still running (the first one starts with an empty list).
    if (this.live.size > 0) this.write([...this.live].map((pgid) => `+${pgid}\n`).join(''));
    return true;
  }

  private readonly writeRemovals = (): void => {
    const lines = this.takeRemovals();
    if (lines !== '') this.write(lines);
  };

  private takeRemovals(): string {
    const lines = this.removals;
    this.removals = '';
    return lines;
  }

  private write(line: string): void {
    const child = this.child;
    if (child === undefined || child.stdin === null || child.stdin.destroyed) return;
    child.stdin.write(line);
    if (child.stdin.writableLength > this.maxQueuedBytes) {
      this.options.log.warn({ pid: child.pid, queued: child.stdin.writableLength }, 'the job watchdog does not read its pipe; replacing it');
      // Its group: the watchdog and a `sleep` it may have started.
      if (child.pid !== undefined) signalProcessGroup(child.pid, 'SIGKILL');
    }
  }

  private exited(child: ChildProcess, how: number | string | null): void {
    if (this.child !== child) return; // closed on purpose, or already replaced
    this.child = undefined;
    this.childIdentity = null;
    if (this.live.size === 0) return; // the next job starts a new one
    if (++this.restarts > MAX_RESTARTS) {
      this.options.log.error({ pid: child.pid, exit: how, groups: this.live.size }, 'the job watchdog keeps exiting; running jobs would outlive a crash of this worker');
      return;
    }
    this.options.log.warn({ pid: child.pid, exit: how, groups: this.live.size }, 'the job watchdog exited while this worker runs; starting a new one');
    this.ensureRunning();
  }
}
