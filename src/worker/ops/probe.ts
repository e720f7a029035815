/**
 * The `probe` operation: a yes/no question about the worker host, answered with one `result` frame whose
 * `value` is a boolean, or one `error` frame.
 *
 * - `file_exists` `{ path }`: true when something (file, directory, ...) exists at `path`, following
 *   symlinks (a dangling link is false). The path goes through the worker's policy first, so outside its
 *   `--root`s the answer is `PATH_NOT_ALLOWED`, not a hint about what exists there. A path that cannot be
 *   checked (permission denied on a parent) is `IO_ERROR`, not false.
 * - `capable` `{ tags }`: true when the worker has every one of `tags` (case-sensitive, like the hub's
 *   matching); an empty list is true.
 *
 * A missing `path` or `tags` is `INVALID_ARGUMENT`.
 */
import { stat } from 'node:fs/promises';
import { ClaError, ErrorCode, toWireError } from '../../errors.ts';
import { frame, type FrameOf } from '../../protocol/frames.ts';
import type { JobContext, RunningJob } from './job.ts';

/** What the probe needs to know about the worker. */
export interface ProbeOptions {
  /** The worker's tags. */
  tags: string[];
}

/** Starts a probe job. */
export function startProbe(f: FrameOf<'probe'>, ctx: JobContext, options: ProbeOptions): RunningJob {
  const startedAt = ctx.clock.now();
  const done = answer(f, ctx, options).then(
    (value) => ctx.send(frame('result', { re: f.id, value, durationMs: ctx.clock.now() - startedAt })),
    (error: unknown) => {
      ctx.log.info({ job: f.id, check: f.check }, (error as Error).message);
      ctx.send(frame('error', { re: f.id, error: toWireError(error) }));
    },
  );
  // A probe is one stat at most: a cancel lets it finish and answer.
  return { input: () => undefined, cancel: () => undefined, done };
}

/** The probe's answer. */
async function answer(f: FrameOf<'probe'>, ctx: JobContext, options: ProbeOptions): Promise<boolean> {
  switch (f.check) {
    case 'file_exists': {
      if (f.path === undefined) throw new ClaError(ErrorCode.InvalidArgument, 'Expected `path` for the `file_exists` probe');
      return fileExists(ctx.policy.resolvePath(f.path));
    }
    case 'capable': {
      if (f.tags === undefined) throw new ClaError(ErrorCode.InvalidArgument, 'Expected `tags` for the `capable` probe');
      return f.tags.every((tag) => options.tags.includes(tag));
    }
  }
}

/** Whether `absolute` exists; errors other than "not there" are reported, not taken as false. */
export async function fileExists(absolute: string): Promise<boolean> {
  try {
    await stat(absolute);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return false;
    throw new ClaError(ErrorCode.IoError, `Cannot tell whether ${absolute} exists: ${(error as Error).message}`, {
      data: { path: absolute, errno: code ?? null },
      cause: error,
    });
  }
}
