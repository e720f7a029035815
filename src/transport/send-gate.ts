/**
 * Bounds on what a listener queues for its peers (issue 11, case 2): a peer that sends requests and never
 * reads the answers (or a relay whose reader stalls) used to grow the hub's memory without limit. Each
 * connection counts the bytes it handed to its socket that were not written out yet, plus a fixed cost
 * per frame for the bookkeeping around them:
 *
 * - over `maxQueuedBytes`, the connection stops reading from its peer (no new requests, no new answers)
 *   until the queue is below half of it again;
 * - still over it after `stallMs`, or over four times it at any moment, the connection is closed with
 *   `4009` (SendOverflow, protocol.md "Close codes");
 * - every connection of one listener shares a {@link SendBudget}: when the sum is over its bound, the
 *   connection holding the most is closed the same way.
 */
import { InvalidArgumentError, describeValue } from '../errors.ts';

/** Bookkeeping cost of one queued frame beyond its bytes (ws and net.Socket write requests, callbacks). */
export const FRAME_QUEUE_OVERHEAD_BYTES = 512;

/** Limits of one connection's send queue. */
export interface SendLimits {
  /** Queued bytes above which reading from the peer stops. @default 16 MiB */
  maxQueuedBytes?: number;
  /** Time the queue may stay above `maxQueuedBytes` before the connection is closed, in ms. @default 10000 */
  stallMs?: number;
  /** The listener-wide total. @default none */
  budget?: SendBudget;
}

/** The sum of the send queues of a listener's connections, bounded. */
export class SendBudget {
  total = 0;
  readonly gates = new Set<SendGate>();

  /** @param maxBytes bound of the sum, in bytes. */
  constructor(readonly maxBytes: number) {
    checkPositive('maxBytes', maxBytes);
  }

  /** Closes the connection holding the most while the sum is over the bound. */
  enforce(): void {
    while (this.total > this.maxBytes) {
      let largest: SendGate | undefined;
      for (const gate of this.gates) if (!largest || gate.queued > largest.queued) largest = gate;
      if (!largest || largest.queued === 0) return;
      largest.overflow(`the hub's send queues hold over ${mib(this.maxBytes)} MiB; this connection holds the most`);
    }
  }
}

/** What a gate does to its connection. */
export interface SendGateHooks {
  /** Stop (true) or restart (false) reading from the peer. */
  congested(on: boolean): void;
  /** Close the connection for good (4009); the gate releases its bytes from the budget. */
  overflow(reason: string): void;
}

/** One connection's send queue accounting. */
export class SendGate {
  queued = 0;
  private congested = false;
  private stallTimer: NodeJS.Timeout | undefined;
  private released = false;
  private readonly maxQueuedBytes: number;
  private readonly stallMs: number;
  private readonly budget: SendBudget | undefined;

  constructor(
    limits: SendLimits,
    private readonly hooks: SendGateHooks,
  ) {
    this.maxQueuedBytes = limits.maxQueuedBytes ?? 16 * 1024 * 1024;
    this.stallMs = limits.stallMs ?? 10_000;
    checkPositive('maxQueuedBytes', this.maxQueuedBytes);
    checkPositive('stallMs', this.stallMs);
    this.budget = limits.budget;
    this.budget?.gates.add(this);
  }

  /** A frame of `bytes` was handed to the socket. */
  add(bytes: number): void {
    if (this.released) return;
    this.queued += bytes;
    if (this.budget) this.budget.total += bytes;
    if (this.queued > 4 * this.maxQueuedBytes) {
      this.overflow(`over ${mib(4 * this.maxQueuedBytes)} MiB waiting to be sent: the peer does not read`);
      return;
    }
    if (!this.congested && this.queued > this.maxQueuedBytes) {
      this.congested = true;
      this.hooks.congested(true);
      this.stallTimer = setTimeout(() => this.overflow(`over ${mib(this.maxQueuedBytes)} MiB waiting to be sent for ${this.stallMs} ms: the peer does not read`), this.stallMs);
      this.stallTimer.unref();
    }
    this.budget?.enforce();
  }

  /** The socket wrote (or dropped) a frame of `bytes`. */
  done(bytes: number): void {
    if (this.released) return;
    this.queued -= bytes;
    if (this.budget) this.budget.total -= bytes;
    if (this.congested && this.queued <= this.maxQueuedBytes / 2) {
      this.congested = false;
      clearTimeout(this.stallTimer);
      this.hooks.congested(false);
    }
  }

  /** Closes the connection for good. */
  overflow(reason: string): void {
    if (this.released) return;
    this.release();
    this.hooks.overflow(reason);
  }

  /** The connection closed: its bytes leave the budget. */
  release(): void {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.stallTimer);
    if (this.budget) {
      this.budget.total -= this.queued;
      this.budget.gates.delete(this);
    }
    this.queued = 0;
  }
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1);
}

function checkPositive(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new InvalidArgumentError(`Expected \`${name}\` to be a positive integer, got ${describeValue(value)}`);
}
