/**
 * `cla-worker start/stop`: the worker as a background process. `start` runs `cla-worker run` in a new
 * session with its output appended to a logfile and its pid in a pidfile; `stop` asks it to stop with
 * SIGTERM (the agent's graceful stop: no new jobs, running ones get their grace period, `bye` to the hub)
 * and kills it if it is still there after a timeout.
 *
 * Secrets never go on the daemon's command line, which every local user can read (`ps`,
 * `/proc/PID/cmdline`): the caller passes them in `env` (`CLA_WORKER_TOKEN`), which only the same user
 * and root can read (`/proc/PID/environ` is mode 0400).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { systemClock, type Clock } from '../clock.ts';
import { ClaError, ErrorCode } from '../errors.ts';
import type { ConfigSource } from './config-file.ts';
import { claimPidfile, removePidfile, systemProcessTable, type ProcessTable } from './daemon-pidfile.ts';

/** The logfile's name in the default directory; one file for every id, as in the seed. */
export const DEFAULT_LOGFILE_NAME = 'cla-worker.log';

/** `cla-worker-<id>.pid`, with characters that cannot be in a file name replaced by `_`. */
export function defaultPidfileName(id: string): string {
  return `cla-worker-${id.replace(/[^A-Za-z0-9._-]/g, '_')}.pid`;
}

/** Input of {@link daemonPaths}. */
export interface DaemonPathsInput {
  /** The worker id; needed unless `pidfile` is set. */
  id: string | undefined;
  /** `--pidfile` / `CLA_WORKER_PIDFILE` / `pidfile:`, as merged by parseWorkerOptions. */
  pidfile: string | undefined;
  /** `--logfile` / `CLA_WORKER_LOGFILE` / `logfile:`. */
  logfile: string | undefined;
  /** Which of the two came from the config file: a relative path there is relative to the file. */
  fromConfigFile?: { pidfile?: boolean; logfile?: boolean };
  /** The config file in use, and how it was found. */
  config: string | undefined;
  configSource: ConfigSource | undefined;
  cwd: string;
}

/** Absolute paths of a daemon's files. */
export interface DaemonPaths {
  pidfile: string;
  logfile: string;
}

/**
 * The daemon's pidfile and logfile. Unless given, they sit in the directory of the config file in use
 * (where an installation keeps its `cla-worker.yml`, e.g. `/opt/cla-worker`, so `status` and `stop` find
 * them from any working directory), or in `cwd` when there is none or it is the system-wide
 * `/etc/cla-worker.yml` (`/etc` holds configuration, not logs or pids).
 * @throws ClaError `CONFIG_MISSING` when neither an id nor a pidfile is known.
 */
export function daemonPaths(input: DaemonPathsInput): DaemonPaths {
  const { cwd } = input;
  const dir = input.config !== undefined && input.configSource !== 'etc' ? path.dirname(input.config) : cwd;
  const configDir = input.config !== undefined ? path.dirname(input.config) : cwd;
  const resolve = (file: string, fromFile: boolean | undefined) => path.resolve(fromFile ? configDir : cwd, file);
  let pidfile: string;
  if (input.pidfile !== undefined) pidfile = resolve(input.pidfile, input.fromConfigFile?.pidfile);
  else if (input.id !== undefined) pidfile = path.join(dir, defaultPidfileName(input.id));
  else throw new ClaError(ErrorCode.ConfigMissing, 'No worker id and no pidfile: pass --id ID or --pidfile FILE');
  const logfile = input.logfile !== undefined ? resolve(input.logfile, input.fromConfigFile?.logfile) : path.join(dir, DEFAULT_LOGFILE_NAME);
  return { pidfile, logfile };
}

/** Input of {@link spawnDaemon}. */
export interface SpawnDaemonInput {
  /** The program, e.g. `process.execPath`. */
  command: string;
  /** Its arguments, e.g. `['/…/bin/cla-worker.js', 'run', '--id', 'w1']`. No secrets: they show in `ps`. */
  args: string[];
  /** The daemon's whole environment, secrets included. */
  env: NodeJS.ProcessEnv;
  cwd: string;
  pidfile: string;
  logfile: string;
  /** How long to watch for an early exit, in ms. @default 5000 */
  watchMs?: number;
  /** Ends the watch early: a logfile line that shows the daemon is up. Gets the daemon's pid. */
  ready?: (line: string, pid: number) => boolean;
  /** Lines of the logfile kept for an early-exit report. @default 15 */
  tailLines?: number;
  clock?: Clock;
}

/** How the watch after spawning ended. */
export type DaemonStartOutcome =
  /** `ready` matched a line. */
  | { outcome: 'ready'; pid: number }
  /** Still running at the end of the watch, not (yet) ready: retrying the hub, or `ready` never logs. */
  | { outcome: 'running'; pid: number }
  /** Exited during the watch; the pidfile was deleted. `log` holds the lines it wrote. */
  | { outcome: 'exited'; pid: number; code: number | null; signal: NodeJS.Signals | null; log: string[] };

/** A daemon just spawned, with its pid in the pidfile. */
export interface SpawnedDaemon {
  pid: number;
  /** Resolves when the watch ends; afterwards this process no longer waits for the daemon. */
  settled: Promise<DaemonStartOutcome>;
}

/**
 * Spawns the daemon: a new session (no controlling terminal, so closing the shell sends it no SIGHUP),
 * stdin from /dev/null, stdout and stderr appended to the logfile (`O_APPEND`: earlier runs are kept, and
 * copytruncate log rotation works), and its pid written to a pidfile created exclusively.
 * The caller must have removed a stale pidfile first.
 * @throws ClaError `DUPLICATE_WORKER` when the pidfile exists, `IO_ERROR` when a file cannot be opened,
 *   `SPAWN_FAILED` when the program cannot be started.
 */
export function spawnDaemon(input: SpawnDaemonInput): SpawnedDaemon {
  const clock = input.clock ?? systemClock;
  const claim = claimPidfile(input.pidfile);
  let log: number;
  try {
    fs.mkdirSync(path.dirname(input.logfile), { recursive: true });
    log = fs.openSync(input.logfile, 'a', 0o640);
  } catch (error) {
    claim.release();
    throw new ClaError(ErrorCode.IoError, `Cannot open logfile ${input.logfile}: ${(error as Error).message}`, { data: { path: input.logfile }, cause: error });
  }
  const offset = fs.fstatSync(log).size;
  const child = spawn(input.command, input.args, { cwd: input.cwd, env: input.env, detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  if (child.pid === undefined) {
    claim.release();
    // The error event follows on the next tick; the pid's absence already says the spawn failed.
    child.once('error', () => undefined);
    throw new ClaError(ErrorCode.SpawnFailed, `Cannot start ${input.command}`, { data: { command: input.command } });
  }
  const pid = child.pid;
  claim.write(pid);

  const settled = new Promise<DaemonStartOutcome>((resolve) => {
    let timer: unknown;
    let done = false;
    const finish = (outcome: DaemonStartOutcome) => {
      if (done) return;
      done = true;
      clock.clearTimeout(timer);
      child.removeAllListeners('exit');
      // Let this process exit while the daemon runs on.
      child.unref();
      resolve(outcome);
    };
    child.once('exit', (code, signal) => {
      removePidfile(input.pidfile, pid);
      finish({ outcome: 'exited', pid, code, signal, log: readLogTail(input.logfile, offset, input.tailLines ?? 15) });
    });
    const deadline = clock.now() + (input.watchMs ?? 5000);
    const poll = () => {
      if (input.ready && readLogTail(input.logfile, offset, Infinity).some((line) => input.ready!(line, pid))) {
        finish({ outcome: 'ready', pid });
      } else if (clock.now() >= deadline) {
        finish({ outcome: 'running', pid });
      } else {
        timer = clock.setTimeout(poll, 100);
      }
    };
    timer = clock.setTimeout(poll, 100);
  });
  return { pid, settled };
}

/** The last `count` lines the logfile got past `offset`. */
export function readLogTail(file: string, offset: number, count: number): string[] {
  let text: string;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buffer = Buffer.alloc(Math.max(0, size - offset));
      fs.readSync(fd, buffer, 0, buffer.length, offset);
      text = buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return [];
  }
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  return count === Infinity ? lines : lines.slice(-count);
}

/** Options of {@link stopDaemon}. */
export interface StopDaemonOptions {
  /** Time the daemon gets to exit after SIGTERM, in ms, before SIGKILL. @default 15000 */
  timeoutMs?: number;
  /** Time to wait for the process to vanish after SIGKILL, in ms. @default 5000 */
  killWaitMs?: number;
  /** How often to look, in ms. @default 100 */
  pollMs?: number;
  table?: ProcessTable;
  clock?: Clock;
}

/** How a stop went. */
export interface StopDaemonResult {
  /** SIGKILL was needed. */
  forced: boolean;
  /** It was gone before SIGTERM reached it. */
  alreadyGone: boolean;
}

/**
 * Stops the daemon `pid`: SIGTERM, then SIGKILL after `timeoutMs`. Resolves once it is gone.
 * The caller checks first that `pid` is a daemon (inspectPidfile).
 * @throws ClaError `IO_ERROR` when this user may not signal it (`EPERM`), `TIMEOUT` when it survives SIGKILL.
 */
export async function stopDaemon(pid: number, options: StopDaemonOptions = {}): Promise<StopDaemonResult> {
  const table = options.table ?? systemProcessTable;
  const clock = options.clock ?? systemClock;
  const pollMs = options.pollMs ?? 100;
  const signal = (name: NodeJS.Signals): boolean => {
    try {
      table.kill(pid, name);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') return false;
      if (code === 'EPERM') {
        throw new ClaError(ErrorCode.IoError, `Not permitted to signal pid=${pid} (it runs as another user: use that user or root)`, { data: { pid, errno: code }, cause: error });
      }
      throw error;
    }
  };
  const goneWithin = async (ms: number): Promise<boolean> => {
    const deadline = clock.now() + ms;
    for (;;) {
      if (!table.isAlive(pid)) return true;
      if (clock.now() >= deadline) return false;
      await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), pollMs));
    }
  };
  if (!signal('SIGTERM')) return { forced: false, alreadyGone: true };
  if (await goneWithin(options.timeoutMs ?? 15_000)) return { forced: false, alreadyGone: false };
  signal('SIGKILL');
  if (await goneWithin(options.killWaitMs ?? 5000)) return { forced: true, alreadyGone: false };
  throw new ClaError(ErrorCode.Timeout, `pid=${pid} is still there after SIGKILL`, { data: { pid } });
}
