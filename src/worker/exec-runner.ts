/**
 * Runs one command on the worker host and exposes it as an rxjs stream of {@link ExecEvent}s: `started`,
 * live `output` chunks, then one `exit`. Spawn failures (missing `cwd`, missing program) error the stream
 * with a {@link ClaError} `SPAWN_FAILED`; everything after a successful spawn, including a timeout or a
 * cancel, ends with an `exit` event instead (failures are data, see ../../shared/STYLE.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { Observable, type Subscriber } from 'rxjs';
import { systemClock, type Clock } from '../clock.ts';
import { ClaError, ErrorCode, InvalidArgumentError, describeValue } from '../errors.ts';
import type { ExecSpec } from '../protocol/frames.ts';
import { MAX_CHUNK_BYTES } from '../protocol/version.ts';
import { killProcessTree, type ProcessTreeKill } from './process-tree.ts';

/** Options of {@link runExec}. */
export interface ExecRunnerOptions {
  /** Source of time for the batch, timeout and kill timers. @default systemClock */
  clock?: Clock;
  /** Longest time output of one stream is held back to be coalesced into one chunk, in ms. @default 20 */
  batchMs?: number;
  /** Largest `data` of one `output` event, in bytes. @default MAX_CHUNK_BYTES (64 KiB) */
  maxChunkBytes?: number;
  /** Time between SIGINT, SIGTERM and SIGKILL on cancel or timeout, in ms. @default 2000 */
  graceMs?: number;
  /** Shell that runs a string `cmd` with `-c`. @default '/bin/sh' (`%ComSpec%` or `cmd.exe` on win32) */
  shell?: string;
  /** Environment that `spec.env` is added to. @default process.env */
  baseEnv?: NodeJS.ProcessEnv;
  /**
   * Called with the pid (= process group id) right after the spawn; what it returns is called once the
   * process has exited (the worker guards the group against its own crash, see job-watchdog.ts).
   * @default none
   */
  onSpawn?: (pid: number) => () => void;
}

/** {@link ExecRunnerOptions} with every default filled in. */
export type ParsedExecRunnerOptions = Required<Omit<ExecRunnerOptions, 'onSpawn'>> & Pick<ExecRunnerOptions, 'onSpawn'>;

/** What happens to a running command, in order: `started`, any number of `output`, one `exit`. */
export type ExecEvent =
  | { type: 'started'; pid: number }
  | { type: 'output'; stream: 'stdout' | 'stderr'; seq: number; data: Uint8Array }
  | {
      type: 'exit';
      /** Exit code, or `null` when the process was ended by a signal. */
      code: number | null;
      /** Name of the signal that ended the process, or `null`. */
      signal: string | null;
      /** The process was stopped because `spec.timeoutMs` passed. */
      timedOut: boolean;
      /** The process was stopped by {@link ExecHandle.cancel} or by unsubscribing. */
      cancelled: boolean;
      /** Time from spawn to the exit event, by the injected clock, in ms. */
      durationMs: number;
      /** The reason passed to {@link ExecHandle.cancel}, when there was one. */
      reason?: string;
    };

/** A command started by {@link runExec}. */
export interface ExecHandle {
  /**
   * The events of the command. The process is spawned on subscription, and only one subscription is
   * allowed (a second one errors with `INVALID_ARGUMENT`); unsubscribing before `exit` cancels it.
   */
  events$: Observable<ExecEvent>;
  /**
   * Stops the command and its whole process tree (SIGINT, SIGTERM, SIGKILL, `graceMs` apart). Its last
   * output still arrives, then `exit` with `cancelled: true`. Cancelling before subscription means the
   * command never runs: the stream only emits that `exit` (`code` and `signal` null). No-op after `exit`
   * or once a timeout has started stopping the command (the first reason wins).
   */
  cancel(reason?: string): void;
  /** Stops reading stdout and stderr, so the command blocks once the pipe buffers fill (backpressure). */
  pause(): void;
  /** Undoes {@link ExecHandle.pause}. */
  resume(): void;
  /** Process id once spawned. */
  readonly pid?: number;
}

/** Fills in the defaults of {@link ExecRunnerOptions} and checks types and ranges. */
export function parseExecRunnerOptions(options: ExecRunnerOptions = {}): ParsedExecRunnerOptions {
  const windows = process.platform === 'win32';
  const parsed: ParsedExecRunnerOptions = {
    clock: options.clock ?? systemClock,
    batchMs: options.batchMs ?? 20,
    maxChunkBytes: options.maxChunkBytes ?? MAX_CHUNK_BYTES,
    graceMs: options.graceMs ?? 2000,
    shell: options.shell ?? (windows ? (process.env.ComSpec ?? 'cmd.exe') : '/bin/sh'),
    baseEnv: options.baseEnv ?? process.env,
    onSpawn: options.onSpawn,
  };
  checkInteger('batchMs', parsed.batchMs, 0);
  checkInteger('maxChunkBytes', parsed.maxChunkBytes, 1);
  checkInteger('graceMs', parsed.graceMs, 0);
  if (typeof parsed.shell !== 'string' || parsed.shell === '') {
    throw new InvalidArgumentError(`Expected \`shell\` to be a non-empty string, got ${describeValue(parsed.shell)}`);
  }
  return parsed;
}

function checkInteger(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const what = min === 0 ? 'a non-negative integer' : 'a positive integer';
    throw new InvalidArgumentError(`Expected \`${name}\` to be ${what}, got ${describeValue(value)}`);
  }
}

/**
 * Prepares `spec` to run on this host; the process starts when `events$` is subscribed.
 * @throws InvalidArgumentError when `options` are invalid (a bad `spec` errors the stream instead).
 */
export function runExec(spec: ExecSpec, options: ExecRunnerOptions = {}): ExecHandle {
  return new ExecRun(spec, parseExecRunnerOptions(options));
}

type StreamName = 'stdout' | 'stderr';

/** Output of one stream waiting to be emitted. */
interface Pending {
  chunks: Buffer[];
  bytes: number;
  timer: unknown;
}

class ExecRun implements ExecHandle {
  readonly events$: Observable<ExecEvent>;
  private child: ChildProcess | undefined;
  private subscriber: Subscriber<ExecEvent> | undefined;
  private subscribed = false;
  private done = false;
  private paused = false;
  private cancelled = false;
  private timedOut = false;
  private reason: string | undefined;
  private seq = 0;
  private startedAt = 0;
  private timeoutTimer: unknown;
  private killer: ProcessTreeKill | undefined;
  private release: (() => void) | undefined;
  /** What the child's listeners reach this run through, until it is over ({@link unlink}). */
  private link: ChildLink | undefined;
  private readonly pending: Record<StreamName, Pending> = {
    stdout: { chunks: [], bytes: 0, timer: undefined },
    stderr: { chunks: [], bytes: 0, timer: undefined },
  };

  constructor(
    private readonly spec: ExecSpec,
    private readonly options: ParsedExecRunnerOptions,
  ) {
    this.events$ = new Observable<ExecEvent>((subscriber) => {
      if (this.subscribed) {
        subscriber.error(new ClaError(ErrorCode.InvalidArgument, 'The events of one exec can be subscribed only once'));
        return undefined;
      }
      this.subscribed = true;
      this.subscriber = subscriber;
      this.start().catch((error: unknown) => {
        this.fail(new ClaError(ErrorCode.Internal, `Exec failed: ${String(error)}`, { cause: error }));
      });
      return () => this.teardown();
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  cancel(reason?: string): void {
    if (this.done || this.cancelled || this.timedOut) return;
    this.cancelled = true;
    this.reason = reason;
    // Before the spawn, start() sees the flag and reports the exit without running anything.
    if (this.child?.pid !== undefined) this.kill();
  }

  pause(): void {
    this.paused = true;
    this.child?.stdout?.pause();
    this.child?.stderr?.pause();
  }

  resume(): void {
    this.paused = false;
    this.child?.stdout?.resume();
    this.child?.stderr?.resume();
  }

  private async start(): Promise<void> {
    const { spec, options } = this;
    if (this.cancelled) return this.finish(null, null);
    const argv = this.argv();
    if (argv instanceof ClaError) return this.fail(argv);
    if (spec.cwd !== undefined) {
      const problem = await checkDirectory(spec.cwd);
      if (problem !== undefined) return this.fail(problem);
      if (this.cancelled) return this.finish(null, null);
    }
    const [file, ...args] = argv;
    this.startedAt = options.clock.now();
    let child: ChildProcess;
    try {
      child = spawn(file as string, args, {
        cwd: spec.cwd,
        // Node copies `env` into the child's environment on every spawn: no merged copy of it unless needed.
        env: spec.env === undefined ? options.baseEnv : { ...options.baseEnv, ...spec.env },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
        windowsVerbatimArguments: typeof spec.cmd === 'string' && process.platform === 'win32',
      });
    } catch (error) {
      // Node checks arguments synchronously (e.g. a NUL byte in an argument or an env value).
      const message = `Cannot run \`${file}\`: ${(error as Error).message}`;
      return this.fail(new ClaError(ErrorCode.SpawnFailed, message, { data: { program: file }, cause: error }));
    }
    this.child = child;
    const link = new ChildLink(this);
    this.link = link;
    child.on('error', link.error);
    if (child.pid === undefined) return; // the 'error' event follows
    this.release = options.onSpawn?.(child.pid);
    child.stdout?.on('data', link.stdout);
    child.stderr?.on('data', link.stderr);
    child.on('close', link.close);
    if (this.paused) this.pause();
    this.subscriber?.next({ type: 'started', pid: child.pid });
    if (spec.timeoutMs !== undefined) {
      this.timeoutTimer = options.clock.setTimeout(() => this.onTimeout(), spec.timeoutMs);
    }
    if (this.cancelled) this.kill();
  }

  /** Called by {@link ChildLink}: the child's 'error' event. */
  spawnError(error: NodeJS.ErrnoException): void {
    // After a successful spawn Node emits 'error' only for a failed kill()/send(), which are not used.
    if (this.child?.pid !== undefined || this.done) return;
    const file = this.child?.spawnfile ?? '';
    const message = error.code === 'ENOENT' ? `Cannot run \`${file}\`: program not found` : `Cannot run \`${file}\`: ${error.message}`;
    this.fail(new ClaError(ErrorCode.SpawnFailed, message, { data: { program: file, errno: error.code }, cause: error }));
  }

  /** The run is over: the child's listeners no longer reach it (see {@link ChildLink}). */
  private unlink(): void {
    if (this.link !== undefined) this.link.run = undefined;
    this.link = undefined;
  }

  private argv(): string[] | ClaError {
    const { cmd } = this.spec;
    if (typeof cmd === 'string') {
      if (process.platform === 'win32') return [this.options.shell, '/d', '/s', '/c', `"${cmd}"`];
      return [this.options.shell, '-c', cmd];
    }
    if (cmd.length === 0 || cmd[0] === '') {
      return new ClaError(ErrorCode.InvalidArgument, 'Expected `cmd` to name a program, got an empty argv');
    }
    return cmd;
  }

  private onTimeout(): void {
    this.timeoutTimer = undefined;
    if (this.done || this.cancelled) return;
    this.timedOut = true;
    this.kill();
  }

  private kill(): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.killer !== undefined) return;
    this.killer = killProcessTree(pid, { clock: this.options.clock, graceMs: this.options.graceMs });
  }

  /** Called by {@link ChildLink}: a chunk of the child's output. */
  onData(stream: StreamName, data: Buffer): void {
    const pending = this.pending[stream];
    pending.chunks.push(data);
    pending.bytes += data.length;
    const max = this.options.maxChunkBytes;
    if (pending.bytes >= max) {
      const all = Buffer.concat(pending.chunks, pending.bytes);
      let offset = 0;
      for (; all.length - offset >= max; offset += max) this.emit(stream, all.subarray(offset, offset + max));
      pending.chunks = offset < all.length ? [all.subarray(offset)] : [];
      pending.bytes = all.length - offset;
    }
    if (pending.bytes === 0) this.clearBatchTimer(pending);
    else if (this.options.batchMs === 0) this.flush(stream);
    else if (pending.timer === undefined) {
      pending.timer = this.options.clock.setTimeout(() => {
        pending.timer = undefined;
        this.flush(stream);
      }, this.options.batchMs);
    }
  }

  private flush(stream: StreamName): void {
    const pending = this.pending[stream];
    this.clearBatchTimer(pending);
    if (pending.bytes === 0) return;
    const data = pending.chunks.length === 1 ? pending.chunks[0]! : Buffer.concat(pending.chunks, pending.bytes);
    pending.chunks = [];
    pending.bytes = 0;
    this.emit(stream, data);
  }

  private emit(stream: StreamName, data: Buffer): void {
    this.subscriber?.next({ type: 'output', stream, seq: this.seq++, data });
  }

  private clearBatchTimer(pending: Pending): void {
    if (pending.timer !== undefined) this.options.clock.clearTimeout(pending.timer);
    pending.timer = undefined;
  }

  /** Ends the stream with `exit`, once the process has exited and both pipes are closed (called by {@link ChildLink}). */
  finish(code: number | null, signal: string | null): void {
    if (this.done) return;
    this.flush('stdout');
    this.flush('stderr');
    this.done = true;
    this.clearTimers();
    this.unlink();
    // The kill escalation is left running: it stops by itself once the process group is empty, and it
    // must outlive the leader to reach background children that ignore SIGINT.
    const durationMs = this.child === undefined ? 0 : this.options.clock.now() - this.startedAt;
    const exit: ExecEvent = { type: 'exit', code, signal, timedOut: this.timedOut, cancelled: this.cancelled, durationMs };
    if (this.reason !== undefined) exit.reason = this.reason;
    const subscriber = this.subscriber;
    subscriber?.next(exit);
    subscriber?.complete();
    // Released after the exit is handed on, still in this turn: the worker's `exit` frame is then corked
    // before the job watchdog's `-PGID` line is queued, so it leaves first (issue 13, group-watchdog.ts).
    const release = this.release;
    this.release = undefined;
    release?.();
  }

  private fail(error: ClaError): void {
    if (this.done) return;
    this.done = true;
    this.clearTimers();
    this.unlink();
    this.subscriber?.error(error);
  }

  private clearTimers(): void {
    this.clearBatchTimer(this.pending.stdout);
    this.clearBatchTimer(this.pending.stderr);
    if (this.timeoutTimer !== undefined) this.options.clock.clearTimeout(this.timeoutTimer);
    this.timeoutTimer = undefined;
  }

  /** Runs on unsubscribe as well as after exit or error. */
  private teardown(): void {
    this.subscriber = undefined;
    if (this.done) return;
    this.cancel('unsubscribed');
    // Nobody reads any more: drain the pipes so the process is not blocked on a full one while dying.
    this.resume();
  }
}

/**
 * The listeners a run puts on its child and the child's pipes, reaching the run only until it is over
 * (issue 13). Node's closed process and pipe handles keep pointing at the ChildProcess and its sockets
 * (and so at their listeners) until a full GC, and V8's young-generation scavenges keep alive whatever
 * those reach: a listener closing over the run kept the run, its subscriber, the job's frames and
 * closures alive through every scavenge (copied, then promoted to old space: the worker's 4-6 ms
 * scavenges, bench/RESULTS.md "p99x12"). Cut here, they die young. Cutting instead of removing the
 * listeners: a removal turns the emitter's event map into a dictionary, a new object that outlives the
 * scavenge in its turn.
 */
class ChildLink {
  constructor(public run: ExecRun | undefined) {}
  readonly stdout = (data: Buffer): void => this.run?.onData('stdout', data);
  readonly stderr = (data: Buffer): void => this.run?.onData('stderr', data);
  readonly close = (code: number | null, signal: NodeJS.Signals | null): void => this.run?.finish(code, signal);
  readonly error = (error: NodeJS.ErrnoException): void => this.run?.spawnError(error);
}

async function checkDirectory(cwd: string): Promise<ClaError | undefined> {
  try {
    const stats = await stat(cwd);
    if (stats.isDirectory()) return undefined;
    return new ClaError(ErrorCode.SpawnFailed, `Working directory \`${cwd}\` is not a directory`, { data: { cwd } });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? `Working directory \`${cwd}\` does not exist`
        : `Working directory \`${cwd}\` cannot be used: ${(error as Error).message}`;
    return new ClaError(ErrorCode.SpawnFailed, message, { data: { cwd, errno: code }, cause: error });
  }
}
