/**
 * A legacy worker seen by the hub as a normal worker connection: a {@link Transport} whose peer is this
 * adapter. It says `hello` for the worker (id and token from the query string), turns the hub's job
 * frames into SSE commands (legacy-jobs.ts, legacy-transfer-jobs.ts) and the worker's `POST
 * /pubsub/publish` messages back into frames. The session outlives one event stream: a worker that
 * reconnects with `Last-Event-ID` within the grace period keeps its session and gets again the commands
 * it did not acknowledge.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { Subject } from 'rxjs';
import type { Clock } from '../../clock.ts';
import { ClaError, ErrorCode, type FrameError, type WireError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { encodeFrame, parseFrame, type EncodedFrame } from '../../protocol/codec.ts';
import { frame, type Frame } from '../../protocol/frames.ts';
import { CloseCode } from '../../protocol/version.ts';
import { proofMessage, prove } from '../../protocol/auth-proof.ts';
import { nextConnectionId } from '../../transport/frame-channel.ts';
import type { CloseInfo, Direction, FrameReceiver, FrameTap, Transport } from '../../transport/transport.ts';
import { EvalJob, ExecJob, ProbeJob, type LegacyJob, type LegacyJobHost, type LegacyMessage } from './legacy-jobs.ts';
import { legacyAgent, legacyGeneration, type LegacyQuery, type ParsedLegacyOptions } from './legacy-options.ts';
import { FetchJob, ShipJob } from './legacy-transfer-jobs.ts';
import type { Spool } from './spool.ts';
import { SseOutbox } from './sse-outbox.ts';

/** What a legacy worker may do: every job kind the legacy commands can carry. */
const LEGACY_CAPS = ['exec', 'eval', 'ship', 'fetch', 'probe'];

/** What a session needs. */
export interface LegacySessionDeps {
  clock: Clock;
  log: Logger;
  tap?: FrameTap;
  options: ParsedLegacyOptions;
  spool: Spool;
  /** Called once, when the session has closed. */
  onClosed: (session: LegacySession) => void;
}

/** How the hub answered the session's `hello`. */
export type HelloOutcome = { ok: true } | { ok: false; error: WireError };

/** One legacy worker's session. */
export class LegacySession implements Transport, LegacyJobHost {
  readonly id = nextConnectionId('l');
  readonly remote: string;
  readonly workerId: string;
  readonly generation: 1 | 2;
  readonly tags: string[];
  readonly closed: Promise<CloseInfo>;
  private readonly frames = new Subject<Frame>();
  private readonly rejects = new Subject<FrameError>();
  readonly frames$ = this.frames.asObservable();
  readonly rejects$ = this.rejects.asObservable();
  readonly outbox: SseOutbox;
  private open = true;
  private resolveClosed!: (info: CloseInfo) => void;
  private closeInfo: CloseInfo | undefined;
  private receiver: FrameReceiver | undefined;
  private resolveHello: ((outcome: HelloOutcome) => void) | undefined;
  /** The nonce of the hub's `challenge`, received in accept(). */
  private nonce: string | undefined;
  private readonly jobsById = new Map<string, LegacyJob>();
  private readonly jobsByOid = new Map<string, LegacyJob>();
  private readonly jobsByKey = new Map<string, LegacyJob>();
  /** Oids whose command the worker acknowledged: it is working on them (a reconnect must not lose them). */
  private readonly acked = new Set<string>();
  private graceTimer: unknown;
  private keepAlive: unknown;

  constructor(
    private readonly query: LegacyQuery,
    remote: string,
    private readonly deps: LegacySessionDeps,
  ) {
    this.remote = remote;
    this.workerId = query.id;
    this.generation = legacyGeneration(query.version);
    this.tags = query.tags;
    this.outbox = new SseOutbox(randomBytes(4).toString('hex'), deps.options.maxQueuedMessages, deps.options.maxQueuedBytes);
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.armKeepAlive();
    deps.tap?.event(this.id, 'open', `legacy ${remote}`);
  }

  get clock(): Clock {
    return this.deps.clock;
  }

  get log(): Logger {
    return this.deps.log;
  }

  get options(): ParsedLegacyOptions {
    return this.deps.options;
  }

  get spool(): Spool {
    return this.deps.spool;
  }

  /** The hello frame for this worker; throws BAD_FRAME when the query's tags or envs are not valid names. */
  helloFrame(): Frame {
    return parseFrame(
      frame('hello', {
        id: this.query.id,
        // The proof needs the challenge, which the hub sends on accept(): hello() fills it in.
        auth: 'token',
        proof: '00',
        tags: this.query.tags,
        envs: this.query.envs,
        caps: LEGACY_CAPS,
        // Both clients run commands side by side, but the 2.x cancel targets "the" running exec: one at a time.
        capacity: 1,
        agent: legacyAgent(this.query),
      }),
    );
  }

  /** Sends `hello` to the hub (which must already subscribe to `frames$`); resolves with its answer. */
  hello(hello: Frame): Promise<HelloOutcome> {
    const outcome = new Promise<HelloOutcome>((resolve) => (this.resolveHello = resolve));
    // The hub's challenge came in accept(): the token (from the legacy query) is proven, like any worker's.
    const { nonce } = this;
    const token = this.query.token ?? '';
    this.emit(hello.t === 'hello' && nonce !== undefined && token !== '' ? { ...hello, proof: prove(token, proofMessage('hello', hello.id, nonce)) } : hello);
    return outcome;
  }

  // ---- Transport --------------------------------------------------------------------------------------
  isOpen(): boolean {
    return this.open;
  }

  setReceiver(receiver: FrameReceiver | undefined): void {
    this.receiver = receiver;
    if (receiver && this.closeInfo) receiver.transportClosed(this.closeInfo);
  }

  post(f: Frame): void {
    void this.send(f).catch(() => undefined);
  }

  postEncoded(encoded: EncodedFrame): void {
    this.post(encoded.frame);
  }

  send(f: Frame): Promise<void> {
    if (!this.open) return Promise.reject(new ClaError(ErrorCode.WorkerLost, `The legacy worker ${this.workerId} is not connected`, { retryable: true }));
    this.record('out', f);
    try {
      this.fromHub(f);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve();
  }

  bufferedBytes(): number {
    return this.outbox.queuedBytes();
  }

  close(code: number = CloseCode.Normal, reason = ''): void {
    this.finish({ code, reason, local: true });
  }

  terminate(): void {
    this.finish({ code: 1006, reason: '', local: true });
  }

  pause(): void {}

  resume(): void {}

  setSilenceTimeout(): void {}

  // ---- event stream -----------------------------------------------------------------------------------
  /**
   * Whether a reconnect that names `lastId` continues this session: yes when the id is one of ours; with
   * no id of ours, only when no stream is attached and the worker holds no acknowledged command (a new
   * process of the same worker would never answer those).
   */
  canResume(lastId: string): boolean {
    if (!this.open) return false;
    if (this.outbox.seqOf(lastId) !== undefined) return true;
    return !this.outbox.attached() && this.acked.size === 0;
  }

  /** Streams commands to `res`, replaying those after `lastId` (all unacknowledged ones without it). */
  attach(res: http.ServerResponse, lastId: string): void {
    if (this.graceTimer !== undefined) this.deps.clock.clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.outbox.attach(res, this.outbox.seqOf(lastId));
    res.once('close', () => {
      if (!this.open || this.outbox.attached()) return;
      this.graceTimer = this.deps.clock.setTimeout(() => {
        this.deps.log.info({ worker: this.workerId }, 'legacy worker did not reconnect in time');
        this.finish({ code: 1006, reason: 'event stream lost', local: false });
      }, this.deps.options.reconnectGraceMs);
    });
  }

  /** `POST /pubsub/close`: the worker is leaving. */
  closeByWorker(): void {
    this.finish({ code: CloseCode.Normal, reason: 'worker closed', local: false });
  }

  // ---- worker -> hub ----------------------------------------------------------------------------------
  /** A `POST /pubsub/publish` body. */
  publish(body: LegacyMessage): void {
    const oid = typeof body.oid === 'string' ? body.oid : typeof body.oid === 'number' ? String(body.oid) : '';
    if (body.event.endsWith('.ack')) {
      this.outbox.ack(oid);
      if (this.jobsByOid.has(oid)) this.acked.add(oid);
    }
    const job = this.jobsByOid.get(oid);
    if (!job) {
      this.deps.log.debug({ worker: this.workerId, event: body.event }, 'legacy message for no running job ignored');
      return;
    }
    job.message(body.event, body);
  }

  /** The job that `/pubsub/pop` or `/pubsub/push` with `key` is for. */
  jobForKey(key: string): LegacyJob | undefined {
    return this.jobsByKey.get(key);
  }

  // ---- LegacyJobHost ----------------------------------------------------------------------------------
  emit(f: Frame): void {
    if (!this.open) return;
    this.record('in', f);
    this.receiver?.receiveFrame(f);
    this.frames.next(f);
  }

  command(job: LegacyJob | undefined, verb: string, payload: Record<string, unknown>): string {
    const oid = this.outbox.nextOid();
    this.outbox.push(oid, verb, payload);
    if (job) this.jobsByOid.set(oid, job);
    return oid;
  }

  registerKey(key: string, job: LegacyJob): void {
    this.jobsByKey.set(key, job);
  }

  finished(job: LegacyJob): void {
    this.jobsById.delete(job.jobId);
    for (const [oid, owner] of this.jobsByOid) {
      if (owner !== job) continue;
      this.jobsByOid.delete(oid);
      this.acked.delete(oid);
      this.outbox.ack(oid);
    }
    for (const [key, owner] of this.jobsByKey) if (owner === job) this.jobsByKey.delete(key);
  }

  // ---- hub -> worker ----------------------------------------------------------------------------------
  private fromHub(f: Frame): void {
    switch (f.t) {
      case 'challenge':
        this.nonce = f.nonce;
        return;
      case 'welcome':
        this.resolveHello?.({ ok: true });
        this.resolveHello = undefined;
        return;
      case 'error':
        if (this.resolveHello) {
          this.resolveHello({ ok: false, error: f.error });
          this.resolveHello = undefined;
        } else this.deps.log.warn({ worker: this.workerId, code: f.error.code }, `hub error for a legacy worker: ${f.error.message}`);
        return;
      case 'exec':
        this.startJob(new ExecJob(this, f));
        return;
      case 'eval':
        this.startJob(new EvalJob(this, f));
        return;
      case 'ship':
        this.startJob(new ShipJob(this, f));
        return;
      case 'fetch':
        this.startJob(new FetchJob(this, f));
        return;
      case 'probe':
        this.startJob(new ProbeJob(this, f));
        return;
      case 'chunk':
      case 'credit':
        this.jobsById.get(f.re)?.input(f);
        return;
      case 'cancel':
        this.jobsById.get(f.re)?.cancel();
        return;
      case 'shutdown':
        // Not acknowledged by either client: it posts /pubsub/close and exits 10.
        this.outbox.push(this.outbox.nextOid(), 'worker.shutdown', { reason: f.reason ?? 'shutdown requested by the hub' }, false);
        return;
      case 'disable':
      case 'enable':
        // Hub-side only: the dispatcher stops or resumes sending jobs; a legacy worker has no such state.
        return;
      default:
        this.deps.log.debug({ worker: this.workerId, type: f.t }, 'frame with no legacy equivalent dropped');
    }
  }

  private armKeepAlive(): void {
    this.keepAlive = this.deps.clock.setTimeout(() => {
      this.outbox.keepAlive();
      if (this.open) this.armKeepAlive();
    }, this.deps.options.keepAliveMs);
  }

  private startJob(job: LegacyJob): void {
    this.jobsById.set(job.jobId, job);
    job.start();
  }

  private finish(info: CloseInfo): void {
    if (!this.open) return;
    this.open = false;
    this.resolveHello?.({ ok: false, error: { code: ErrorCode.WorkerLost, message: info.reason || 'closed', retryable: true } });
    this.resolveHello = undefined;
    this.deps.clock.clearTimeout(this.keepAlive);
    if (this.graceTimer !== undefined) this.deps.clock.clearTimeout(this.graceTimer);
    this.outbox.detach();
    this.outbox.clear();
    for (const job of [...this.jobsById.values()]) job.dispose();
    this.jobsById.clear();
    this.jobsByOid.clear();
    this.jobsByKey.clear();
    this.deps.tap?.event(this.id, 'close', `${info.code} ${info.reason}`);
    this.closeInfo = info;
    this.frames.complete();
    this.rejects.complete();
    this.resolveClosed(info);
    this.receiver?.transportClosed(info);
    this.deps.onClosed(this);
  }

  /** Records a frame; `hello` carries a proof bound to the challenge, never the token from the URL. */
  private record(direction: Direction, f: Frame): void {
    this.deps.tap?.frame(this.id, direction, encodeFrame(f));
  }
}
