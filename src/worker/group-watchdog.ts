/**
 * One watchdog process per worker process (issue 11 case 7, made cheap for issue 13): a small `/bin/sh`
 * in its own process group whose stdin is a pipe whose other end only this worker holds. Nothing is ever
 * written to that pipe: when the worker dies, even by SIGKILL, the kernel closes it, `read` sees EOF, and
 * the watchdog reads the worker's list file (`+PGID` adds a job's process group, `-PGID` removes it, one
 * line each, in call order) and sends SIGTERM to every group still listed, then SIGKILL after the grace.
 *
 * Why a file rather than lines on the pipe (issue 13, exec10): a line on the pipe woke the watchdog's `sh`
 * twice per job, once while the job's process starts and once right after its exit frame, and on two cores
 * that wake competed with the job, the hub and the worker on the exec critical path (a `+PGID` pipe write
 * took ~0.7 ms in 15 % of the bench's round trips). An append to a file wakes nobody.
 *
 * Why a group id is never signalled after its job ended: the worker appends `-PGID` when the job's process
 * has been reaped and its pipes closed, before anything else can happen to that id in this process. The
 * watchdog reads the file only after EOF on its pipe, i.e. after the worker died, and a `write()` to a file
 * that returned is seen by every later read, so the watchdog sees the removal whether the worker dies just
 * after the write or long after. The window between the reap and the `-PGID` append (one turn of the event
 * loop) is the same as the old design's window between the reap and its kill of the per-job watchdog.
 *
 * The file is rewritten with the groups still listed once it grows past {@link COMPACT_BYTES} (a temp
 * file renamed over it: the watchdog reads the old or the new one, each complete). If the watchdog exits
 * while the worker lives (killed by someone, out of memory), the worker starts a new one on the same file
 * and logs a warning. POSIX only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { Logger } from '../logger.ts';
import { processIdentity, type ProcessIdentity } from './process-identity.ts';
import { signalProcessGroup } from './process-tree.ts';

/** Grace between the watchdog's SIGTERM and SIGKILL, in seconds. */
export const WATCHDOG_GRACE_SECONDS = 2;

/** Watchdogs started in a row after one exited, with no new job in between, before the worker gives up. */
const MAX_RESTARTS = 3;

/** The list file is rewritten with the live groups only once it is this long (a few hundred jobs). */
export const COMPACT_BYTES = 16 * 1024;

// Nothing is written to stdin: the first loop ends at EOF, when the worker died (or closed the pipe). The
// list is then read with builtins only (`read`, `case`, parameter expansion); a line that is not `+N`/`-N`
// with N a positive integer is ignored. The list is kept as " 1 2 3 ". $1 is the list file.
const WATCHDOG_SCRIPT = `
while IFS= read -r line; do :; done
groups=' '
if [ -f "$1" ]; then
  while IFS= read -r line; do
    g=\${line#?}
    case $g in ''|*[!0-9]*) continue ;; esac
    case $line in
      +*) case $groups in *" $g "*) ;; *) groups="$groups$g " ;; esac ;;
      -*) case $groups in *" $g "*) groups="\${groups%% $g *} \${groups#* $g }" ;; esac ;;
    esac
  done < "$1"
  rm -f -- "$1"
fi
[ "$groups" = ' ' ] && exit 0
for g in $groups; do kill -TERM -"$g" 2>/dev/null; done
sleep ${WATCHDOG_GRACE_SECONDS}
for g in $groups; do kill -KILL -"$g" 2>/dev/null; done
`;

/** Options of {@link GroupWatchdog}. */
export interface GroupWatchdogOptions {
  log: Logger;
  /** The list file (in the worker's state folder, one per worker process); created with mode 0600. */
  listFile: string;
  /** Called with each new watchdog process (tests). */
  onStart?: (child: ChildProcess) => void;
}

/** The watchdog of this worker process, started at the first guarded group. */
export class GroupWatchdog {
  private child: ChildProcess | undefined;
  private childIdentity: ProcessIdentity | null = null;
  private readonly live = new Set<number>();
  /** Restarts since the last new group: a shell that cannot run must not be forked again and again. */
  private restarts = 0;
  /** `-PGID` lines not written yet (see {@link remove}). */
  private removals = '';
  /** The list file, open for appending; undefined before the first group, or when reopening it failed. */
  private fd: number | undefined;
  /** Bytes in the list file. */
  private size = 0;
  /** A failed write is logged once. */
  private writeFailed = false;

  constructor(private readonly options: GroupWatchdogOptions) {}

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
    this.live.add(pgid);
    this.restarts = 0;
    this.write(`${this.takeRemovals()}+${pgid}\n`);
    this.ensureRunning();
  }

  /**
   * Removes group `pgid` from the list (call once its leader was reaped). Its `-PGID` line is written at the
   * end of this tick (`process.nextTick`), before the next `+PGID` line if one comes first, so the file
   * keeps the call order. Issue 13: the exit of a job is corked on the worker's socket in the same tick as
   * its removal (exec-runner.ts releases the group after emitting `exit`), and the socket's uncork is a
   * `nextTick` queued earlier, so the exit frame leaves before this write. The line still goes in the turn
   * of the reap (nextTicks run before the event loop goes on), so the window of the argument above is
   * unchanged.
   */
  remove(pgid: number): void {
    if (!this.live.delete(pgid)) return;
    if (this.removals === '') process.nextTick(this.writeRemovals);
    this.removals += `-${pgid}\n`;
  }

  /**
   * Stops the watchdog without signalling any group, and removes the list file (tests). A worker that
   * exits closes the pipe instead, and the groups still listed are stopped: no job outlives its worker.
   */
  close(): void {
    const child = this.child;
    this.child = undefined;
    this.childIdentity = null;
    if (child?.pid !== undefined) signalProcessGroup(child.pid, 'SIGKILL');
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    fs.rmSync(this.options.listFile, { force: true });
  }

  /** Starts a watchdog if none runs; false when none could be started (then groups are unguarded). */
  private ensureRunning(): boolean {
    if (this.child !== undefined) return true;
    let child: ChildProcess;
    try {
      child = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'cla-job-watchdog', this.options.listFile], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
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

  /** Appends `lines` to the list file (made at the first line); rewrites it once it has grown long. */
  private write(lines: string): void {
    try {
      if (this.fd === undefined) this.rewrite();
      else {
        this.size += fs.writeSync(this.fd, lines);
        if (this.size > COMPACT_BYTES) this.rewrite();
      }
    } catch (error) {
      if (!this.writeFailed) this.options.log.warn({ err: error, file: this.options.listFile }, "cannot write the job watchdog's list; running jobs would outlive a crash of this worker");
      this.writeFailed = true;
    }
  }

  /**
   * Replaces the list file with the groups listed now (which the lines being written are part of): a temp
   * file renamed over it, so a watchdog reading it sees the old list or the new one, each whole.
   */
  private rewrite(): void {
    const content = [...this.live].map((pgid) => `+${pgid}\n`).join('');
    const temp = `${this.options.listFile}.tmp`;
    fs.writeFileSync(temp, content, { mode: 0o600 });
    fs.renameSync(temp, this.options.listFile);
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined; // a failed open below: the next line rewrites the file again
    this.fd = fs.openSync(this.options.listFile, 'a', 0o600);
    this.size = Buffer.byteLength(content);
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
