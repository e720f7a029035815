/**
 * Flow control of one exec's output through the hub (issue 11, case 1; protocol.md "Output flow
 * control"): the worker may send only what the hub granted (`exec.outputCredit`, then `credit` frames),
 * and the hub grants only as its consumer takes output. So a consumer that stops reading stops the
 * worker reading the command's pipes, and the command blocks, instead of the hub filling up.
 *
 * The hub keeps at most `window` bytes in flight per exec: granted and not yet received, plus received
 * and not yet handed on. A consumer that grants credit itself (an admin `run` with `outputCredit`) also
 * caps what is granted to the worker in total; one that does not is paced by what it took (for an admin
 * connection: what the socket wrote out).
 */

/** Credit the hub grants once the consumer is gone: the worker never waits again, and the hub drops the output. */
const UNLIMITED = 2 ** 50;

/** One exec's output window. */
export class OutputFlow {
  /** Granted to the worker, not yet received. */
  private outstanding = 0;
  /** Received, not yet taken by the consumer. */
  private held = 0;
  /** Credit the consumer granted that was not passed on to the worker yet (Infinity: it does not grant). */
  private allowance: number;
  private released = false;

  /**
   * @param window bytes in flight at most
   * @param grant sends a `credit` to the worker
   * @param consumerCredit the consumer's first grant, when it grants credit itself
   */
  constructor(
    private readonly window: number,
    private readonly grant: (bytes: number) => void,
    consumerCredit?: number,
  ) {
    this.allowance = consumerCredit ?? Infinity;
  }

  /** The credit to put in the `exec` frame. */
  initial(): number {
    const first = Math.min(this.window, this.allowance);
    this.outstanding = first;
    this.allowance -= first;
    return first;
  }

  /** Output of `bytes` arrived from the worker. */
  received(bytes: number): void {
    this.outstanding = Math.max(0, this.outstanding - bytes);
    this.held += bytes;
  }

  /** The consumer took `bytes` of output (an admin socket wrote them out). */
  taken(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
    this.pump();
  }

  /** The consumer granted `bytes` more. */
  consumerGranted(bytes: number): void {
    this.allowance += bytes;
    this.pump();
  }

  /** The consumer is gone: let the worker finish without waiting (its output is dropped). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.grant(UNLIMITED);
  }

  private pump(): void {
    if (this.released) return;
    const room = this.window - this.outstanding - this.held;
    const give = Math.min(room, this.allowance);
    if (give <= 0) return;
    // Grant in steps of a quarter window (fewer frames), unless the worker is about to run dry.
    if (give < this.window / 4 && this.outstanding >= this.window / 4) return;
    this.outstanding += give;
    this.allowance -= give;
    this.grant(give);
  }
}
