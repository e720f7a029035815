/**
 * One connection of a replay: a real `FrameChannel` (the Transport the hub or worker under test uses)
 * over a socket whose other end is the harness. The harness feeds the recorded bytes exactly as they
 * were received (`deliver`, so garbage stays garbage), keeps every byte the machine sends (`sent`), and
 * either side may end the connection. Delivery and close notices go through the microtask queue, as in
 * src/transport/memory.ts.
 */
import { FrameChannel, type ByteSocket } from '../../src/transport/frame-channel.ts';

/** How a replayed connection ended. */
export interface PeerClose {
  code: number;
  reason: string;
  /** `machine`: the hub or worker under test closed it; `peer`: the harness did, as the recording says. */
  by: 'machine' | 'peer';
}

/** The harness's end of one replayed connection. */
export class ScriptedPeer implements ByteSocket {
  /** The machine's end; its id is the recorded connection id, so a hub's `welcome.session` matches. */
  readonly channel: FrameChannel;
  /** Every message the machine sent, in order. */
  readonly sent: Uint8Array[] = [];
  closed: PeerClose | undefined;

  /**
   * @param rewrite turns recorded bytes into what this replay's machine should see (`in`), and what it
   * sends into what the recording would hold (`out`): the worker replay's tree lives in a temp folder.
   */
  constructor(
    id: string,
    remote: string,
    private readonly rewrite?: { in(bytes: Uint8Array): Uint8Array; out(bytes: Uint8Array): Uint8Array },
  ) {
    this.channel = new FrameChannel(this, { id, remote });
  }

  // ---- the ByteSocket the machine's channel writes to ----
  send(bytes: Uint8Array, done: (error?: Error) => void): void {
    if (this.closed) {
      queueMicrotask(() => done(new Error('connection closed')));
      return;
    }
    this.sent.push(this.rewrite ? this.rewrite.out(bytes) : Uint8Array.from(bytes));
    queueMicrotask(() => done());
  }

  close(code: number, reason: string): void {
    this.end(code, reason, 'machine');
  }

  terminate(): void {
    this.end(1006, '', 'machine');
  }

  bufferedAmount(): number {
    return 0;
  }

  /**
   * Corking as a websocket does: the bytes are kept at `send()` either way, but the channel then writes
   * each turn's frames together and runs its flush hook, as over the recorded websocket. The replayed
   * worker thus holds a lone `connected.busy` for company (BUSY_REPORT_WAIT_MS, on the replay's clock)
   * as the recorded one did, instead of sending it at once as on a transport that does not cork.
   */
  cork(): void {}

  uncork(): void {}

  // ---- the harness's side ----
  /** Hands recorded bytes to the machine, undecoded; ignored once the connection is closed. */
  deliver(bytes: Uint8Array): void {
    if (!this.closed) this.channel.receive(this.rewrite ? this.rewrite.in(bytes) : bytes);
  }

  /** Ends the connection from the far side (the recorded close was not the machine's doing). */
  drop(code: number, reason: string): void {
    this.end(code, reason, 'peer');
  }

  private end(code: number, reason: string, by: PeerClose['by']): void {
    if (this.closed) return;
    this.closed = { code, reason, by };
    queueMicrotask(() => this.channel.closedBy(code, reason));
  }
}
