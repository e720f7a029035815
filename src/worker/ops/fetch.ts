/** The `fetch` operation (placeholder until it is written: refuses with UNSUPPORTED). */
import { ClaError, ErrorCode } from '../../errors.ts';
import type { FrameOf } from '../../protocol/frames.ts';
import type { JobContext, RunningJob } from './job.ts';

/** Starts a fetch job. */
export function startFetch(_f: FrameOf<'fetch'>, _ctx: JobContext): RunningJob {
  throw new ClaError(ErrorCode.Unsupported, 'This worker cannot fetch yet');
}
