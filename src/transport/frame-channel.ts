/**
 * Turns a byte socket (a ws WebSocket or one end of the in-memory pair) into a {@link Transport}: decodes
 * and validates every message, answers garbage with an `error` frame instead of dropping it silently, and
 * closes with 1008 after too many bad frames in a row.
 */
import { Observable, Subject } from 'rxjs';
import { ClaError, ErrorCode, FrameError, toWireError } from '../errors.ts';
import { bytesAsReceived, decodeFrame, encodeFrame, type EncodedFrame } from '../protocol/codec.ts';
import { frame as makeFrame, type Frame } from '../protocol/frames.ts';
import { CloseCode, DEFAULT_MAX_FRAME_BYTES } from '../protocol/version.ts';
import { EncodePool, type PooledBytes } from './encode-pool.ts';
import { FRAME_QUEUE_OVERHEAD_BYTES, SendGate, type SendGateHooks, type SendLimits } from './send-gate.ts';
import type { CloseInfo, FrameReceiver, FrameTap, Transport } from './transport.ts';

/** The little a channel needs from a socket. */
export interface ByteSocket {
  send(bytes: Uint8Array, done: (error?: Error | null) => void): void;
  close(code: number, reason: string): void;
  terminate(): void;
  bufferedAmount(): number;
  /**
   * Hold writes until `uncork()` (net.Socket's cork): the channel corks at its first frame of a turn and
   * uncorks once the turn is over (its promise jobs included, see {@link scheduleUncork}), so the frames of
   * one turn leave in one write (issue 9). @default no-op
   */
  cork?(): void;
  uncork?(): void;
  /**
   * Sends bytes that many connections send alike (a broadcast, `postEncoded`): the socket may frame them
   * once for all of them and write the frame in one call, at once rather than corked to the turn's end
   * (issue 9: the hub's 1,000 writes of one `action` frame). @default `send()`
   */
  sendShared?(bytes: Uint8Array, done: (error?: Error | null) => void): void;
  /** Silence watchdog (client sockets). @default no-op */
  setSilenceTimeout?(ms: number): void;
  /** Stop / restart reading. @default no-op */
  pause?(): void;
  resume?(): void;
}

/** Options for {@link FrameChannel}. */
export interface FrameChannelOptions {
  id: string;
  remote: string;
  /** Largest accepted frame in bytes. @default DEFAULT_MAX_FRAME_BYTES */
  maxFrameBytes?: number;
  /** Consecutive bad frames tolerated before closing with 1008. @default 10 */
  maxBadFrames?: number;
  /** Records every frame. */
  tap?: FrameTap;
  /** Bounds of the send queue (the hub's connections); unbounded when absent. */
  sendLimits?: SendLimits;
  /** Reused encode buffers for chunk frames (a listener shares one). @default one of this channel's own, made on the first chunk */
  encodePool?: EncodePool;
}

/** Largest close reason a websocket close frame can carry, in UTF-8 bytes (RFC 6455 §5.5: 125 less the code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * `reason` cut to {@link MAX_CLOSE_REASON_BYTES} UTF-8 bytes at a character boundary: `ws` throws on a
 * longer one, and a reason built from peer data (`agent.host` in a hello) may hold multi-byte characters
 * (issue 11, case 10).
 */
export function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  let bytes = 0;
  let end = 0;
  for (const char of reason) {
    const size = Buffer.byteLength(char);
    if (bytes + size > MAX_CLOSE_REASON_BYTES - 3) break;
    bytes += size;
    end += char.length;
  }
  return `${reason.slice(0, end)}…`;
}

/**
 * The channels corked in this turn, uncorked together on one tick for the process (see
 * {@link scheduleUncork}) rather than one each (issue 9: a worker process answers a broadcast on hundreds of connections in a turn).
 * Each connection's frames keep their order; a channel corked while they are uncorked waits for the next uncork.
 */
let corkedChannels: FrameChannel[] = [];

function uncorkChannels(): void {
  const channels = corkedChannels;
  corkedChannels = [];
  for (const channel of channels) channel.uncork();
}

/**
 * Uncorks on the tick queued by a promise job, not on a tick queued now. After a socket read or a timer
 * Node runs the ticks queued in that callback before its promise jobs: a tick queued at the turn's first
 * frame would then write before the rest of the turn ran (the `await` continuations of the code that sent
 * it), cutting the turn's frames in two writes, and the flush hook (`Transport.setFlushHook`) would see the
 * turn half done. A worker answering an action whose handler sends a frame and ends a few promise jobs
 * later then reported `connected.busy` and `connected.idle` around its answer when the action came in a
 * socket read, and nothing when it came in a promise job (the replay harness): the collect-and-cleanup
 * fixture did not replay. Queued from a promise job, the tick runs once every promise job of the turn
 * has, whatever callback the turn began in.
 */
function scheduleUncork(): void {
  process.nextTick(uncorkChannels);
}

function terminateSocket(socket: ByteSocket): void {
  socket.terminate();
}

function ignore(): void {
  // A frame posted on a connection that then failed: the close is handled on its own.
}

let nextId = 0;
/** A process-unique connection label. */
export function nextConnectionId(prefix = 'c'): string {
  nextId += 1;
  return `${prefix}${nextId}`;
}

/** Frames kept for a transport's first subscriber (see `FrameChannel.early`). */
const EARLY_FRAMES = 8;

/** A {@link Transport} over a {@link ByteSocket}; the owner feeds it with `receive()` and `closedBy()`. */
export class FrameChannel implements Transport, SendGateHooks {
  readonly id: string;
  readonly remote: string;
  // Per-connection state is kept small (issue 9: hub heap per idle connection): no closures per
  // instance; the frames subject, the rejects stream and the `closed` promise are made on first use
  // (a hub session takes frames and the close through its receiver instead).
  private frames: Subject<Frame> | undefined;
  private rejects: Subject<FrameError> | undefined;
  private receiver: FrameReceiver | undefined;
  /**
   * Frames that arrived before anyone consumed them: the hub's `challenge` is sent the moment a
   * connection opens and can be delivered before the client's `.then()` subscribes. Kept for the first
   * subscriber or receiver only, and at most {@link EARLY_FRAMES} of them (more before a consumer means
   * a broken peer).
   */
  private early: Frame[] | undefined;
  private consumed = false;
  private closeInfo: CloseInfo | undefined;
  private closedPromise: Promise<CloseInfo> | undefined;
  private resolveClosed: ((info: CloseInfo) => void) | undefined;
  get frames$(): Observable<Frame> {
    return new Observable<Frame>((subscriber) => {
      for (const f of this.takeEarly() ?? []) subscriber.next(f);
      return (this.frames ??= this.stream<Frame>()).subscribe(subscriber);
    });
  }
  get rejects$(): Observable<FrameError> {
    return (this.rejects ??= this.stream<FrameError>()).asObservable();
  }
  /** A subject made on first use: already complete when the connection closed before. */
  private stream<T>(): Subject<T> {
    const subject = new Subject<T>();
    if (this.closeInfo) subject.complete();
    return subject;
  }
  get closed(): Promise<CloseInfo> {
    if (this.closedPromise === undefined) {
      const info = this.closeInfo;
      this.closedPromise = info ? Promise.resolve(info) : new Promise((resolve) => (this.resolveClosed = resolve));
    }
    return this.closedPromise;
  }
  private open = true;
  private closedLocally = false;
  /** The code this side closed with: reported when the socket then drops without a close handshake. */
  private localCloseCode: number | undefined;
  private badInARow = 0;
  private readonly maxFrameBytes: number;
  private readonly maxBadFrames: number;
  private readonly tap: FrameTap | undefined;
  private readonly gate: SendGate | undefined;
  private encodePool: EncodePool | undefined;
  /** Reading stopped by the owner (`pause()`) and by the send gate: the socket reads when neither holds it. */
  private pausedByOwner = false;
  private pausedBySendQueue = false;
  /** The socket is corked until the turn is over (see `ByteSocket.cork`, {@link scheduleUncork}). */
  private corked = false;
  /** See `Transport.setFlushHook`. */
  private flushHook: (() => void) | undefined;

  constructor(
    private readonly socket: ByteSocket,
    options: FrameChannelOptions,
  ) {
    this.id = options.id;
    this.remote = options.remote;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxBadFrames = options.maxBadFrames ?? 10;
    this.tap = options.tap;
    this.encodePool = options.encodePool;
    this.tap?.event(this.id, 'open', this.remote);
    if (options.sendLimits) {
      this.gate = new SendGate(options.sendLimits, this);
    }
  }

  isOpen(): boolean {
    return this.open;
  }

  setReceiver(receiver: FrameReceiver | undefined): void {
    this.receiver = receiver;
    if (!receiver) return;
    for (const f of this.takeEarly() ?? []) receiver.receiveFrame(f);
    if (this.closeInfo) receiver.transportClosed(this.closeInfo);
  }

  /** The early frames, for the first consumer only. */
  private takeEarly(): Frame[] | undefined {
    if (this.consumed) return undefined;
    this.consumed = true;
    const early = this.early;
    this.early = undefined;
    return early;
  }

  send(frame: Frame): Promise<void> {
    if (!this.open) {
      return Promise.reject(new ClaError(ErrorCode.ConnectionFailed, `Connection ${this.id} is closed`, { retryable: true }));
    }
    const pooled = this.pooledChunk(frame);
    const bytes = pooled?.bytes ?? encodeFrame(frame);
    return new Promise((resolve, reject) => this.write(frame.t, bytes, (error) => (error ? reject(error) : resolve()), pooled));
  }

  /** {@link send} without a promise: a failure (closed connection, frame too large) is dropped. */
  post(frame: Frame): void {
    if (!this.open) return;
    // A worker's fetch posts its chunks: pooled too, or msgpackr packs each into fresh memory (issue 13).
    const pooled = this.pooledChunk(frame);
    this.write(frame.t, pooled?.bytes ?? encodeFrame(frame), ignore, pooled);
  }

  /**
   * A large chunk encoded into a pooled buffer; undefined for other frames and for a chunk forwarded as it
   * came (a relaying hub: `encodeFrame` gives its received bytes).
   */
  private pooledChunk(frame: Frame): PooledBytes | undefined {
    if (frame.t !== 'chunk' || bytesAsReceived(frame)) return undefined;
    return (this.encodePool ??= new EncodePool()).encode(frame);
  }

  /** {@link post} of a frame encoded once for many connections. */
  postEncoded(encoded: EncodedFrame): void {
    if (this.open) this.write(encoded.frame.t, encoded.bytes, ignore, undefined, true);
  }

  /**
   * Hands `bytes` to the socket; `pooled` (a chunk's pooled buffer) is released once the socket is done with
   * them. `shared`: bytes many connections send alike (see `ByteSocket.sendShared`).
   */
  private write(type: string, bytes: Uint8Array, done: (error?: ClaError) => void, pooled?: PooledBytes, shared = false): void {
    if (!this.open) {
      pooled?.release();
      done(new ClaError(ErrorCode.ConnectionFailed, `Connection ${this.id} is closed`, { retryable: true }));
      return;
    }
    if (bytes.length > this.maxFrameBytes) {
      pooled?.release();
      // The peer would drop the whole connection (1009) for it: refuse this one frame instead.
      done(
        new ClaError(ErrorCode.FrameTooLarge, `A \`${type}\` frame of ${bytes.length} bytes exceeds the ${this.maxFrameBytes}-byte frame limit; send less (e.g. ship a file instead of an inline payload)`, {
          data: { bytes: bytes.length, limit: this.maxFrameBytes, type },
        }),
      );
      return;
    }
    this.tap?.frame(this.id, 'out', bytes);
    const cost = bytes.length + FRAME_QUEUE_OVERHEAD_BYTES;
    this.gate?.add(cost);
    // A broadcast's frame goes out at once (behind what this turn corked, if anything): one write per
    // connection either way, and the first subscribers get it while the hub still writes to the others.
    if (shared && this.socket.sendShared) {
      this.socket.sendShared(bytes, this.written(cost, done, pooled));
      return;
    }
    if (!this.corked && this.socket.cork) {
      this.corked = true;
      this.socket.cork();
      if (corkedChannels.length === 0) queueMicrotask(scheduleUncork);
      corkedChannels.push(this);
    }
    this.socket.send(bytes, this.written(cost, done, pooled));
  }

  /** The socket's callback for one write: it is done with the bytes (written, or dropped with the connection). */
  private written(cost: number, done: (error?: ClaError) => void, pooled: PooledBytes | undefined): (error?: Error | null) => void {
    return (error) => {
      pooled?.release();
      this.gate?.done(cost);
      if (error) done(new ClaError(ErrorCode.ConnectionFailed, `Send on ${this.id} failed: ${error.message}`, { cause: error, retryable: true }));
      else done();
    };
  }

  bufferedBytes(): number {
    return this.socket.bufferedAmount();
  }

  close(code: number = CloseCode.Normal, reason = ''): void {
    if (!this.open) return;
    this.open = false;
    this.closedLocally = true;
    this.localCloseCode = code;
    try {
      this.socket.close(code, closeReason(reason));
    } catch {
      // A close that cannot be sent (an invalid code) must still end the connection.
      this.socket.terminate();
    }
  }

  terminate(): void {
    this.open = false;
    this.closedLocally = true;
    // Frames of this turn still corked are handed to the socket first, as they were before corking.
    if (this.corked) this.uncork();
    this.socket.terminate();
  }

  pause(): void {
    this.pausedByOwner = true;
    this.applyPause();
  }

  setSilenceTimeout(ms: number): void {
    this.socket.setSilenceTimeout?.(ms);
  }

  resume(): void {
    this.pausedByOwner = false;
    this.applyPause();
  }

  /** See `Transport.flush`: the frames corked so far in this turn go to the socket now. */
  flush(): void {
    this.uncork();
  }

  setFlushHook(hook: (() => void) | undefined): void {
    this.flushHook = hook;
  }

  /** Hands the frames corked in this turn to the socket (see `ByteSocket.cork`). */
  uncork(): void {
    if (!this.corked) return;
    // Still corked while the hook runs: what it posts joins this write.
    this.flushHook?.();
    this.corked = false;
    this.socket.uncork?.();
  }

  /** The send gate stopped (true) or restarted (false) reading (the channel is its own {@link SendGateHooks}: no object per connection). */
  congested(on: boolean): void {
    this.pausedBySendQueue = on;
    this.applyPause();
  }

  /** The send gate gave up on the peer: close with 4009. */
  overflow(reason: string): void {
    this.close(CloseCode.SendOverflow, reason);
    // The close frame waits behind the queue the peer does not read: drop the socket soon after.
    setTimeout(terminateSocket, 1000, this.socket).unref();
  }

  private applyPause(): void {
    if (this.pausedByOwner || this.pausedBySendQueue) this.socket.pause?.();
    else this.socket.resume?.();
  }

  /** Feeds one received message. */
  receive(bytes: Uint8Array): void {
    this.tap?.frame(this.id, 'in', bytes);
    let decoded: Frame;
    try {
      decoded = decodeFrame(bytes, this.maxFrameBytes);
    } catch (error) {
      this.reject(error instanceof FrameError ? error : new FrameError(String(error)));
      return;
    }
    this.badInARow = 0;
    if (!this.consumed) {
      if ((this.early ??= []).length < EARLY_FRAMES) this.early.push(decoded);
      return;
    }
    this.receiver?.receiveFrame(decoded);
    this.frames?.next(decoded);
  }

  /** Reports that the socket closed. */
  closedBy(code: number, reason: string): void {
    if (this.closeInfo) return;
    const dropped = code === 1006 && this.localCloseCode !== undefined;
    const info: CloseInfo = dropped ? { code: this.localCloseCode!, reason, local: true } : { code, reason, local: this.closedLocally };
    this.open = false;
    this.gate?.release();
    this.tap?.event(this.id, 'close', `${info.code} ${info.reason}`.trim());
    this.closeInfo = info;
    this.frames?.complete();
    this.rejects?.complete();
    this.resolveClosed?.(info);
    this.resolveClosed = undefined;
    this.receiver?.transportClosed(info);
  }

  private reject(error: FrameError): void {
    this.badInARow += 1;
    this.rejects?.next(error);
    if (!this.open) return;
    // Never answer an incoming `error` with another one: two sides would bounce errors forever.
    const looksLikeError = error.data?.type === 'error';
    const re = typeof error.data?.re === 'string' && error.data.re.length <= 100 ? error.data.re : undefined;
    if (!looksLikeError) this.send(makeFrame('error', { ...(re === undefined ? {} : { re }), error: toWireError(error) })).catch(() => undefined);
    if (error.code === ErrorCode.ProtocolVersion) {
      this.close(CloseCode.ProtocolVersion, 'protocol version mismatch');
    } else if (this.badInARow >= this.maxBadFrames) {
      this.close(CloseCode.PolicyViolation, `${this.badInARow} bad frames in a row`);
    }
  }
}
