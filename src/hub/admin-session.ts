/**
 * One admin client connection (the `cla-hub` CLI, scripts): `call` and `watch` frames go to the hub's
 * method table (methods/method-table.ts); `run` frames start jobs and their events go back with `re` set
 * to the client's request id; `chunk`/`credit` from the client feed a running ship/fetch; `cancel` stops
 * a run or a watch; a dropped connection cancels everything it started.
 *
 * A ship or fetch run with `chunksByJob` has its `chunk` frames addressed by job id both ways (issue 13):
 * the frame the admin sent is the frame the worker gets, and back, so the hub forwards the received bytes
 * (codec.ts `bytesAsReceived`) instead of decoding the chunk into a new frame and encoding it again.
 */
import type { Observable, Subscription } from 'rxjs';
import { systemClock, type Clock } from '../clock.ts';
import { ErrorCode, toWireError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { frame, type Frame, type FrameOf } from '../protocol/frames.ts';
import type { Transport } from '../transport/transport.ts';
import type { JobEvent, JobInput, RunRequest } from './job-events.ts';
import { jobEventFrame } from './job-frames.ts';
import type { RunOptions } from './job-runner.ts';
import { toPlain, type MethodTable } from './methods/method-table.ts';

/** Runs, calls and watches one connection may have open at once. */
export const MAX_ADMIN_REQUESTS = 256;

/**
 * Longest time the `dispatched` of an exec run with `started: false` waits for the run's next frame to
 * leave with, in ms (see `AdminSession.startRun`).
 */
export const DISPATCHED_WAIT_MS = 20;

/** What an admin session needs from the hub. */
export interface AdminSessionDeps {
  run(request: RunRequest, options: RunOptions): Observable<JobEvent>;
  methods: MethodTable;
  log: Logger;
  /** For {@link DISPATCHED_WAIT_MS}. @default systemClock */
  clock?: Clock;
}

interface AdminRequest {
  subscription?: Subscription;
  /** A run's: cancels it (its last output and its end still come back); once, as an abort would. */
  cancel?: () => void;
  cancelled?: boolean;
  input?: JobInput;
  /** The job id, once dispatched, of a run whose chunks are addressed by it (`chunksByJob`). */
  job?: string;
}

/** Serves one admin connection. */
export class AdminSession {
  private readonly requests = new Map<string, AdminRequest>();
  /** Runs whose chunks are addressed by job id, by that id. */
  private readonly byJob = new Map<string, AdminRequest>();

  constructor(
    private readonly transport: Transport,
    private readonly deps: AdminSessionDeps,
  ) {
    const subscription = transport.frames$.subscribe((f) => this.onFrame(f));
    void transport.closed.then(() => {
      subscription.unsubscribe();
      for (const request of this.requests.values()) request.subscription?.unsubscribe();
      this.requests.clear();
      this.byJob.clear();
    });
  }

  private send(out: Frame): void {
    void this.transport.send(out).catch(() => undefined);
  }

  private refuse(re: string | undefined, message: string): void {
    this.send(frame('error', { ...(re === undefined ? {} : { re }), error: { code: ErrorCode.BadFrame, message, retryable: false } }));
  }

  private onFrame(f: Frame): void {
    switch (f.t) {
      case 'run':
        if (this.admit(f.id)) this.startRun(f.id, f);
        return;
      case 'call':
        if (this.admit(f.id)) this.startCall(f);
        return;
      case 'watch':
        if (this.admit(f.id)) this.startWatch(f);
        return;
      case 'chunk': {
        const run = this.byJob.get(f.re);
        if (run) void run.input?.chunk(f.seq, f.data, f.sha256, f);
        else void this.requests.get(f.re)?.input?.chunk(f.seq, f.data, f.sha256);
        return;
      }
      case 'credit':
        this.requests.get(f.re)?.input?.credit(f.bytes);
        return;
      case 'cancel': {
        const request = this.requests.get(f.re);
        if (!request) return;
        this.deps.log.info({ request: f.re }, 'admin cancelled a request');
        if (request.cancel) {
          // A run: its last output and its end still come back.
          if (!request.cancelled) request.cancel();
          request.cancelled = true;
        } else {
          request.subscription?.unsubscribe();
          this.requests.delete(f.re);
          this.send(frame('result', { re: f.re, value: null, durationMs: 0 }));
        }
        return;
      }
      default:
        this.refuse(undefined, `An admin client may not send \`${f.t}\` frames`);
    }
  }

  /** A new request id: not in use, and within the per-connection bound. */
  private admit(id: string): boolean {
    if (this.requests.has(id)) {
      this.refuse(id, `Request id ${id} is already in use on this connection`);
      return false;
    }
    if (this.requests.size >= MAX_ADMIN_REQUESTS) {
      this.send(frame('error', { re: id, error: { code: ErrorCode.WorkerBusy, message: `More than ${MAX_ADMIN_REQUESTS} requests open on this connection: wait for some to end`, retryable: true } }));
      return false;
    }
    return true;
  }

  private startCall(f: FrameOf<'call'>): void {
    const started = Date.now();
    this.requests.set(f.id, {});
    this.deps.methods.call(f.method, f.params).then(
      (value) => {
        if (this.requests.delete(f.id)) this.send(frame('result', { re: f.id, value, durationMs: Date.now() - started }));
      },
      (error: unknown) => {
        if (!(error instanceof Error && 'code' in error)) this.deps.log.error({ err: error, method: f.method }, 'admin method failed');
        if (this.requests.delete(f.id)) this.send(frame('error', { re: f.id, error: toWireError(error) }));
      },
    );
  }

  private startWatch(f: FrameOf<'watch'>): void {
    const started = Date.now();
    const request: AdminRequest = {};
    this.requests.set(f.id, request);
    try {
      request.subscription = this.deps.methods.watch(f.method, f.params).subscribe({
        next: (value) => this.send(frame('event', { re: f.id, value: toPlain(value) })),
        error: (error: unknown) => {
          if (this.requests.delete(f.id)) this.send(frame('error', { re: f.id, error: toWireError(error) }));
        },
        complete: () => {
          if (this.requests.delete(f.id)) this.send(frame('result', { re: f.id, value: null, durationMs: Date.now() - started }));
        },
      });
    } catch (error) {
      this.requests.delete(f.id);
      this.send(frame('error', { re: f.id, error: toWireError(error) }));
    }
  }

  private startRun(re: string, f: FrameOf<'run'>): void {
    // No AbortController per run (job-runner.ts `cancelWith`): the run hands its cancel over when subscribed.
    const run: AdminRequest = { cancel: () => undefined };
    this.requests.set(re, run);
    const chunksByJob = f.chunksByJob === true && (f.job.kind === 'ship' || f.job.kind === 'fetch');
    const withStarted = f.started !== false;
    // An exec run whose client wants no `started` (`cla-hub exec`) gets its `dispatched` just before the
    // run's next frame (its first output, its exit or its error), or DISPATCHED_WAIT_MS later if none came
    // by then: the job's start then costs the hub no write and the client no wake beside the command
    // (issue 13). The order of the run's frames is unchanged.
    const clock = this.deps.clock ?? systemClock;
    let held: Frame | undefined;
    let heldTimer: unknown;
    const sendHeld = () => {
      if (held === undefined) return;
      const out = held;
      held = undefined;
      clock.clearTimeout(heldTimer);
      this.send(out);
    };
    const ended = () => {
      if (held !== undefined) clock.clearTimeout(heldTimer);
      held = undefined;
      this.requests.delete(re);
      if (run.job !== undefined) this.byJob.delete(run.job);
    };
    run.subscription = this.deps
      .run({ target: f.target, job: f.job, waitMs: f.waitMs }, { cancelWith: (cancel) => (run.cancel = cancel), onInput: (input) => (run.input = input), outputCredit: f.outputCredit, reportsTaken: true, started: f.started })
      .subscribe({
        next: (event) => {
          if (event.type === 'dispatched' && chunksByJob) {
            run.job = event.job;
            this.byJob.set(event.job, run);
            this.send(frame('dispatched', { re, worker: event.worker, job: event.job, chunksByJob: true }));
            return;
          }
          if (event.type === 'chunk' && run.job !== undefined && event.frame?.re === run.job) {
            this.send(event.frame);
            return;
          }
          if (event.type === 'started' && !withStarted) return;
          if (event.type === 'dispatched' && !withStarted && f.job.kind === 'exec') {
            held = jobEventFrame(re, event);
            heldTimer = clock.setTimeout(sendHeld, DISPATCHED_WAIT_MS);
            return;
          }
          sendHeld();
          if (event.type !== 'output') {
            this.send(jobEventFrame(re, event));
            // A run's end is what the client waits for: written now, not after this turn's other work (issue 13).
            if (event.type === 'exit' || event.type === 'result') this.transport.flush?.();
            return;
          }
          // Output counts as taken once this socket wrote it out: a client that stops reading stops the
          // worker (output-flow.ts), instead of the hub queueing for it.
          const bytes = event.data.byteLength;
          void this.transport.send(jobEventFrame(re, event)).then(
            () => run.input?.taken?.(bytes),
            () => undefined,
          );
        },
        error: (error: unknown) => {
          sendHeld();
          ended();
          this.send(frame('error', { re, error: toWireError(error) }));
        },
        complete: ended,
      });
  }
}
