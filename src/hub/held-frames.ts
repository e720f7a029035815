/**
 * Frames that arrive while the hub is still checking a connection's first frame (issue 9: the registry
 * is asynchronous, so `hello` and `admin_hello` are answered after a store read). They are kept in order
 * and handed to the session before any later frame, so none is lost or handled out of order. Reading
 * pauses once {@link MAX_HELD_FRAMES} are held (TCP backpressure reaches the peer; the websocket may still
 * emit what it had already read, so the bound is that plus one socket read).
 */
import { concat, from, type Observable, type Subscription } from 'rxjs';
import type { Frame } from '../protocol/frames.ts';
import type { Transport } from '../transport/transport.ts';

/** Held frames past which the connection stops being read until its first frame is answered. */
export const MAX_HELD_FRAMES = 64;

/** Holds a transport's frames after the first one until {@link FrameHold.release}. */
export class FrameHold {
  private readonly held: Frame[] = [];
  private readonly subscription: Subscription;
  private paused = false;
  private first = true;

  /** `onFirst` gets the first frame; the ones after it are held. */
  constructor(
    private readonly transport: Transport,
    onFirst: (f: Frame) => void,
    onEnd: () => void,
  ) {
    this.subscription = transport.frames$.subscribe({
      next: (f) => {
        if (this.first) {
          this.first = false;
          onFirst(f);
          return;
        }
        this.held.push(f);
        if (this.held.length >= MAX_HELD_FRAMES && !this.paused) {
          this.paused = true;
          transport.pause();
        }
      },
      complete: onEnd,
      error: onEnd,
    });
  }

  /** Stops holding; what is held is dropped (the connection is refused or closes by itself). */
  drop(): void {
    this.subscription.unsubscribe();
    this.held.length = 0;
  }

  /**
   * Stops holding and returns a view of the transport whose `frames$` gives the held frames, then the
   * live ones. The caller must subscribe in the same turn (a session's constructor does).
   */
  release(): Transport {
    this.subscription.unsubscribe();
    const frames$ = concat(from(this.held.splice(0)), this.transport.frames$);
    if (this.paused) this.transport.resume();
    return withFrames(this.transport, frames$);
  }
}

/** `transport` with another `frames$`; every other member is the transport's own. */
function withFrames(transport: Transport, frames$: Observable<Frame>): Transport {
  return {
    id: transport.id,
    remote: transport.remote,
    frames$,
    rejects$: transport.rejects$,
    closed: transport.closed,
    isOpen: () => transport.isOpen(),
    send: (f) => transport.send(f),
    bufferedBytes: () => transport.bufferedBytes(),
    close: (code, reason) => transport.close(code, reason),
    terminate: () => transport.terminate(),
    pause: () => transport.pause(),
    resume: () => transport.resume(),
    setSilenceTimeout: (ms) => transport.setSilenceTimeout(ms),
  };
}
