/**
 * The transport contract shared by the websocket implementation and the in-memory pair: validated
 * frames in as an rxjs stream, frames out with backpressure, and one close notification.
 */
import type { Observable } from 'rxjs';
import type { FrameError } from '../errors.ts';
import type { EncodedFrame } from '../protocol/codec.ts';
import type { Frame } from '../protocol/frames.ts';

/** Why and how a connection closed. */
export interface CloseInfo {
  /** The websocket close code (1006 when the connection dropped without a close frame). */
  code: number;
  /** The close reason sent by the peer, or a local description. */
  reason: string;
  /** True when this side initiated the close. */
  local: boolean;
}

/** See {@link Transport.setReceiver}. */
export interface FrameReceiver {
  /** A frame that decoded and passed schema validation. */
  receiveFrame(frame: Frame): void;
  /** The connection closed; called once, after the last frame. */
  transportClosed(info: CloseInfo): void;
}

/** A frame connection. */
export interface Transport {
  /** A label for logs and recordings, unique within the process (e.g. `c3`). */
  readonly id: string;
  /** The peer address, e.g. `127.0.0.1:53422`. */
  readonly remote: string;
  /** Incoming frames that decoded and passed schema validation; completes when the connection closes. */
  readonly frames$: Observable<Frame>;
  /** Incoming data that failed to decode or validate; the peer has already been sent an `error` frame. */
  readonly rejects$: Observable<FrameError>;
  /** Resolves once, when the connection has closed. */
  readonly closed: Promise<CloseInfo>;
  /**
   * Hands every incoming frame, then the close, to `receiver` as well as to `frames$` and `closed`
   * (`undefined`: to no receiver). For the one long-lived consumer of a hub connection: it costs no
   * subscription, subject or promise reaction per connection (issue 9, hub heap per idle worker). Frames
   * that arrived before anyone consumed them go to it first; set on a closed transport, it is told of
   * the close at once.
   */
  setReceiver(receiver: FrameReceiver | undefined): void;
  /** True until the connection starts closing. */
  isOpen(): boolean;
  /** Sends a frame; resolves when the bytes were handed to the socket, rejects if the connection is closed. */
  send(frame: Frame): Promise<void>;
  /** {@link send} without a promise, for frames whose failure only a close can cause (handled on its own). */
  post(frame: Frame): void;
  /** {@link post} of a frame encoded once for many connections (`encodeOnce()`). */
  postEncoded(encoded: EncodedFrame): void;
  /**
   * Writes the frames sent so far in this turn now, instead of with the rest of the turn's frames once the
   * turn is over: for a frame that someone waits for while this turn still has work to do (a job's frame to
   * its worker, a job's end to its caller, issue 13). @default the frames leave when the turn is over
   */
  flush?(): void;
  /**
   * Runs `hook` just before the frames of a turn go to the socket (at the turn's uncork or a `flush()`),
   * while frames it posts still join that write; `undefined` removes it. The worker settles its load
   * there (work-load.ts), so a `state` frame leaves with the frames of the turn that changed it.
   * @default no hook: transports that write each frame at once never call it
   */
  setFlushHook?(hook: (() => void) | undefined): void;
  /** Bytes queued in the socket and not yet written: callers pause producers above a watermark. */
  bufferedBytes(): number;
  /** Starts a clean close with a code (see `CloseCode`) and a short reason. */
  close(code?: number, reason?: string): void;
  /** Drops the connection at once. */
  terminate(): void;
  /** Stops reading from the socket (TCP backpressure reaches the peer) until `resume()`. */
  pause(): void;
  /** Reads again after `pause()`. */
  resume(): void;
  /** Drops the connection when the peer is silent (no ping, no frame) this long, in ms; 0 turns it off. */
  setSilenceTimeout(ms: number): void;
}

/** Direction of a recorded frame, seen from the side that records. */
export type Direction = 'in' | 'out';

/** Receives every frame's bytes as they cross a transport (see `FrameRecorder`). */
export interface FrameTap {
  frame(connection: string, direction: Direction, bytes: Uint8Array): void;
  event(connection: string, event: 'open' | 'close', detail: string): void;
}
