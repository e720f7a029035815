/**
 * The `eval` operation: runs the frame's JavaScript in a child process (eval-process.ts, eval-runner.mjs)
 * and ends with one frame:
 *
 * - `result` whose `value` is an {@link EvalResultValue}: `{ value, logs, logsTruncated }`, `value` being
 *   what the code returned as a plain value (eval-plain.mjs);
 * - `error` `EVAL_ERROR` when the code threw, did not compile, returned something that cannot be sent (a
 *   cycle, too deep, larger than 512 KiB) or ended its process; `data` is
 *   `{ name, message, stack, phase, logs, logsTruncated }`;
 * - `error` `TIMEOUT` after `timeoutMs` (default 30 s), `CANCELLED` after a `cancel`, both once the child
 *   is gone, with `data.logs`; `SPAWN_FAILED` when the child cannot start.
 */
import { ClaError, ErrorCode, toWireError } from '../../errors.ts';
import { encodeFrame } from '../../protocol/codec.ts';
import { frame, isPlainValue, type Frame, type FrameOf } from '../../protocol/frames.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../../protocol/version.ts';
import { runEval, type EvalOptions } from './eval-process.ts';
import type { JobContext, RunningJob } from './job.ts';

/** The `value` of an eval's `result` frame. */
export interface EvalResultValue {
  /** What the code returned, converted to a plain value (`undefined` is `null`). */
  value: unknown;
  /** What the code printed (stdout and stderr, in arrival order), at most 64 KiB by default. */
  logs: string;
  /** True when the code printed more than `logs` holds. */
  logsTruncated: boolean;
}

/** Starts an eval job. `options` come from the agent or tests (limits, grace periods); `clock` is the job's. */
export function startEval(f: FrameOf<'eval'>, ctx: JobContext, options: EvalOptions = {}): RunningJob {
  const { id } = f;
  const handle = runEval(f.code, f.timeoutMs, { clock: ctx.clock, ...options });
  ctx.log.debug({ job: id, pid: handle.pid }, 'eval started');
  const done = handle.outcome.then((outcome) => {
    let answer: Frame;
    if (outcome.ok) {
      const value: EvalResultValue = { value: outcome.value, logs: outcome.logs, logsTruncated: outcome.logsTruncated };
      answer = checkedResult(id, value, outcome.durationMs);
    } else answer = frame('error', { re: id, error: toWireError(outcome.error) });
    if (answer.t === 'error') ctx.log.info({ job: id, code: answer.error.code, durationMs: outcome.durationMs }, 'eval failed');
    else ctx.log.info({ job: id, durationMs: outcome.durationMs }, 'eval finished');
    ctx.send(answer);
  });
  return {
    input: () => undefined,
    cancel: (reason) => handle.cancel(reason),
    done,
  };
}

/**
 * The `result` frame, or an `EVAL_ERROR` frame if it could not cross the wire. The runner already keeps
 * values plain and within the size limit; this guards against a runner that was tampered with by the
 * code itself (it runs in the same process) and against logs pushing the frame over the limit.
 */
function checkedResult(id: string, value: EvalResultValue, durationMs: number): Frame {
  const fail = (message: string) =>
    frame('error', { re: id, error: toWireError(new ClaError(ErrorCode.EvalError, message, { data: { name: 'Error', message, stack: null, phase: 'result', logs: value.logs, logsTruncated: value.logsTruncated } })) });
  if (!isPlainValue(value)) return fail('The returned value is not a plain value and cannot be sent');
  const result = frame('result', { re: id, value, durationMs });
  const bytes = encodeFrame(result).length;
  if (bytes > DEFAULT_MAX_FRAME_BYTES) return fail(`The returned value is too large: the result frame would be ${bytes} bytes, more than ${DEFAULT_MAX_FRAME_BYTES}`);
  return result;
}
