/** The `probe` operation (placeholder until it is written: refuses with UNSUPPORTED). */
import { ClaError, ErrorCode } from '../../errors.ts';
import type { FrameOf } from '../../protocol/frames.ts';
import type { JobContext, RunningJob } from './job.ts';

/** Starts a probe job. */
export function startProbe(_f: FrameOf<'probe'>, _ctx: JobContext, _options: { tags: string[] }): RunningJob {
  throw new ClaError(ErrorCode.Unsupported, 'This worker cannot probe yet');
}
