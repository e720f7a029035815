/**
 * The daemon's pidfile: one decimal pid and a newline, as the seed's Clarive worker and most init scripts
 * write it. A pid is only trusted while it names a live process whose command line is `cla-worker … run`:
 * pids are reused, and a pidfile left behind by a crash must not make `stop` kill an unrelated program.
 *
 * The process table is an interface so the rules can be tested without real processes; the system one
 * reads `/proc` on Linux and asks `ps` elsewhere.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ClaError, ErrorCode } from '../errors.ts';

/** What a daemon's program or script is called: `node …/bin/cla-worker.js run --id=ID`. */
export const DAEMON_MARKER = 'cla-worker';

/**
 * Whether a command line is a worker daemon's: a program or script named cla-worker, with the word `run`.
 * A bare "contains cla-worker" would also match `tail -f /opt/cla-worker/cla-worker.log`.
 */
export function isDaemonCommand(argv: readonly string[]): boolean {
  return argv.includes('run') && argv.some((arg) => path.basename(arg).includes(DAEMON_MARKER));
}

/** The few process-table operations the daemon commands need. */
export interface ProcessTable {
  /** Whether `pid` is a live process. A zombie (exited, not yet reaped) is not alive. */
  isAlive(pid: number): boolean;
  /** The command line as arguments; `undefined` when it cannot be read (gone, zombie). */
  commandLine(pid: number): string[] | undefined;
  /**
   * Sends `signal` to `pid`.
   * @throws the `kill(2)` error as a Node errno error (`ESRCH`, `EPERM`)
   */
  kill(pid: number, signal: NodeJS.Signals): void;
}

/** The real process table: `/proc` on Linux, `ps` on other POSIX systems. */
export const systemProcessTable: ProcessTable = {
  isAlive(pid) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      // EPERM: it exists but belongs to another user.
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
    }
    // A daemon whose parent exited is reaped by init; in containers whose pid 1 does not reap, a stopped
    // daemon lingers as a zombie that kill(pid, 0) still reaches.
    return processState(pid) !== 'Z';
  },
  commandLine(pid) {
    if (process.platform === 'linux') {
      const raw = readProc(pid, 'cmdline');
      if (raw === undefined) return undefined;
      const argv = raw.split('\0').filter((part) => part !== '');
      return argv.length === 0 ? undefined : argv;
    }
    // ps joins the arguments with spaces: a path with a space in it splits, which the check above survives.
    return psField(pid, 'command')?.split(/\s+/);
  },
  kill(pid, signal) {
    process.kill(pid, signal);
  },
};

/** The one-letter state (`R`, `S`, `Z`, ...), or `undefined` when unknown. */
function processState(pid: number): string | undefined {
  if (process.platform === 'linux') {
    // The command name, in parentheses, may itself contain spaces and parentheses: the state follows the last `)`.
    const stat = readProc(pid, 'stat');
    return stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || undefined;
  }
  return psField(pid, 'stat')?.charAt(0);
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

function psField(pid: number, field: string): string | undefined {
  try {
    const out = execFileSync('ps', ['-p', String(pid), '-o', `${field}=`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.trim() || undefined;
  } catch {
    // ps exits 1 when there is no such process.
    return undefined;
  }
}

/** What a pidfile says, checked against the process table. */
export type PidfileState =
  | { state: 'missing' }
  | { state: 'running'; pid: number }
  /**
   * `gone`: no such process; `reused`: the pid now belongs to another program (`command`);
   * `invalid`: the file does not hold a pid.
   */
  | { state: 'stale'; pid: number | undefined; reason: 'gone' | 'reused' | 'invalid'; command?: string };

/**
 * Reads a pidfile.
 * @returns the pid, `null` when the file does not exist, `undefined` when it holds no valid pid.
 */
export function readPidfile(file: string): number | null | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ClaError(ErrorCode.IoError, `Cannot read pidfile ${file}: ${(error as Error).message}`, { data: { path: file }, cause: error });
  }
  const pid = /^\s*(\d+)\s*$/.test(text) ? Number(text) : NaN;
  // 0 and 1 would signal our own group and init.
  return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
}

/**
 * Reads a pidfile and decides whether it names a running daemon.
 * @param self this process's pid: `cla-worker status` itself matches the marker, so it never counts.
 */
export function inspectPidfile(file: string, table: ProcessTable = systemProcessTable, self = process.pid): PidfileState {
  const pid = readPidfile(file);
  if (pid === null) return { state: 'missing' };
  if (pid === undefined) return { state: 'stale', pid: undefined, reason: 'invalid' };
  if (!table.isAlive(pid)) return { state: 'stale', pid, reason: 'gone' };
  const argv = table.commandLine(pid);
  // An unreadable command line of a live process (no ps, hidepid) cannot be disproved: trust the pidfile.
  if (pid === self || (argv !== undefined && !isDaemonCommand(argv))) {
    return { state: 'stale', pid, reason: 'reused', command: argv?.join(' ') ?? '' };
  }
  return { state: 'running', pid };
}

/** A pidfile created by {@link claimPidfile}: fill it in once the pid is known, or give it back. */
export interface PidfileClaim {
  readonly path: string;
  /** Writes `pid` and closes the file. */
  write(pid: number): void;
  /** Closes and deletes the file (the daemon did not start). */
  release(): void;
}

/**
 * Creates the pidfile exclusively (`O_EXCL`), so two `start`s racing for one id cannot both spawn a daemon.
 * Missing directories are created.
 * @throws ClaError `DUPLICATE_WORKER` when the file exists, `IO_ERROR` when it cannot be created.
 */
export function claimPidfile(file: string): PidfileClaim {
  let fd: number | undefined;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fd = fs.openSync(file, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ClaError(ErrorCode.DuplicateWorker, `Pidfile ${file} appeared while starting: another \`cla-worker start\` is running for it`, { data: { path: file } });
    }
    throw new ClaError(ErrorCode.IoError, `Cannot create pidfile ${file}: ${(error as Error).message}`, { data: { path: file }, cause: error });
  }
  const close = () => {
    if (fd !== undefined) fs.closeSync(fd);
    fd = undefined;
  };
  return {
    path: file,
    write(pid) {
      fs.writeSync(fd!, `${pid}\n`);
      close();
    },
    release() {
      close();
      fs.rmSync(file, { force: true });
    },
  };
}

/**
 * Deletes a pidfile, but only while it still names `pid` (when given): a `start` that ran meanwhile
 * wrote its own pid there, and that file must stay.
 * @returns whether the file was deleted.
 */
export function removePidfile(file: string, pid?: number): boolean {
  if (pid !== undefined && readPidfile(file) !== pid) return false;
  try {
    fs.unlinkSync(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new ClaError(ErrorCode.IoError, `Cannot delete pidfile ${file}: ${(error as Error).message}`, { data: { path: file }, cause: error });
  }
}
