/**
 * Runs eval code in a child process (eval-runner.mjs) so that a timeout or a cancel really stops it: a
 * `vm` timeout covers synchronous code only, while a hung promise or `while (true) {}` in a child is ended
 * by killing its process group (SIGINT, SIGTERM, SIGKILL `graceMs` apart, see ../process-tree.ts).
 *
 * Everything the code prints (console, `process.stdout`, child processes it starts with inherited stdio)
 * goes to the child's stdout and stderr, collected in arrival order as `logs`, up to `maxLogBytes`.
 * Failures are data: {@link EvalHandle.outcome} never rejects.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';
import { systemClock, type Clock } from '../../clock.ts';
import { ClaError, ErrorCode, InvalidArgumentError, describeValue } from '../../errors.ts';
import { killProcessTree, type ProcessTreeKill } from '../process-tree.ts';

/**
 * What a single-file cla-worker is forked with to act as the eval runner: `fork()` re-enters the
 * executable's own entry (src/cli/worker-sea.ts), which dispatches on this first argument.
 */
export const EVAL_RUNNER_ARG = 'cla-worker-eval-runner';

/** The child script; in a single executable, the dispatch argument. */
export const EVAL_RUNNER_PATH = isSea() ? EVAL_RUNNER_ARG : fileURLToPath(new URL('./eval-runner.mjs', import.meta.url));

/** Options of {@link runEval}. */
export interface EvalOptions {
  /** Source of time for the timeout, kill and drain timers and `durationMs`. @default systemClock */
  clock?: Clock;
  /** Stop the code after this many ms when the request gives no `timeoutMs`. @default 30000 */
  defaultTimeoutMs?: number;
  /** Time between SIGINT, SIGTERM and SIGKILL when stopping the child, in ms. @default 1000 */
  graceMs?: number;
  /** Largest returned value, estimated msgpack size in bytes. @default 524288 (512 KiB) */
  maxResultBytes?: number;
  /** Largest captured stdout + stderr kept, in bytes; the rest is counted and dropped. @default 65536 */
  maxLogBytes?: number;
  /** How long to wait for the child's pipes to close after it exited, in ms (a background process it
   * started may hold them). @default 200 */
  drainMs?: number;
  /** Working directory of the code: `require()` and `import()` resolve from it. @default process.cwd() */
  cwd?: string;
  /** Environment of the child. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** {@link EvalOptions} with every default filled in (`cwd` and `env` stay optional). */
export type ParsedEvalOptions = Required<Omit<EvalOptions, 'cwd' | 'env'>> & Pick<EvalOptions, 'cwd' | 'env'>;

/** What the code printed, as kept. */
export interface EvalLogs {
  /** stdout and stderr of the child in arrival order, UTF-8, at most `maxLogBytes` bytes. */
  logs: string;
  /** True when more was printed than kept. */
  logsTruncated: boolean;
}

/** How an eval ended. */
export type EvalOutcome =
  | ({ ok: true; value: unknown; durationMs: number } & EvalLogs)
  | { ok: false; error: ClaError; durationMs: number };

/** An eval started by {@link runEval}. */
export interface EvalHandle {
  /** Process id of the child, once forked. */
  readonly pid: number | undefined;
  /** Resolves once the child has exited (and its pipes are drained); never rejects. */
  readonly outcome: Promise<EvalOutcome>;
  /**
   * Stops the code: the outcome is `CANCELLED`. No-op once the code has answered or a timeout is
   * already stopping it (the first reason wins).
   */
  cancel(reason?: string): void;
}

/** Fills in the defaults of {@link EvalOptions} and checks types and ranges. */
export function parseEvalOptions(options: EvalOptions = {}): ParsedEvalOptions {
  const parsed: ParsedEvalOptions = {
    clock: options.clock ?? systemClock,
    defaultTimeoutMs: options.defaultTimeoutMs ?? 30_000,
    graceMs: options.graceMs ?? 1000,
    maxResultBytes: options.maxResultBytes ?? 512 * 1024,
    maxLogBytes: options.maxLogBytes ?? 64 * 1024,
    drainMs: options.drainMs ?? 200,
    cwd: options.cwd,
    env: options.env,
  };
  checkInteger('defaultTimeoutMs', parsed.defaultTimeoutMs, 1);
  checkInteger('graceMs', parsed.graceMs, 0);
  checkInteger('maxResultBytes', parsed.maxResultBytes, 1);
  checkInteger('maxLogBytes', parsed.maxLogBytes, 0);
  checkInteger('drainMs', parsed.drainMs, 0);
  if (parsed.cwd !== undefined && (typeof parsed.cwd !== 'string' || parsed.cwd === '')) {
    throw new InvalidArgumentError(`Expected \`cwd\` to be a non-empty string, got ${describeValue(parsed.cwd)}`);
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
 * Starts `code` in a child process now.
 * @param timeoutMs stop it after this many ms (`options.defaultTimeoutMs` when undefined)
 * @throws InvalidArgumentError when `options` are invalid.
 */
export function runEval(code: string, timeoutMs: number | undefined, options: EvalOptions = {}): EvalHandle {
  const parsed = parseEvalOptions(options);
  if (timeoutMs !== undefined) checkInteger('timeoutMs', timeoutMs, 1);
  return new EvalRun(code, timeoutMs ?? parsed.defaultTimeoutMs, parsed);
}

/** The message the runner answers with (see eval-runner.mjs). */
type RunnerReply =
  | { nonce: string; type: 'result'; value: unknown }
  | { nonce: string; type: 'error'; phase: 'compile' | 'run' | 'uncaught' | 'result'; error: { name: string; message: string; stack: string | null } };

class EvalRun implements EvalHandle {
  readonly outcome: Promise<EvalOutcome>;
  private resolve!: (outcome: EvalOutcome) => void;
  private child: ChildProcess | undefined;
  private readonly nonce = randomUUID();
  private readonly startedAt: number;
  private reply: RunnerReply | undefined;
  private stopping: 'timeout' | 'cancel' | undefined;
  private cancelReason: string | undefined;
  private spawnError: ClaError | undefined;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private settled = false;
  private timeoutTimer: unknown;
  private exitTimer: unknown;
  private drainTimer: unknown;
  private killer: ProcessTreeKill | undefined;
  private readonly logChunks: Buffer[] = [];
  private logBytes = 0;
  private logsDropped = 0;

  constructor(
    private readonly code: string,
    private readonly timeoutMs: number,
    private readonly options: ParsedEvalOptions,
  ) {
    this.outcome = new Promise((resolve) => (this.resolve = resolve));
    this.startedAt = options.clock.now();
    this.start();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  cancel(reason?: string): void {
    if (this.settled || this.reply !== undefined || this.stopping !== undefined) return;
    this.stopping = 'cancel';
    this.cancelReason = reason;
    this.kill();
  }

  private start(): void {
    let child: ChildProcess;
    try {
      child = fork(EVAL_RUNNER_PATH, [], {
        cwd: this.options.cwd,
        env: this.options.env ?? process.env,
        // Not the worker's own flags (`--import tsx` in development): the runner is plain JavaScript.
        execArgv: [],
        serialization: 'advanced',
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        // Its own process group, so a kill reaches the processes the code started too.
        detached: process.platform !== 'win32',
      });
    } catch (error) {
      this.spawnError = new ClaError(ErrorCode.SpawnFailed, `Cannot start the eval process: ${(error as Error).message}`, { cause: error });
      this.finish();
      return;
    }
    this.child = child;
    child.on('error', (error: NodeJS.ErrnoException) => {
      // Before a pid this is a failed spawn (e.g. a missing cwd); afterwards a failed send to a child
      // that already died, whose 'exit' follows.
      if (child.pid !== undefined) return;
      const message = error.code === 'ENOENT' && this.options.cwd !== undefined ? `Working directory \`${this.options.cwd}\` does not exist` : error.message;
      this.spawnError = new ClaError(ErrorCode.SpawnFailed, `Cannot start the eval process: ${message}`, { data: { errno: error.code ?? null }, cause: error });
      this.finish();
    });
    if (child.pid === undefined) return; // 'error' follows
    child.stdout?.on('data', (data: Buffer) => this.onLog(data));
    child.stderr?.on('data', (data: Buffer) => this.onLog(data));
    child.on('message', (message: unknown) => this.onMessage(message));
    child.on('exit', (code, signal) => this.onExit(code, signal));
    child.on('close', () => this.finish());
    child.send({ nonce: this.nonce, code: this.code, maxResultBytes: this.options.maxResultBytes }, () => undefined);
    this.timeoutTimer = this.options.clock.setTimeout(() => this.onTimeout(), this.timeoutMs);
  }

  private onLog(data: Buffer): void {
    const room = this.options.maxLogBytes - this.logBytes;
    if (room >= data.length) {
      this.logChunks.push(data);
      this.logBytes += data.length;
      return;
    }
    if (room > 0) {
      this.logChunks.push(data.subarray(0, room));
      this.logBytes += room;
    }
    this.logsDropped += data.length - Math.max(room, 0);
  }

  private onMessage(message: unknown): void {
    // Only the runner knows the nonce: a `process.send()` by the code itself is not the answer.
    if (this.reply !== undefined || typeof message !== 'object' || message === null || (message as { nonce?: unknown }).nonce !== this.nonce) return;
    this.reply = message as RunnerReply;
    this.clearTimer('timeoutTimer');
    // The runner exits by itself right after answering; a child that does not is stopped.
    if (this.exit === undefined && this.stopping === undefined) this.exitTimer = this.options.clock.setTimeout(() => this.kill(), this.options.graceMs);
  }

  private onTimeout(): void {
    this.timeoutTimer = undefined;
    if (this.settled || this.reply !== undefined || this.stopping !== undefined) return;
    this.stopping = 'timeout';
    this.kill();
  }

  private kill(): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.killer !== undefined || this.exit !== undefined) return;
    this.killer = killProcessTree(pid, { clock: this.options.clock, graceMs: this.options.graceMs });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exit = { code, signal };
    this.clearTimer('timeoutTimer');
    this.clearTimer('exitTimer');
    // 'close' follows once both pipes are closed; a background process started by the code may hold them.
    this.drainTimer = this.options.clock.setTimeout(() => {
      this.drainTimer = undefined;
      this.child?.stdout?.destroy();
      this.child?.stderr?.destroy();
      this.finish();
    }, this.options.drainMs);
  }

  /** Resolves the outcome once; runs after 'close', after the drain timer, or after a failed spawn. */
  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.clearTimer('timeoutTimer');
    this.clearTimer('exitTimer');
    this.clearTimer('drainTimer');
    // A running kill escalation is left alone: it ends by itself once the process group is empty and
    // must outlive the runner to reach processes the code started.
    const durationMs = this.options.clock.now() - this.startedAt;
    const error = this.failure();
    if (error !== undefined) this.resolve({ ok: false, error, durationMs });
    else this.resolve({ ok: true, value: (this.reply as Extract<RunnerReply, { type: 'result' }>).value, durationMs, ...this.logs() });
  }

  /** The error the eval ended with, or `undefined` when it returned a value. */
  private failure(): ClaError | undefined {
    if (this.spawnError !== undefined) return this.spawnError;
    const logs = this.logs();
    if (this.stopping === 'cancel') {
      return new ClaError(ErrorCode.Cancelled, `Eval cancelled${this.cancelReason ? `: ${this.cancelReason}` : ''}`, { data: { ...logs } });
    }
    if (this.stopping === 'timeout') {
      return new ClaError(ErrorCode.Timeout, `Eval did not finish within ${this.timeoutMs} ms and was stopped`, {
        data: { timeoutMs: this.timeoutMs, ...logs },
      });
    }
    const reply = this.reply;
    if (reply === undefined) {
      const how = this.exit?.signal ? `was killed by ${this.exit.signal}` : `exited with code ${this.exit?.code ?? 'unknown'}`;
      return new ClaError(ErrorCode.EvalError, `The eval process ${how} before the code returned (did it call process.exit()?)`, {
        data: { name: 'Error', message: `eval process ${how}`, stack: null, phase: 'exit', exitCode: this.exit?.code ?? null, signal: this.exit?.signal ?? null, ...logs },
      });
    }
    if (reply.type === 'result') return undefined;
    const { name, message, stack } = reply.error;
    const text = reply.phase === 'result' ? message : `${name}: ${message}`;
    return new ClaError(ErrorCode.EvalError, text.length > 2000 ? `${text.slice(0, 2000)}…` : text, {
      data: { name, message, stack, phase: reply.phase, ...logs },
    });
  }

  private logs(): EvalLogs {
    const text = Buffer.concat(this.logChunks, this.logBytes).toString('utf8');
    return { logs: text, logsTruncated: this.logsDropped > 0 };
  }

  private clearTimer(name: 'timeoutTimer' | 'exitTimer' | 'drainTimer'): void {
    if (this[name] !== undefined) this.options.clock.clearTimeout(this[name]);
    this[name] = undefined;
  }
}
