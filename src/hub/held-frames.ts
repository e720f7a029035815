/**
 * Frames that arrive while the hub is still checking a connection's first frame (issue 9: the registry
 * is asynchronous, so `hello` and `admin_hello` are answered after a store read). They are kept in order
 * and handed to the session before any later frame, so none is lost or handled out of order. Reading
 * pauses once {@link MAX_HELD_FRAMES} are held (TCP backpressure reaches the peer; the websocket may still
 * emit what it had already read, so the bound is that plus one socket read).
 */
import { concat, from, type Observable } from 'rxjs';
import type { FrameError } from '../errors.ts';
import type { EncodedFrame } from '../protocol/codec.ts';
import type { Frame } from '../protocol/frames.ts';
import type { CloseInfo, FrameReceiver, Transport } from '../transport/transport.ts';

/** Held frames past which the connection stops being read until its first frame is answered. */
export const MAX_HELD_FRAMES = 64;

/** Holds a transport's frames after the first one until {@link FrameHold.release}; it is the transport's receiver meanwhile. */
export class FrameHold implements FrameReceiver {
  private readonly held: Frame[] = [];
  private paused = false;
  private first = true;
  private holding = true;

  /** `onFirst` gets the first frame; the ones after it are held. `onEnd`: the connection closed while held. */
  constructor(
    private readonly transport: Transport,
    private readonly onFirst: (f: Frame) => void,
    private readonly onEnd: () => void,
  ) {
    transport.setReceiver(this);
  }

  receiveFrame(f: Frame): void {
    if (this.first) {
      this.first = false;
      this.onFirst(f);
      return;
    }
    this.held.push(f);
    if (this.held.length >= MAX_HELD_FRAMES && !this.paused) {
      this.paused = true;
      this.transport.pause();
    }
  }

  transportClosed(): void {
    if (this.holding) this.onEnd();
  }

  /** Stops holding; what is held is dropped (the connection is refused or closes by itself). */
  drop(): void {
    this.stop();
    this.held.length = 0;
  }

  /**
   * Stops holding and returns the transport, or, when frames are held, a view of it that gives the held
   * frames first (to its receiver or its `frames$` subscriber). The caller must take its frames in the
   * same turn (a session's constructor does).
   */
  release(): Transport {
    this.stop();
    if (this.paused) this.transport.resume();
    return this.held.length === 0 ? this.transport : new FramesView(this.transport, this.held.splice(0));
  }

  private stop(): void {
    if (!this.holding) return;
    this.holding = false;
    this.transport.setReceiver(undefined);
  }
}

/** A class, not an object of closures: one of these lives as long as each worker connection (issue 9, idle heap). */
class FramesView implements Transport {
  constructor(
    private readonly transport: Transport,
    /** Frames held before the view was made, for its first consumer. */
    private held: Frame[] | undefined,
  ) {}
  get frames$(): Observable<Frame> {
    const held = this.takeHeld();
    return held ? concat(from(held), this.transport.frames$) : this.transport.frames$;
  }
  setReceiver(receiver: FrameReceiver | undefined): void {
    if (receiver) for (const f of this.takeHeld() ?? []) receiver.receiveFrame(f);
    this.transport.setReceiver(receiver);
  }
  private takeHeld(): Frame[] | undefined {
    const held = this.held;
    this.held = undefined;
    return held;
  }
  get id(): string {
    return this.transport.id;
  }
  get remote(): string {
    return this.transport.remote;
  }
  get rejects$(): Observable<FrameError> {
    return this.transport.rejects$;
  }
  get closed(): Promise<CloseInfo> {
    return this.transport.closed;
  }
  isOpen(): boolean {
    return this.transport.isOpen();
  }
  send(f: Frame): Promise<void> {
    return this.transport.send(f);
  }
  post(f: Frame): void {
    this.transport.post(f);
  }
  postEncoded(encoded: EncodedFrame): void {
    this.transport.postEncoded(encoded);
  }
  flush(): void {
    this.transport.flush?.();
  }
  bufferedBytes(): number {
    return this.transport.bufferedBytes();
  }
  close(code?: number, reason?: string): void {
    this.transport.close(code, reason);
  }
  terminate(): void {
    this.transport.terminate();
  }
  pause(): void {
    this.transport.pause();
  }
  resume(): void {
    this.transport.resume();
  }
  setSilenceTimeout(ms: number): void {
    this.transport.setSilenceTimeout(ms);
  }
}
