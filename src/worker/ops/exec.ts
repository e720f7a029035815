/**
 * The `exec` operation: runs the command through the exec runner and streams `started`, `output` and
 * `exit`. Two brakes stop reading the process's pipes, so a command that writes faster than its output
 * is read blocks in its own `write()` instead of filling memory:
 * - output credit (`exec.outputCredit`, then `credit` frames; protocol.md "Output flow control"): the
 *   worker never sends more output bytes than the hub granted; what the runner read beyond that waits
 *   here (at most a chunk per stream) with the pipes paused;
 * - the socket: above `highWaterBytes` buffered, the pipes pause until it is below half.
 */
import { toWireError } from '../../errors.ts';
import { frame, type FrameOf } from '../../protocol/frames.ts';
import { runExec, type ExecRunnerOptions } from '../exec-runner.ts';
import type { JobContext, RunningJob } from './job.ts';

type Output = { stream: 'stdout' | 'stderr'; data: Uint8Array };

/** Starts an exec job. `runner` options come from the agent (grace periods, batching). */
export function startExec(f: FrameOf<'exec'>, ctx: JobContext, runner: ExecRunnerOptions = {}): RunningJob {
  const { id, v: _v, t: _t, outputCredit, started, ...spec } = f;
  const leftovers = ctx.leftovers;
  const cmd = typeof spec.cmd === 'string' ? spec.cmd : spec.cmd.join(' ');
  const onSpawn = leftovers ? (pid: number) => leftovers.trackProcessGroup(pid, { job: id, cmd }) : undefined;
  const handle = runExec(spec, { clock: ctx.clock, ...runner, onSpawn });
  // Without `outputCredit` (an older hub) output is not flow controlled: unlimited credit.
  let credit = outputCredit ?? Infinity;
  let seq = 0;
  const waiting: Output[] = [];
  let exitFrame: FrameOf<'exit'> | undefined;
  let exitSeen = false;
  let socketFull = false;
  let pipesPaused = false;
  const steer = () => {
    const stop = socketFull || waiting.length > 0;
    if (stop !== pipesPaused) {
      pipesPaused = stop;
      if (stop) handle.pause();
      else handle.resume();
    }
  };
  const relieve = () => {
    if (!socketFull) return;
    if (ctx.bufferedBytes() < ctx.highWaterBytes / 2) {
      socketFull = false;
      steer();
    } else ctx.clock.setTimeout(relieve, 10);
  };
  // Sends what the credit allows, splitting a chunk at the credit's edge; `exit` goes once all output went.
  const flush = () => {
    while (waiting.length > 0 && credit > 0) {
      const head = waiting[0]!;
      const take = Math.min(credit, head.data.byteLength);
      ctx.send(frame('output', { re: id, seq: seq++, stream: head.stream, data: head.data.subarray(0, take) }));
      credit -= take;
      if (take === head.data.byteLength) waiting.shift();
      else head.data = head.data.subarray(take);
    }
    if (waiting.length === 0 && exitFrame) {
      ctx.send(exitFrame);
      exitFrame = undefined;
      finished();
    }
    if (!socketFull && ctx.bufferedBytes() > ctx.highWaterBytes) {
      socketFull = true;
      ctx.clock.setTimeout(relieve, 10);
    }
    steer();
  };
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  handle.events$.subscribe({
    next: (event) => {
      // `started: false`: the hub has no use for the pid (issue 13), and the job's start then writes nothing.
      if (event.type === 'started') {
        if (started !== false) ctx.send(frame('started', { re: id, pid: event.pid }));
      } else if (event.type === 'output') {
        waiting.push({ stream: event.stream, data: event.data });
        flush();
      } else {
        exitSeen = true;
        exitFrame = frame('exit', { re: id, code: event.code, signal: event.signal, timedOut: event.timedOut, cancelled: event.cancelled, durationMs: event.durationMs });
        flush();
        // Logged once the exit is on its way: at the default level this is a synchronous write to stderr.
        ctx.log.info({ job: id, code: event.code, signal: event.signal }, 'exec finished');
      }
    },
    error: (error: unknown) => {
      ctx.log.warn({ job: id }, (error as Error).message);
      ctx.send(frame('error', { re: id, error: toWireError(error) }));
      finished();
    },
    // The job ends when its `exit` went out (flush), which may wait for credit after the process ended.
    complete: () => {
      if (!exitSeen) finished();
    },
  });
  return {
    input: (input) => {
      if (input.t !== 'credit') return;
      credit += input.bytes;
      flush();
    },
    cancel: (reason) => handle.cancel(reason),
    done,
  };
}
