/**
 * The `exec` operation: runs the command through the exec runner and streams `started`, `output` and
 * `exit`. Output pauses the process's pipes while the socket holds more than `highWaterBytes`, so a
 * chatty command cannot fill the worker's memory.
 */
import { toWireError } from '../../errors.ts';
import { frame, type FrameOf } from '../../protocol/frames.ts';
import { runExec, type ExecRunnerOptions } from '../exec-runner.ts';
import type { JobContext, RunningJob } from './job.ts';

/** Starts an exec job. `runner` options come from the agent (grace periods, batching). */
export function startExec(f: FrameOf<'exec'>, ctx: JobContext, runner: ExecRunnerOptions = {}): RunningJob {
  const { id, v: _v, t: _t, ...spec } = f;
  const leftovers = ctx.leftovers;
  const cmd = typeof spec.cmd === 'string' ? spec.cmd : spec.cmd.join(' ');
  const onSpawn = leftovers ? (pid: number) => leftovers.trackProcessGroup(pid, { job: id, cmd }) : undefined;
  const handle = runExec(spec, { clock: ctx.clock, ...runner, onSpawn });
  let paused = false;
  const relieve = () => {
    if (!paused) return;
    if (ctx.bufferedBytes() < ctx.highWaterBytes / 2) {
      paused = false;
      handle.resume();
    } else ctx.clock.setTimeout(relieve, 10);
  };
  const done = new Promise<void>((resolve) => {
    handle.events$.subscribe({
      next: (event) => {
        if (event.type === 'started') ctx.send(frame('started', { re: id, pid: event.pid }));
        else if (event.type === 'output') {
          ctx.send(frame('output', { re: id, seq: event.seq, stream: event.stream, data: event.data }));
          if (!paused && ctx.bufferedBytes() > ctx.highWaterBytes) {
            paused = true;
            handle.pause();
            ctx.clock.setTimeout(relieve, 10);
          }
        } else {
          ctx.log.info({ job: id, code: event.code, signal: event.signal }, 'exec finished');
          ctx.send(
            frame('exit', { re: id, code: event.code, signal: event.signal, timedOut: event.timedOut, cancelled: event.cancelled, durationMs: event.durationMs }),
          );
        }
      },
      error: (error: unknown) => {
        ctx.log.warn({ job: id }, (error as Error).message);
        ctx.send(frame('error', { re: id, error: toWireError(error) }));
        resolve();
      },
      complete: resolve,
    });
  });
  return {
    input: () => undefined,
    cancel: (reason) => handle.cancel(reason),
    done,
  };
}
