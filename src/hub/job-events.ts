/** What a caller of `Hub.run()` observes for one job, and how it feeds a job that takes input. */
import type { FrameOf, JobSpec, Target } from '../protocol/frames.ts';

/**
 * Events of one job, in order: `dispatched`, then by kind:
 * - exec: `started`, any number of `output`, then `exit`;
 * - ship: `credit` grants (send that many more bytes as chunks), then `result`;
 * - fetch: `file` (size, mode), `chunk`s within the credit the caller grants, then `result`;
 * - eval, probe: `result`.
 */
export type JobEvent =
  | { type: 'dispatched'; worker: string; job: string }
  | { type: 'started'; pid: number }
  | { type: 'output'; stream: 'stdout' | 'stderr'; seq: number; data: Uint8Array }
  | { type: 'exit'; code: number | null; signal: string | null; timedOut: boolean; cancelled: boolean; durationMs: number }
  | { type: 'credit'; bytes: number }
  | { type: 'file'; size: number; mode: number }
  /** `frame`: the worker's frame as received (`re` = the job id), for a relay that forwards it unchanged. */
  | { type: 'chunk'; seq: number; data: Uint8Array; frame?: FrameOf<'chunk'> }
  | { type: 'result'; value: unknown; durationMs: number };

/** A request to run a job on a worker chosen by `target`. */
export interface RunRequest {
  target: Target;
  job: JobSpec;
  /** How long to wait for a matching worker to be free, in ms. @default 60000 */
  waitMs?: number;
}

/** Input towards a running job: file bytes for a ship, credit for a fetch. */
export interface JobInput {
  /**
   * Sends file bytes of a ship; call only within granted credit. Resolves once the bytes were handed to
   * the socket (or dropped with the connection): senders keep a bounded amount unresolved. `received`: the
   * sender's frame as it came, when its `re` is already the job id (the admin session), forwarded to the
   * worker without encoding it again (issue 13).
   */
  chunk(seq: number, data: Uint8Array, sha256?: string, received?: FrameOf<'chunk'>): Promise<void>;
  /** Lets the worker send `bytes` more bytes of a fetch, or of an exec's output (when the run set `outputCredit`). */
  credit(bytes: number): void;
  /** Reports exec output the caller passed on (runs with `reportsTaken`). */
  taken?(bytes: number): void;
}
