/**
 * One hub job on a legacy worker: the hub's job frame becomes an SSE command, and what the worker
 * publishes for that command's `oid` becomes the frames a new-style worker would have sent. What the
 * legacy protocol cannot do is emulated here (see protocol.md, "Legacy pubsub"):
 * - exec output arrives in one piece at the end (`worker.result {rc, output}`, stdout and stderr merged);
 * - exec cancel and timeout: a 2.x worker is sent `worker.exec.cancel`; a 1.x worker cannot stop a
 *   command, so the hub ends the job at once and drops the command's late result;
 * - eval timeout and cancel end the job on the hub only;
 * - environment variables for exec are refused (UNSUPPORTED): the legacy `worker.exec` has no field for them.
 * Sources of each message shape: rodrigolive/cla-worker src/Dispatcher.ts (1.x) and clarive/cla-worker
 * internal/dispatcher/handlers.go (2.x).
 */
import type http from 'node:http';
import type { Clock } from '../../clock.ts';
import { ClaError, ErrorCode, toWireError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { frame, isPlainValue, type Frame, type FrameOf } from '../../protocol/frames.ts';
import { MAX_CHUNK_BYTES } from '../../protocol/version.ts';
import type { ParsedLegacyOptions } from './legacy-options.ts';
import type { Spool } from './spool.ts';

/** What a job needs from its session. */
export interface LegacyJobHost {
  readonly clock: Clock;
  readonly log: Logger;
  /** 2 for the Go worker (it can cancel an exec), 1 for the TypeScript one. */
  readonly generation: 1 | 2;
  /** Tags the worker declared in its query string. */
  readonly tags: string[];
  readonly options: ParsedLegacyOptions;
  readonly spool: Spool;
  /** Hands a frame to the hub as if the worker had sent it. */
  emit(f: Frame): void;
  /** Queues an SSE command for the worker; returns its `oid`. Throws when the outbox is full. */
  command(job: LegacyJob | undefined, verb: string, payload: Record<string, unknown>): string;
  /** Lets `/pubsub/pop` or `/pubsub/push` with `key` reach this job. */
  registerKey(key: string, job: LegacyJob): void;
  /** The job ended: forget it. */
  finished(job: LegacyJob): void;
}

/** A published message: `{event, oid, ...}`. */
export type LegacyMessage = Record<string, unknown> & { event: string };

/** The base of every legacy job. */
export abstract class LegacyJob {
  protected ended = false;
  protected readonly startedAt: number;
  private readonly timers: unknown[] = [];

  constructor(
    protected readonly host: LegacyJobHost,
    readonly jobId: string,
  ) {
    this.startedAt = host.clock.now();
  }

  /** Sends the command; failures become the job's error. */
  abstract start(): void;
  /** A message the worker published for one of this job's oids (`.ack` ones included). */
  abstract message(verb: string, body: LegacyMessage): void;
  /** The hub asked to stop the job. */
  abstract cancel(): void;
  /** A `chunk` (ship) or `credit` (fetch) from the hub. */
  input(_f: FrameOf<'chunk'> | FrameOf<'credit'>): void {}
  /** Frees files and timers; called once, when the job ends or the session closes. */
  dispose(): void {}
  /** `/pubsub/pop` for this job's key. */
  pop(_res: http.ServerResponse): void {
    throw new ClaError(ErrorCode.InvalidArgument, 'This key is not a file to pop');
  }
  /** `/pubsub/push` for this job's key. */
  push(_req: http.IncomingMessage, _res: http.ServerResponse): void {
    throw new ClaError(ErrorCode.InvalidArgument, 'This key is not a file to push');
  }

  isEnded(): boolean {
    return this.ended;
  }

  protected after(ms: number, fn: () => void): void {
    this.timers.push(this.host.clock.setTimeout(fn, ms));
  }

  protected duration(): number {
    return this.host.clock.now() - this.startedAt;
  }

  protected result(value: unknown): void {
    if (this.end()) this.host.emit(frame('result', { re: this.jobId, value: value as never, durationMs: this.duration() }));
  }

  protected fail(error: unknown): void {
    if (this.end()) this.host.emit(frame('error', { re: this.jobId, error: toWireError(error) }));
  }

  /** Marks the job ended once; true the first time. */
  protected end(): boolean {
    if (this.ended) return false;
    this.ended = true;
    for (const timer of this.timers) this.host.clock.clearTimeout(timer);
    this.host.finished(this);
    this.dispose();
    return true;
  }

  /** Sends a command, failing the job when the outbox refuses it. */
  protected send(verb: string, payload: Record<string, unknown>): string | undefined {
    try {
      return this.host.command(this, verb, payload);
    } catch (error) {
      this.fail(error);
      return undefined;
    }
  }
}

/** The error a legacy worker reports with `worker.result {rc: 99, output}` (a refused or broken command). */
export function legacyFailure(body: LegacyMessage, fallback: ErrorCode): ClaError {
  const text = typeof body.output === 'string' && body.output !== '' ? body.output : typeof body.ret === 'string' ? body.ret : 'the legacy worker reported an error';
  const code = /is not allowed on this worker/.test(text) ? ErrorCode.PolicyDenied : fallback;
  return new ClaError(code, text, { data: { rc: typeof body.rc === 'number' ? body.rc : null } });
}

/** `worker.exec`: output and exit code at the end. */
export class ExecJob extends LegacyJob {
  private cancelled = false;
  private timedOut = false;
  private startedSent = false;

  constructor(
    host: LegacyJobHost,
    private readonly f: FrameOf<'exec'>,
  ) {
    super(host, f.id);
  }

  start(): void {
    if (this.f.env && Object.keys(this.f.env).length > 0) {
      this.fail(new ClaError(ErrorCode.Unsupported, 'Legacy Clarive workers cannot set environment variables for a command (their `worker.exec` has no field for them); drop --env or set them in the command', { data: { legacy: true } }));
      return;
    }
    if (this.send('worker.exec', this.f.cwd === undefined ? { cmd: this.f.cmd } : { cmd: this.f.cmd, chdir: this.f.cwd }) === undefined) return;
    if (this.f.timeoutMs !== undefined) this.after(this.f.timeoutMs, () => this.stop('timeout'));
  }

  message(verb: string, body: LegacyMessage): void {
    if (verb === 'worker.exec.ack' && !this.startedSent) {
      this.startedSent = true;
      this.host.emit(frame('started', { re: this.jobId, pid: 0 }));
      return;
    }
    if (verb !== 'worker.result') return;
    const output = typeof body.output === 'string' ? body.output : body.output === undefined || body.output === null ? '' : JSON.stringify(body.output);
    this.output('stdout', output);
    const rc = typeof body.rc === 'number' && Number.isInteger(body.rc) ? body.rc : null;
    this.exit(rc, this.timedOut, this.cancelled && !this.timedOut);
  }

  cancel(): void {
    this.stop('cancel');
  }

  private stop(why: 'cancel' | 'timeout'): void {
    if (this.ended || this.cancelled || this.timedOut) return;
    if (why === 'timeout') this.timedOut = true;
    else this.cancelled = true;
    if (this.host.generation >= 2) {
      // The Go worker kills the running command and reports rc 130 (handlers.go, handleExecCancel).
      try {
        this.host.command(undefined, 'worker.exec.cancel', {});
        return;
      } catch (error) {
        this.host.log.warn({ job: this.jobId, err: error }, 'could not queue worker.exec.cancel; ending the job on the hub');
      }
    }
    if (this.host.generation >= 2) {
      this.exit(null, why === 'timeout', why === 'cancel');
      return;
    }
    this.output('stderr', `cla-hub: this legacy 1.x worker cannot stop a command; the ${why === 'timeout' ? 'timeout ended' : 'cancel ended'} the job on the hub, but the command may still be running on the worker\n`);
    this.exit(null, why === 'timeout', why === 'cancel');
  }

  private seq = 0;

  private output(stream: 'stdout' | 'stderr', text: string): void {
    if (this.ended || text === '') return;
    const bytes = Buffer.from(text, 'utf8');
    for (let at = 0; at < bytes.length; at += MAX_CHUNK_BYTES) {
      this.host.emit(frame('output', { re: this.jobId, seq: this.seq++, stream, data: bytes.subarray(at, at + MAX_CHUNK_BYTES) }));
    }
  }

  private exit(code: number | null, timedOut: boolean, cancelled: boolean): void {
    if (!this.startedSent) {
      this.startedSent = true;
      this.host.emit(frame('started', { re: this.jobId, pid: 0 }));
    }
    const durationMs = this.duration();
    if (this.end()) this.host.emit(frame('exit', { re: this.jobId, code, signal: null, timedOut, cancelled, durationMs }));
  }
}

/** `worker.eval`: `worker.eval.done {output, ret?, error?}`. */
export class EvalJob extends LegacyJob {
  constructor(
    host: LegacyJobHost,
    private readonly f: FrameOf<'eval'>,
  ) {
    super(host, f.id);
  }

  start(): void {
    if (this.send('worker.eval', { code: this.f.code, stash: {} }) === undefined) return;
    if (this.f.timeoutMs !== undefined) {
      const ms = this.f.timeoutMs;
      this.after(ms, () => this.fail(new ClaError(ErrorCode.Timeout, `The eval did not finish within ${ms} ms (a legacy worker cannot stop it; it may still run there)`, { data: { timeoutMs: ms } })));
    }
  }

  message(verb: string, body: LegacyMessage): void {
    if (verb === 'worker.result') {
      this.fail(legacyFailure(body, ErrorCode.EvalError));
      return;
    }
    if (verb !== 'worker.eval.done') return;
    const logs = typeof body.output === 'string' ? body.output : '';
    if (typeof body.error === 'string' && body.error !== '') {
      this.fail(new ClaError(ErrorCode.EvalError, body.error, { data: { name: 'Error', message: body.error, stack: null, phase: 'run', logs, logsTruncated: false } }));
      return;
    }
    const value = body.ret === undefined ? null : body.ret;
    this.result({ value: isPlainValue(value) ? value : JSON.stringify(value), logs, logsTruncated: false });
  }

  cancel(): void {
    this.fail(new ClaError(ErrorCode.Cancelled, 'Eval cancelled on the hub (a legacy worker cannot stop it; it may still run there)'));
  }
}

/** `worker.file_exists` and `worker.capable`. */
export class ProbeJob extends LegacyJob {
  constructor(
    host: LegacyJobHost,
    private readonly f: FrameOf<'probe'>,
  ) {
    super(host, f.id);
  }

  start(): void {
    if (this.f.check === 'file_exists') {
      if (this.f.path === undefined) this.fail(new ClaError(ErrorCode.InvalidArgument, 'Expected `path` for the `file_exists` probe'));
      else this.send('worker.file_exists', { path: this.f.path });
      return;
    }
    if (this.f.tags === undefined) this.fail(new ClaError(ErrorCode.InvalidArgument, 'Expected `tags` for the `capable` probe'));
    else this.send('worker.capable', { tags: this.f.tags });
  }

  message(verb: string, body: LegacyMessage): void {
    switch (verb) {
      case 'worker.file_exists.reply':
        this.result(body.exists === 1 || body.exists === true || body.exists === '1');
        return;
      case 'worker.capable.reply':
        this.result(true);
        return;
      case 'worker.capable.ack': {
        // A legacy worker answers only when capable (Dispatcher.ts cmdCapable, handlers.go handleCapable).
        const declared = (this.f.tags ?? []).every((tag) => this.host.tags.includes(tag));
        this.after(declared ? this.host.options.capableGraceMs * 10 : this.host.options.capableGraceMs, () => this.result(false));
        return;
      }
      case 'worker.result':
        this.fail(legacyFailure(body, ErrorCode.Internal));
        return;
      default:
    }
  }

  cancel(): void {
    this.fail(new ClaError(ErrorCode.Cancelled, 'Probe cancelled'));
  }
}
