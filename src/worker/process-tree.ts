/**
 * Stopping a command together with everything it started. A command is spawned `detached`, so on POSIX it
 * leads its own process group and `process.kill(-pid, …)` reaches the shell, its children and any
 * grandchildren that did not move to a group of their own. Windows has no process groups; there the tree
 * is walked by `taskkill /T` (best effort, not covered by the test suite).
 */
import { spawn } from 'node:child_process';
import type { Clock } from '../clock.ts';

/** The signals sent, in order, when a command is cancelled or times out. */
export const KILL_SEQUENCE = ['SIGINT', 'SIGTERM', 'SIGKILL'] as const;

/** One step of {@link KILL_SEQUENCE}. */
export type KillSignal = (typeof KILL_SEQUENCE)[number];

/**
 * Sends `signal` (or `0`, which only checks) to the process group led by `pid`.
 * @returns `false` when no process of the group is left (`ESRCH`), else `true`.
 */
export function signalProcessGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    // EPERM: members are left but none may be signalled by us (one changed its user id). They still hold
    // the group, so report it alive; there is nothing more this process can do about them.
    if (code === 'EPERM') return true;
    throw error;
  }
}

/** Whether any process of the group led by `pid` is still alive (zombies not yet reaped count as alive). */
export function isProcessGroupAlive(pid: number): boolean {
  return signalProcessGroup(pid, 0);
}

/** Options of {@link killProcessTree}. */
export interface KillProcessTreeOptions {
  /** Schedules the next, harsher signal. */
  clock: Clock;
  /** Time to wait after each signal before sending the next one, in milliseconds. */
  graceMs: number;
  /** Decides between process groups and `taskkill`. @default process.platform */
  platform?: NodeJS.Platform;
}

/** A running escalation started by {@link killProcessTree}. */
export interface ProcessTreeKill {
  /** Cancels the signals not sent yet. */
  stop(): void;
}

/**
 * Sends SIGINT to the process tree of `pid` now, SIGTERM after `graceMs` and SIGKILL after another
 * `graceMs`, each only while some process of the tree is still alive. The escalation ends by itself once
 * the tree is gone, so callers may let it run past the leader's exit: background children of a shell
 * ignore SIGINT (POSIX, non-interactive shells) and outlive it unless they hold one of its pipes.
 */
export function killProcessTree(pid: number, options: KillProcessTreeOptions): ProcessTreeKill {
  const { clock, graceMs } = options;
  const windows = (options.platform ?? process.platform) === 'win32';
  let timer: unknown;
  let stopped = false;

  const step = (index: number): void => {
    timer = undefined;
    if (stopped) return;
    const signal = KILL_SEQUENCE[index];
    const alive = windows ? isProcessAlive(pid) : isProcessGroupAlive(pid);
    if (signal === undefined || !alive) return;
    if (windows) taskkill(pid, signal === 'SIGKILL');
    else if (!signalProcessGroup(pid, signal)) return;
    if (index + 1 < KILL_SEQUENCE.length) timer = clock.setTimeout(() => step(index + 1), graceMs);
  };

  step(0);
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
    },
  };
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function taskkill(pid: number, force: boolean): void {
  const args = ['/pid', String(pid), '/T', ...(force ? ['/F'] : [])];
  const child = spawn('taskkill', args, { stdio: 'ignore', windowsHide: true });
  // A failed taskkill leaves the tree running; the next step (or the caller's timeout) tries again.
  child.on('error', () => undefined);
}
