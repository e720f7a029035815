/** What a caller of `Hub.run()` observes for one job. */
import type { ExecSpec, Target } from '../protocol/frames.ts';

/** Events of one job, in order: `dispatched`, `started`, any number of `output`, then `exit`. */
export type JobEvent =
  | { type: 'dispatched'; worker: string; job: string }
  | { type: 'started'; pid: number }
  | { type: 'output'; stream: 'stdout' | 'stderr'; seq: number; data: Uint8Array }
  | { type: 'exit'; code: number | null; signal: string | null; timedOut: boolean; cancelled: boolean; durationMs: number };

/** A request to run a command on a worker chosen by `target`. */
export interface RunRequest {
  target: Target;
  exec: ExecSpec;
  /** How long to wait for a matching worker to be free, in ms. @default 60000 */
  waitMs?: number;
}
