/**
 * How features beyond plain jobs (action subscriptions, task handlers, plugins) plug into the worker
 * agent: they are told when the worker is welcomed (to send `subscribe`), get the hub frames the agent
 * does not handle itself, and can pause reading from the hub while their queue is full.
 */
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { EncodedFrame } from '../protocol/codec.ts';
import type { Frame } from '../protocol/frames.ts';

/** What an extension may use. */
export interface ExtensionContext {
  readonly workerId: string;
  readonly tags: readonly string[];
  readonly clock: Clock;
  readonly log: Logger;
  /** Sends a frame to the hub; dropped when not connected. */
  send(frame: Frame): void;
  /** {@link send} of a frame already encoded (`encodeOnce()`): its bytes go out as they are, not encoded again. */
  sendEncoded(encoded: EncodedFrame): void;
  /**
   * Counts one unit of work (a task held, an action handler running) in the worker's load
   * (src/worker/work-load.ts): the worker is busy while any is held, and a stopping worker waits for
   * them within its grace period. Call the returned function when it ends (later calls do nothing).
   */
  trackWork(kind: 'task' | 'action'): () => void;
  /** Stops reading frames from the hub (the hub's sends then block on TCP) until `resume()`. */
  pause(): void;
  resume(): void;
}

/** A worker feature. Every method is optional. */
export interface AgentExtension {
  /** The hub welcomed this worker (after every reconnect): send subscriptions here. */
  welcomed?(ctx: ExtensionContext): void;
  /** A hub frame the agent does not handle itself; return true when handled. */
  frame?(frame: Frame, ctx: ExtensionContext): boolean;
  /** The connection to the hub closed (work in progress cannot report any more). */
  disconnected?(): void;
  /** The worker is stopping: stop taking work; resolve when running work is done or given up. */
  stop?(): Promise<void>;
}
