/**
 * The hub's side of a ship's flow control (issue 11, case 3). The worker grants credit as bytes reach its
 * disk; the hub does not pass that credit on to the sender (the admin client, or `shipFile` in the hub's
 * process) as it comes, but only while the bytes it holds for the job stay within one window:
 *
 *   (credit given to the sender, not yet used) + (bytes received, not yet written to the worker's socket)
 *     <= windowBytes
 *
 * So a worker that grants credit for a whole 1 GiB file and then stops reading makes the hub hold at most
 * one window, never the file: the rest of the credit waits here until the worker's socket drains. A
 * sender that sends beyond the credit it was given is refused with FLOW_CONTROL.
 */
import { ClaError, ErrorCode } from '../errors.ts';

/** Credit bookkeeping of one relayed ship; see the module comment. */
export class ShipCreditRelay {
  /** Credit from the worker not passed on yet. */
  private banked = 0;
  /** Cumulative credit given to the sender. */
  private given = 0;
  /** Cumulative bytes received from the sender. */
  private received = 0;
  /** Cumulative bytes written to the worker's socket. */
  private flushed = 0;

  constructor(
    private readonly windowBytes: number,
    private readonly give: (bytes: number) => void,
  ) {
    if (!Number.isInteger(windowBytes) || windowBytes <= 0) throw new ClaError(ErrorCode.InvalidArgument, `Expected \`windowBytes\` to be a positive integer, got \`${windowBytes}\``);
  }

  /** Credit from the worker. */
  credit(bytes: number): void {
    this.banked += bytes;
    this.release();
  }

  /** Bytes from the sender, before they are forwarded; throws FLOW_CONTROL beyond the credit given. */
  chunk(seq: number, bytes: number): void {
    if (this.received + bytes > this.given) {
      throw new ClaError(ErrorCode.FlowControl, `Chunk ${seq} goes beyond the credit the hub gave: ${this.received + bytes} bytes sent, ${this.given} granted`, {
        data: { seq, sent: this.received + bytes, granted: this.given },
      });
    }
    this.received += bytes;
  }

  /** Bytes of forwarded chunks that reached the worker's socket. */
  forwarded(bytes: number): void {
    this.flushed += bytes;
    this.release();
  }

  /** Bytes the hub answers for now (given credit not used + received bytes not yet written). */
  held(): number {
    return this.given - this.flushed;
  }

  private release(): void {
    const room = this.windowBytes - (this.given - this.flushed);
    const n = Math.min(this.banked, room);
    if (n <= 0) return;
    // Grants of a quarter window at least, unless that is all the worker granted: few credit frames.
    if (n < this.banked && n < this.windowBytes / 4) return;
    this.banked -= n;
    this.given += n;
    this.give(n);
  }
}
