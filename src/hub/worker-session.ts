/**
 * The hub's side of one connected worker: its session machine (machines/session.machine.ts) with real
 * side effects, its transport, and the jobs it is running. Frames from the worker are routed to the job they
 * answer (`re`).
 */
import { initialTransition } from 'xstate';
import type { SessionSnapshot } from '../../machines/session.helpers.ts';
import { sessionMachine, type SessionEvent } from '../../machines/session.machine.ts';
import type { EncodedFrame } from '../protocol/codec.ts';
import { ClaError, ErrorCode, fromWireError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { frame, type AgentInfo, type Frame, type FrameOf, type JobSpec } from '../protocol/frames.ts';
import type { CloseInfo, FrameReceiver, Transport } from '../transport/transport.ts';
import { createStepper } from './machine-stepper.ts';

/** Steps the session machine: xstate's pure `transition()` without its throwaway actor per step (issue 13). */
const stepSession = createStepper(sessionMachine);

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

/**
 * What the hub does for each of its sessions: one object for all of them, so a connection holds no
 * closures of its own (issue 9, hub heap per idle worker).
 */
export interface SessionOwner {
  /** A frame the session does not handle itself (hub extensions); true when handled. */
  otherFrame(session: WorkerSession, f: Frame): boolean;
  /** The session's state changed (a job came or went, disabled, enabled, the worker's reported state, bye). */
  changed(session: WorkerSession): void;
  /** The connection closed; the session has failed its open jobs already. */
  closed(session: WorkerSession, info: CloseInfo): void;
}

/** Session snapshots by their state, count and hello facts: equal ones are one object, shared. */
const knownSnapshots = new Map<string, SessionSnapshot>();
/** Bound of {@link knownSnapshots}: a few capacities times a few states and counts in practice. */
const MAX_KNOWN_SNAPSHOTS = 256;
/** The snapshots held in {@link knownSnapshots}. */
const known = new WeakSet<SessionSnapshot>();

/**
 * `snapshot`, or an equal one already held by another session. Snapshots are immutable values and the
 * machine's context is only the job count and the hello's facts (no job ids), so a session is fully
 * described by its state and those: every session in the same state with the same count and capacity
 * shares one snapshot (each of its own cost ~0.5 KiB, issue 9), and the steps between them can be
 * remembered ({@link knownSteps}).
 */
function shared(snapshot: SessionSnapshot): SessionSnapshot {
  if (snapshot.status !== 'active') return snapshot;
  const { context } = snapshot;
  const key = `${JSON.stringify(snapshot.value)}|${context.running}|${context.capacity}|${context.startsDisabled}`;
  const held = knownSnapshots.get(key);
  if (held) return held;
  if (knownSnapshots.size < MAX_KNOWN_SNAPSHOTS) {
    knownSnapshots.set(key, snapshot);
    known.add(snapshot);
  }
  return snapshot;
}

/** Events that carry nothing but their type: the step they cause depends only on the snapshot. */
type PlainEvent = Extract<SessionEvent, { type: 'JOB_ASSIGNED' | 'JOB_DONE' }>;

/**
 * The machine's steps on a job's start and end, as the machine took them: from a shared snapshot, on an
 * event that is only its type, to a shared snapshot, with no effect asked for. A step is a pure function
 * of the snapshot and the event, so taking it again gives the same snapshot: it is reused without running
 * xstate's transition, which right after a job's fork costs 0.1-0.2 ms of CPU, the memory it touches
 * being cold (issue 13, bench/RESULTS.md "exec round trip overhead: the worker's fork"). The state the
 * hub reports is still the machine's own: every step here was first taken by the machine.
 */
const knownSteps = new WeakMap<SessionSnapshot, Map<PlainEvent['type'], SessionSnapshot>>();

/** One worker connection. */
export class WorkerSession implements FrameReceiver {
  readonly info: SessionInfo;
  /**
   * The session machine's snapshot, stepped purely (xstate's `transition()`, through machine-stepper.ts):
   * the machine stays the one definition of the session's states, without an actor per connection (an
   * actor with its mailbox, scope and bound methods cost ~2 KiB per idle worker, issue 9).
   */
  private snapshot: SessionSnapshot;
  /** Made on the first job: most idle sessions never hold one. */
  private jobs: Map<string, JobSink> | undefined;
  /** Made on the first {@link onChange}. */
  private listeners: Set<() => void> | undefined;
  /** Set by the worker's `bye`: it is leaving, so no new jobs go to it. */
  private leaving = false;

  constructor(
    readonly transport: Transport,
    info: SessionInfo,
    private readonly owner: SessionOwner,
    private readonly log: Logger,
  ) {
    this.info = info;
    const [snapshot, actions] = initialTransition(sessionMachine, { capacity: info.capacity, disabled: info.disabled });
    this.snapshot = shared(snapshot);
    this.execute(actions);
  }

  /** Starts taking the worker's frames, those held during its hello first: once the hub knows the session. */
  start(): void {
    this.transport.setReceiver(this);
  }

  /** The session machine's current state value, e.g. `{ active: 'idle' }`. */
  state(): unknown {
    return this.snapshot.value;
  }

  /** True while the session can take another job now. */
  hasFreeSlot(): boolean {
    // The state value read as it is (here and in isDisabled): `matches()` builds state paths per call, and
    // the dispatcher asks this per job (issue 13).
    const value = this.snapshot.value;
    return !this.leaving && typeof value === 'object' && 'active' in value && value.active === 'idle';
  }

  /** True once the worker said `bye`. */
  isLeaving(): boolean {
    return this.leaving;
  }

  isDisabled(): boolean {
    return this.snapshot.value === 'disabled';
  }

  isClosed(): boolean {
    return this.snapshot.status === 'done';
  }

  runningJobs(): number {
    return this.jobs?.size ?? 0;
  }

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
    (this.listeners ??= new Set()).add(listener);
    return () => this.listeners?.delete(listener);
  }

  /**
   * Sends a job to the worker; `flow.outputCredit` starts an exec's output flow control (output-flow.ts),
   * `flow.started: false` tells the worker not to send the exec's `started`.
   */
  assign(jobId: string, job: JobSpec, sink: JobSink, flow: { outputCredit?: number; started?: false } = {}): void {
    const jobs = (this.jobs ??= new Map());
    // The machine counts jobs: a repeated id is one job, stepped once.
    const fresh = !jobs.has(jobId);
    jobs.set(jobId, sink);
    const sent = this.transport.send(jobFrame(jobId, job, flow));
    // The job leaves now: the session's step and the caller's bookkeeping of this turn (its `dispatched`,
    // the start record) then run while the worker starts the job, not before the job is written (issue 13).
    this.transport.flush?.();
    if (fresh) this.step({ type: 'JOB_ASSIGNED' });
    sent.catch((error: unknown) => {
      this.finish(jobId)?.fail(new ClaError(ErrorCode.WorkerLost, `Could not send the job to ${this.info.workerId}`, { cause: error, retryable: true }));
    });
  }

  /**
   * Sends file bytes (ship) or credit (fetch) to a running job; resolves when handed to the socket. A
   * `received` chunk frame already addressed to the job goes as it came (its bytes are not encoded again).
   */
  feed(jobId: string, input: { seq: number; data: Uint8Array; sha256?: string; received?: FrameOf<'chunk'> } | { credit: number }): Promise<void> {
    if (!this.jobs?.has(jobId)) return Promise.resolve();
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
    // A send fails only once the connection is closed, and that close ends every job of this session.
    if (this.jobs?.has(jobId)) this.sendQuietly(frame('cancel', { re: jobId }));
  }

  disable(): void {
    this.info.disabled = true;
    this.step({ type: 'DISABLE' });
  }

  enable(): void {
    this.info.disabled = false;
    this.step({ type: 'ENABLE' });
  }

  shutdown(): void {
    this.step({ type: 'SHUTDOWN' });
  }

  /** Closes the connection with a code (e.g. replaced by a newer connection of the same worker). */
  close(code: number, reason: string): void {
    this.transport.close(code, reason);
  }

  /** The transport's receiver (see `Transport.setReceiver`): a frame from the worker. */
  receiveFrame(f: Frame): void {
    const jobs = this.jobs;
    switch (f.t) {
      case 'started':
        jobs?.get(f.re)?.started(f.pid);
        return;
      case 'output':
        jobs?.get(f.re)?.output(f.stream, f.seq, f.data);
        return;
      case 'exit':
        this.finish(f.re)?.exit(f.code, f.signal, f.timedOut, f.cancelled, f.durationMs);
        return;
      case 'credit':
        jobs?.get(f.re)?.credit(f.bytes);
        return;
      case 'file':
        jobs?.get(f.re)?.file(f.size, f.mode);
        return;
      case 'chunk':
        jobs?.get(f.re)?.chunk(f.seq, f.data, f);
        return;
      case 'result':
        this.finish(f.re)?.result(f.value, f.durationMs);
        return;
      case 'error':
        if (f.re !== undefined && jobs?.has(f.re)) this.finish(f.re)?.fail(fromWireError(f.error));
        else this.log.warn({ worker: this.info.workerId, code: f.error.code }, `worker reported: ${f.error.message}`);
        return;
      case 'state':
        this.info.workerState = f.value;
        this.notify();
        return;
      case 'bye':
        this.log.info({ worker: this.info.workerId }, `worker leaving: ${f.reason}`);
        this.leaving = true;
        this.notify();
        return;
      default:
        if (this.owner.otherFrame(this, f)) return;
        this.log.warn({ worker: this.info.workerId, type: f.t }, 'unexpected frame from worker');
        this.sendQuietly(frame('error', { error: { code: ErrorCode.BadFrame, message: `A worker may not send \`${f.t}\` frames`, retryable: false } }));
    }
  }

  /** The transport's receiver: the connection closed. */
  transportClosed(info: CloseInfo): void {
    this.step({ type: 'SOCKET_CLOSED', code: info.code });
    this.owner.closed(this, info);
  }

  /** Steps the session machine and runs the side effects it asks for. */
  private step(event: SessionEvent): void {
    const from = this.snapshot;
    const plain = event.type === 'JOB_ASSIGNED' || event.type === 'JOB_DONE';
    const remembered = plain ? knownSteps.get(from)?.get(event.type) : undefined;
    if (remembered !== undefined) {
      this.snapshot = remembered;
      this.notify();
      return;
    }
    const [next, actions] = stepSession(from, event);
    // Set before the effects run, so they (and any event they cause) see the new state.
    this.snapshot = shared(next);
    if (plain && actions.length === 0 && known.has(from) && known.has(this.snapshot)) {
      let steps = knownSteps.get(from);
      if (steps === undefined) knownSteps.set(from, (steps = new Map()));
      steps.set(event.type, this.snapshot);
    }
    this.execute(actions);
    this.notify();
  }

  /** The machine's side-effect placeholders (machines/session.machine.ts), done for real. */
  private execute(actions: ReadonlyArray<{ type: string }>): void {
    for (const action of actions) {
      switch (action.type) {
        case 'sendDisable':
          this.sendQuietly(frame('disable', {}));
          break;
        case 'sendEnable':
          this.sendQuietly(frame('enable', {}));
          break;
        case 'sendShutdown':
          this.sendQuietly(frame('shutdown', { reason: 'shutdown requested by the hub' }));
          break;
        case 'failOpenJobs':
          this.failOpenJobs();
          break;
        default:
          throw new ClaError(ErrorCode.Internal, `The session machine asked for \`${action.type}\`, which the hub does not implement`);
      }
    }
  }

  private notify(): void {
    this.owner.changed(this);
    if (this.listeners) for (const listener of this.listeners) listener();
  }

  private finish(jobId: string): JobSink | undefined {
    const sink = this.jobs?.get(jobId);
    if (!sink) return undefined;
    this.jobs!.delete(jobId);
    this.step({ type: 'JOB_DONE' });
    return sink;
  }

  private failAll(error: ClaError): void {
    if (!this.jobs) return;
    const sinks = [...this.jobs.values()];
    this.jobs.clear();
    for (const sink of sinks) sink.fail(error);
  }
}

/** The hub-to-worker frame that starts a job of each kind. */
function jobFrame(id: string, job: JobSpec, flow: { outputCredit?: number; started?: false }): Frame {
  switch (job.kind) {
    case 'exec': {
      const { kind: _kind, ...spec } = job;
      const exec: FrameOf<'exec'> = frame('exec', { id, ...spec });
      if (flow.outputCredit !== undefined) exec.outputCredit = flow.outputCredit;
      if (flow.started === false) exec.started = false;
      return exec;
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
