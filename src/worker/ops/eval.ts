/** The `eval` operation (placeholder until it is written: refuses with UNSUPPORTED). */
import { ClaError, ErrorCode } from '../../errors.ts';
import type { FrameOf } from '../../protocol/frames.ts';
import type { JobContext, RunningJob } from './job.ts';

/** Starts a eval job. */
export function startEval(_f: FrameOf<'eval'>, _ctx: JobContext): RunningJob {
  throw new ClaError(ErrorCode.Unsupported, 'This worker cannot eval yet');
}
