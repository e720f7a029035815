/**
 * The contract between the agent and the operations it runs (exec, eval, ship, fetch, probe): the agent
 * checks policy and capacity, then hands the job's frame to the operation's starter with a
 * {@link JobContext}; the operation answers through `ctx.send` and ends with exactly one final frame
 * (`exit`, `result` or `error`, each with `re` = the job id).
 */
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../logger.ts';
import type { Frame, FrameOf } from '../../protocol/frames.ts';
import type { LeftoverTracker } from '../leftovers.ts';
import type { WorkerPolicy } from '../policy.ts';

/** What an operation may use. */
export interface JobContext {
  /** The job id (the `id` of the hub's frame, `re` of every answer). */
  readonly id: string;
  /** Sends a frame to the hub; dropped silently when the connection is gone. */
  send(frame: Frame): void;
  /** Bytes waiting in the socket: producers pause above `highWaterBytes`. */
  bufferedBytes(): number;
  /** Pause producing above this many buffered bytes. */
  readonly highWaterBytes: number;
  readonly clock: Clock;
  readonly log: Logger;
  readonly policy: WorkerPolicy;
  /** Records job processes and temp files so that a crash of the worker leaves neither. @default none */
  readonly leftovers?: LeftoverTracker;
}

/** A job in progress. */
export interface RunningJob {
  /** Frames the hub sends to this job after starting it: `chunk` (ship bytes), `credit` (fetch flow control). */
  input(frame: FrameOf<'chunk'> | FrameOf<'credit'>): void;
  /** Stops the job (a `cancel` frame, the worker stopping); it still sends its final frame. */
  cancel(reason: string): void;
  /** Resolves after the final frame was sent; never rejects. */
  readonly done: Promise<void>;
}

/** The hub frames that start a job. */
export type JobFrame = FrameOf<'exec'> | FrameOf<'eval'> | FrameOf<'ship'> | FrameOf<'fetch'> | FrameOf<'probe'>;

/** Starts one kind of job. */
export type JobStarter<F extends JobFrame> = (frame: F, ctx: JobContext) => RunningJob;
