/**
 * The hub's side of one connected worker: its session machine (machines/session.machine.ts) given real
 * actions, its transport, and the jobs it is running. Frames from the worker are routed to the job they
 * answer (`re`).
 */
import { createActor, createMachine, type Actor, type AnyActorRef } from 'xstate';
import type { Subscription } from 'rxjs';
import { sessionMachine } from '../../machines/session.machine.ts';
import type { Clock } from '../clock.ts';
import type { EncodedFrame } from '../protocol/codec.ts';
import { ClaError, ErrorCode, fromWireError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { frame, type AgentInfo, type Frame, type FrameOf, type JobSpec } from '../protocol/frames.ts';
import type { Transport } from '../transport/transport.ts';

/** Receives what the worker reports for one job. */
export interface JobSink {
  started(pid: number): void;
  output(stream: 'stdout' | 'stderr', seq: number, data: Uint8Array): void;
  exit(code: number | null, signal: string | null, timedOut: boolean, cancelled: boolean, durationMs: number): void;
  credit(bytes: number): void;
  file(size: number, mode: number): void;
  /** `frame`: the chunk frame as received, for a relay that forwards it unchanged. */
  chunk(seq: number, data: Uint8Array, frame: FrameOf<'chunk'>): void;
  result(value: unknown, durationMs: number): void;
  fail(error: ClaError): void;
}

/** Facts the hub learned from the worker's `hello`. */
export interface SessionInfo {
  workerId: string;
  tags: string[];
  envs: string[];
  caps: string[];
  projects: string[];
  capacity: number;
  agent: AgentInfo;
  connectedAt: number;
  disabled: boolean;
  /** The worker machine's state as the worker last reported it (`state` frame), e.g. `connected.idle`. */
  workerState?: string;
}

const sessionsByActor = new WeakMap<object, WorkerSession>();

/** Runs `fn` on the session that owns the actor an action runs in. */
function onSession(fn: (session: WorkerSession) => void) {
  return ({ self }: { self: object }) => {
    const session = sessionsByActor.get(self);
    if (session) fn(session);
  };
}

/** The session machine with the hub's real actions. */
const sessionRuntimeMachine = sessionMachine.provide({
  actions: {
    sendDisable: onSession((s) => s.sendQuietly(frame('disable', {}))),
    sendEnable: onSession((s) => s.sendQuietly(frame('enable', {}))),
    sendShutdown: onSession((s) => s.sendQuietly(frame('shutdown', { reason: 'shutdown requested by the hub' }))),
    failOpenJobs: onSession((s) => s.failOpenJobs()),
  },
});

const roots = new WeakMap<Clock, AnyActorRef>();

/** The actor whose system the sessions of `clock` share; it holds no state and ignores their events. */
function sessionRoot(clock: Clock): AnyActorRef {
  let root = roots.get(clock);
  if (!root) {
    root = createActor(createMachine({ id: 'sessions' }), { clock: clock as never });
    root.start();
    roots.set(clock, root);
  }
  return root;
}

/** One worker connection. */
export class WorkerSession {
  readonly info: SessionInfo;
  private readonly actor: Actor<typeof sessionMachine>;
  private readonly jobs = new Map<string, JobSink>();
  private readonly subscription: Subscription;
  private readonly listeners = new Set<() => void>();
  /** Set by the worker's `bye`: it is leaving, so no new jobs go to it. */
  private leaving = false;

  constructor(
    readonly transport: Transport,
    info: SessionInfo,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.info = info;
    // One provided machine for every session (a `provide()` per connection cost ~14 KiB each, see
    // bench/RESULTS.md "Peers"); its actions find their session through the actor.
    // Every session of one clock (one hub) shares one actor system: a root actor with a system of its
    // own costs ~2 KiB more per idle connection (issue 9). A child of the idle root below is never
    // stopped directly (stop() refuses non-root actors): it ends in its final state when the socket closes.
    this.actor = createActor(sessionRuntimeMachine, { input: { workerId: info.workerId, capacity: info.capacity, disabled: info.disabled }, parent: sessionRoot(this.clock) } as never);
    sessionsByActor.set(this.actor, this);
    this.actor.subscribe(() => this.listeners.forEach((listener) => listener()));
    this.actor.start();
    this.subscription = this.transport.frames$.subscribe((f) => this.onFrame(f));
    void this.transport.closed.then((close) => {
      this.subscription.unsubscribe();
      this.actor.send({ type: 'SOCKET_CLOSED', code: close.code });
    });
  }

  /** The session machine's current state value, e.g. `{ active: 'idle' }`. */
  state(): unknown {
    return this.actor.getSnapshot().value;
  }

  /** True while the session can take another job now. */
  hasFreeSlot(): boolean {
    return !this.leaving && this.actor.getSnapshot().matches({ active: 'idle' });
  }

  /** True once the worker said `bye`. */
  isLeaving(): boolean {
    return this.leaving;
  }

  isDisabled(): boolean {
    return this.actor.getSnapshot().matches('disabled');
  }

  isClosed(): boolean {
    return this.actor.getSnapshot().status === 'done';
  }

  runningJobs(): number {
    return this.jobs.size;
  }

  /** Frames this session does not handle go here (hub extensions); return true when handled. */
  otherFrames: ((f: Frame) => boolean) | undefined;

  /** Sends a frame, ignoring a closed connection (the close is handled on its own). */
  sendQuietly(f: Frame): void {
    this.transport.post(f);
  }

  /** {@link sendQuietly} of a frame encoded once for many sessions (a broadcast). */
  sendEncodedQuietly(encoded: EncodedFrame): void {
    this.transport.postEncoded(encoded);
  }

  /** Fails every open job with WORKER_LOST (the connection closed). */
  failOpenJobs(): void {
    this.failAll(new ClaError(ErrorCode.WorkerLost, `Worker ${this.info.workerId} disconnected while running the job`, { retryable: true }));
  }

  /** Sends any frame to the worker; rejects when the connection is closed. */
  send(f: Frame): Promise<void> {
    return this.transport.send(f);
  }

  /** Calls `listener` on every state change (the dispatcher re-checks its queue). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends a job to the worker; `flow.outputCredit` starts an exec's output flow control (output-flow.ts). */
  assign(jobId: string, job: JobSpec, sink: JobSink, flow: { outputCredit?: number } = {}): void {
    this.jobs.set(jobId, sink);
    this.actor.send({ type: 'JOB_ASSIGNED', jobId });
    this.transport.send(jobFrame(jobId, job, flow.outputCredit)).catch((error: unknown) => {
      this.finish(jobId)?.fail(new ClaError(ErrorCode.WorkerLost, `Could not send the job to ${this.info.workerId}`, { cause: error, retryable: true }));
    });
  }

  /**
   * Sends file bytes (ship) or credit (fetch) to a running job; resolves when handed to the socket. A
   * `received` chunk frame already addressed to the job goes as it came (its bytes are not encoded again).
   */
  feed(jobId: string, input: { seq: number; data: Uint8Array; sha256?: string; received?: FrameOf<'chunk'> } | { credit: number }): Promise<void> {
    if (!this.jobs.has(jobId)) return Promise.resolve();
    let out: Frame;
    if ('credit' in input) out = frame('credit', { re: jobId, bytes: input.credit });
    else if (input.received?.re === jobId) out = input.received;
    else out = frame('chunk', { re: jobId, seq: input.seq, data: input.data, ...(input.sha256 === undefined ? {} : { sha256: input.sha256 }) });
    return this.transport.send(out);
  }

  /** Bytes waiting in this connection's socket. */
  bufferedBytes(): number {
    return this.transport.bufferedBytes();
  }

  /** Asks the worker to stop a job. */
  cancel(jobId: string): void {
    if (this.jobs.has(jobId)) void this.transport.send(frame('cancel', { re: jobId })).catch(() => undefined);
  }

  disable(): void {
    this.info.disabled = true;
    this.actor.send({ type: 'DISABLE' });
  }

  enable(): void {
    this.info.disabled = false;
    this.actor.send({ type: 'ENABLE' });
  }

  shutdown(): void {
    this.actor.send({ type: 'SHUTDOWN' });
  }

  /** Closes the connection with a code (e.g. replaced by a newer connection of the same worker). */
  close(code: number, reason: string): void {
    this.transport.close(code, reason);
  }

  private onFrame(f: Frame): void {
    switch (f.t) {
      case 'started':
        this.jobs.get(f.re)?.started(f.pid);
        return;
      case 'output':
        this.jobs.get(f.re)?.output(f.stream, f.seq, f.data);
        return;
      case 'exit':
        this.finish(f.re)?.exit(f.code, f.signal, f.timedOut, f.cancelled, f.durationMs);
        return;
      case 'credit':
        this.jobs.get(f.re)?.credit(f.bytes);
        return;
      case 'file':
        this.jobs.get(f.re)?.file(f.size, f.mode);
        return;
      case 'chunk':
        this.jobs.get(f.re)?.chunk(f.seq, f.data, f);
        return;
      case 'result':
        this.finish(f.re)?.result(f.value, f.durationMs);
        return;
      case 'error':
        if (f.re !== undefined && this.jobs.has(f.re)) this.finish(f.re)?.fail(fromWireError(f.error));
        else this.log.warn({ worker: this.info.workerId, code: f.error.code }, `worker reported: ${f.error.message}`);
        return;
      case 'state':
        this.info.workerState = f.value;
        this.listeners.forEach((listener) => listener());
        return;
      case 'bye':
        this.log.info({ worker: this.info.workerId }, `worker leaving: ${f.reason}`);
        this.leaving = true;
        this.listeners.forEach((listener) => listener());
        return;
      default:
        if (this.otherFrames?.(f)) return;
        this.log.warn({ worker: this.info.workerId, type: f.t }, 'unexpected frame from worker');
        void this.transport
          .send(frame('error', { error: { code: ErrorCode.BadFrame, message: `A worker may not send \`${f.t}\` frames`, retryable: false } }))
          .catch(() => undefined);
    }
  }

  private finish(jobId: string): JobSink | undefined {
    const sink = this.jobs.get(jobId);
    if (!sink) return undefined;
    this.jobs.delete(jobId);
    this.actor.send({ type: 'JOB_DONE', jobId });
    return sink;
  }

  private failAll(error: ClaError): void {
    const sinks = [...this.jobs.values()];
    this.jobs.clear();
    for (const sink of sinks) sink.fail(error);
  }
}

/** The hub-to-worker frame that starts a job of each kind. */
function jobFrame(id: string, job: JobSpec, outputCredit: number | undefined): Frame {
  switch (job.kind) {
    case 'exec': {
      const { kind: _kind, ...spec } = job;
      return frame('exec', { id, ...spec, ...(outputCredit === undefined ? {} : { outputCredit }) });
    }
    case 'eval': {
      const { kind: _kind, ...spec } = job;
      return frame('eval', { id, ...spec });
    }
    case 'ship': {
      const { kind: _kind, ...spec } = job;
      return frame('ship', { id, ...spec });
    }
    case 'fetch': {
      const { kind: _kind, ...spec } = job;
      return frame('fetch', { id, ...spec });
    }
    case 'probe': {
      const { kind: _kind, ...spec } = job;
      return frame('probe', { id, ...spec });
    }
  }
}
