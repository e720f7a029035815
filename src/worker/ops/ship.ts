/** The `ship` operation (placeholder until it is written: refuses with UNSUPPORTED). */
import { ClaError, ErrorCode } from '../../errors.ts';
import type { FrameOf } from '../../protocol/frames.ts';
import type { JobContext, RunningJob } from './job.ts';

/** Starts a ship job. */
export function startShip(_f: FrameOf<'ship'>, _ctx: JobContext): RunningJob {
  throw new ClaError(ErrorCode.Unsupported, 'This worker cannot ship yet');
}
