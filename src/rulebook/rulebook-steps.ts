/**
 * One rulebook step on a worker: `shell` (an exec job), `eval`, `ship` and `fetch` (through
 * src/hub/transfer.ts). Each turns its step, already interpolated, into a {@link StepOutcome}: failures are
 * data, never throws, so the runner decides (ignore_errors, stop, report).
 *
 * Eval code is not interpolated: the variables reach it as the constant `vars` (JSON), so a value with a
 * quote or a newline cannot change the code. The declaration is put on the code's first line, so line
 * numbers in stack traces stay those of the rulebook's code.
 */
import os from 'node:os';
import path from 'node:path';
import { tap } from 'rxjs';
import { ClaError, ErrorCode } from '../errors.ts';
import type { JobEvent } from '../hub/job-events.ts';
import { fetchFile, shipFile, type JobRunner, type TransferResult } from '../hub/transfer.ts';
import type { JobSpec, Target } from '../protocol/frames.ts';
import { renderValue, type Scope } from './interpolate.ts';
import type { EvalStep, FetchStep, ShellStep, ShipStep, Step } from './rulebook-schema.ts';

/** A line a step printed: `stdout`/`stderr` of a shell, `log` of an eval. */
export type OutputStream = 'stdout' | 'stderr' | 'log';

/** What a step needs from the runner. */
export interface StepContext {
  runner: JobRunner;
  target: Target;
  /** Folder that relative local paths start from. */
  dir: string;
  scope: Scope;
  waitMs?: number;
  signal?: AbortSignal;
  /** Most characters of stdout and of stderr a shell step keeps for `register`. */
  maxCaptureChars: number;
  /** Called once the hub picked the worker. */
  onDispatched(worker: string): void;
  /** Called for each complete line of output. */
  onLine(stream: OutputStream, text: string): void;
}

/** How a step ended. `value` is what `register:` stores; `fields` go into `steps.NAME`. */
export interface StepOutcome {
  ok: boolean;
  worker?: string;
  value: unknown;
  fields: Record<string, unknown>;
  exitCode?: number | null;
  signal?: string | null;
  timedOut?: boolean;
  error?: { code: string; message: string; stack?: string };
}

/** Runs one step; never rejects. */
export async function runStep(step: Step, ctx: StepContext): Promise<StepOutcome> {
  let worker: string | undefined;
  const tracked: StepContext = {
    ...ctx,
    runner: trackingRunner(ctx.runner, (w) => {
      worker = w;
      ctx.onDispatched(w);
    }),
  };
  try {
    switch (step.verb) {
      case 'shell':
        return await runShell(step, tracked);
      case 'eval':
        return await runEvalStep(step, tracked);
      case 'ship':
        return await runShip(step, tracked);
      case 'fetch':
        return await runFetch(step, tracked);
    }
  } catch (error) {
    const err = error instanceof ClaError ? error : new ClaError(ErrorCode.Internal, error instanceof Error ? error.message : String(error), { cause: error });
    const outcome = errorOutcome(err, worker);
    if (err.code === ErrorCode.EvalError) {
      for (const text of splitLines(typeof err.data?.logs === 'string' ? err.data.logs : '')) ctx.onLine('log', text);
      if (typeof err.data?.stack === 'string' && err.data.stack !== '') outcome.error!.stack = err.data.stack;
    }
    return outcome;
  }
}

function errorOutcome(error: ClaError, worker: string | undefined): StepOutcome {
  const fields = { error: { code: error.code, message: error.message } };
  return { ok: false, ...(worker === undefined ? {} : { worker }), value: { ...fields, worker: worker ?? null }, fields, error: { code: error.code, message: error.message } };
}

/** A runner that reports the worker of every job it runs (transfers do not say who failed). */
function trackingRunner(runner: JobRunner, onDispatched: (worker: string) => void): JobRunner {
  return {
    run: (target, job, options) => runner.run(target, job, options).pipe(tap((event: JobEvent) => event.type === 'dispatched' && onDispatched(event.worker))),
    ...(runner.bufferedBytes ? { bufferedBytes: (worker: string) => runner.bufferedBytes!(worker) } : {}),
  };
}

async function runShell(step: ShellStep, ctx: StepContext): Promise<StepOutcome> {
  const job: JobSpec = {
    kind: 'exec',
    cmd: step.cmd,
    ...(step.cwd === undefined ? {} : { cwd: step.cwd }),
    ...(step.env === undefined ? {} : { env: step.env }),
    ...(step.timeoutMs === undefined ? {} : { timeoutMs: step.timeoutMs }),
  };
  const streams = { stdout: new LineStream(ctx.maxCaptureChars, (t) => ctx.onLine('stdout', t)), stderr: new LineStream(ctx.maxCaptureChars, (t) => ctx.onLine('stderr', t)) };
  let worker: string | undefined;
  let exit: Extract<JobEvent, { type: 'exit' }> | undefined;
  await new Promise<void>((resolve, reject) => {
    ctx.runner.run(ctx.target, job, { signal: ctx.signal, ...(ctx.waitMs === undefined ? {} : { waitMs: ctx.waitMs }) }).subscribe({
      next: (event) => {
        if (event.type === 'dispatched') worker = event.worker;
        else if (event.type === 'output') streams[event.stream].write(event.data);
        else if (event.type === 'exit') exit = event;
      },
      error: (error: unknown) => {
        streams.stdout.end();
        streams.stderr.end();
        reject(error);
      },
      complete: resolve,
    });
  });
  streams.stdout.end();
  streams.stderr.end();
  if (!exit) throw new ClaError(ErrorCode.Internal, 'The command ended without an exit status');
  const signo = exit.signal ? (os.constants.signals as Record<string, number>)[exit.signal] : undefined;
  // Like `cla-hub exec`: a signal is 128 + its number.
  const rc = exit.code ?? (signo ? 128 + signo : -1);
  const stdout = streams.stdout.text();
  const stderr = streams.stderr.text();
  const value = { rc, stdout, stderr, stdout_lines: splitLines(stdout), stderr_lines: splitLines(stderr), worker: worker ?? null };
  const ok = exit.code === 0 && !exit.timedOut && !exit.cancelled;
  const error = exit.timedOut
    ? { code: ErrorCode.Timeout, message: `Timed out after ${(step.timeoutMs ?? 0) / 1000} s` }
    : exit.cancelled
      ? { code: ErrorCode.Cancelled, message: 'Cancelled' }
      : undefined;
  return {
    ok,
    ...(worker === undefined ? {} : { worker }),
    value,
    fields: { ...value, ...(exit.signal ? { signal: exit.signal } : {}), ...(exit.timedOut ? { timed_out: true } : {}) },
    exitCode: exit.code,
    signal: exit.signal,
    timedOut: exit.timedOut,
    ...(error ? { error } : {}),
  };
}

/** The most characters of JavaScript an eval job may carry (frames.ts `evalSpecSchema`). */
const MAX_EVAL_CODE_CHARS = 1_000_000;

async function runEvalStep(step: EvalStep, ctx: StepContext): Promise<StepOutcome> {
  // renderValue writes a mapping as JSON, binary as { $binary: base64 }.
  const vars = renderValue(ctx.scope);
  const code = `const vars = JSON.parse(${JSON.stringify(vars)}); ${step.code}`;
  if (code.length > MAX_EVAL_CODE_CHARS) {
    throw new ClaError(ErrorCode.InvalidArgument, `The code with its variables is ${code.length} characters; an eval takes at most ${MAX_EVAL_CODE_CHARS}`);
  }
  const job: JobSpec = { kind: 'eval', code, ...(step.timeoutMs === undefined ? {} : { timeoutMs: step.timeoutMs }) };
  let worker: string | undefined;
  let result: unknown;
  await new Promise<void>((resolve, reject) => {
    ctx.runner.run(ctx.target, job, { signal: ctx.signal, ...(ctx.waitMs === undefined ? {} : { waitMs: ctx.waitMs }) }).subscribe({
      next: (event) => {
        if (event.type === 'dispatched') worker = event.worker;
        else if (event.type === 'result') result = event.value;
      },
      error: reject,
      complete: resolve,
    });
  });
  // The worker answers `{ value, logs, logsTruncated }` (src/worker/ops/eval.ts).
  const parts = typeof result === 'object' && result !== null && 'value' in result ? (result as { value: unknown; logs?: unknown }) : { value: result, logs: '' };
  const logs = typeof parts.logs === 'string' ? parts.logs : '';
  for (const text of splitLines(logs)) ctx.onLine('log', text);
  return { ok: true, ...(worker === undefined ? {} : { worker }), value: parts.value, fields: { value: parts.value, logs, worker: worker ?? null } };
}

async function runShip(step: ShipStep, ctx: StepContext): Promise<StepOutcome> {
  const local = path.resolve(ctx.dir, step.from);
  const result = await shipFile(ctx.runner, ctx.target, local, step.to, transferOptions(ctx, step.mode));
  return transferOutcome(result);
}

async function runFetch(step: FetchStep, ctx: StepContext): Promise<StepOutcome> {
  const local = path.resolve(ctx.dir, step.to);
  const result = await fetchFile(ctx.runner, ctx.target, step.from, local, transferOptions(ctx));
  return transferOutcome(result);
}

function transferOptions(ctx: StepContext, mode?: number) {
  return {
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(ctx.waitMs === undefined ? {} : { waitMs: ctx.waitMs }),
    ...(mode === undefined ? {} : { mode }),
  };
}

function transferOutcome(result: TransferResult): StepOutcome {
  const value = { bytes: result.bytes, sha256: result.sha256, worker: result.worker, path: result.remotePath, local: result.localPath };
  return { ok: true, worker: result.worker, value, fields: value };
}

/** Lines of a text without the last line's newline: Ansible's `stdout_lines`. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  return text.replace(/\r?\n$/, '').split(/\r?\n/);
}

/**
 * Decodes one output stream (UTF-8 split anywhere), hands out complete lines as they come, and keeps the
 * first `maxChars` characters of the text for `register`, without trailing newlines (like Ansible's `stdout`).
 */
export class LineStream {
  private readonly decoder = new TextDecoder();
  private partial = '';
  private kept = '';
  private truncated = false;

  constructor(
    private readonly maxChars: number,
    private readonly onLine: (text: string) => void,
  ) {}

  write(data: Uint8Array): void {
    this.take(this.decoder.decode(data, { stream: true }));
  }

  /** Flushes the last partial line. */
  end(): void {
    this.take(this.decoder.decode());
    if (this.partial !== '') this.onLine(this.partial.replace(/\r$/, ''));
    this.partial = '';
  }

  /** What was kept, trailing newlines removed. */
  text(): string {
    return this.kept.replace(/(\r?\n)+$/, '');
  }

  /** Whether more was printed than kept. */
  isTruncated(): boolean {
    return this.truncated;
  }

  private take(text: string): void {
    if (text === '') return;
    const room = Math.max(0, this.maxChars - this.kept.length);
    if (text.length > room) this.truncated = true;
    this.kept += text.slice(0, room);
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.onLine(line.replace(/\r$/, ''));
  }
}
