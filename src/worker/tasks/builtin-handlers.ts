/**
 * Task handlers that ship with the worker, enabled with `--task-handler NAME[:FILTER]`: `echo` returns
 * its data (for trying the dispatcher and for tests) and `shell` runs `data.cmd` through the exec runner.
 * Plugins register their own handlers with `TaskExtension.handle()`.
 */
import { lastValueFrom, tap } from 'rxjs';
import { ClaError, ErrorCode, InvalidArgumentError, describeValue } from '../../errors.ts';
import { execSpecSchema } from '../../protocol/frames.ts';
import { runExec, type ExecRunnerOptions } from '../exec-runner.ts';
import type { WorkerPolicy } from '../policy.ts';
import type { TaskHandler } from '../subscriptions.ts';

/** Names of the built-in handlers. */
export const BUILTIN_TASK_HANDLERS = ['echo', 'shell'] as const;
export type BuiltinTaskHandler = (typeof BUILTIN_TASK_HANDLERS)[number];

/** Output kept per stream in a `shell` result: the tail, in bytes. */
export const SHELL_TAIL_BYTES = 16 * 1024;

/** What the built-in handlers need. */
export interface BuiltinHandlerOptions {
  /** The worker's verb policy: `shell` needs `exec`. */
  policy?: WorkerPolicy;
  exec?: ExecRunnerOptions;
}

/** `echo`: the task's data is its result. */
export const echoHandler: TaskHandler = (task) => task.data;

/**
 * `shell`: `data` is an exec spec (`{cmd, cwd?, env?, timeoutMs?}`; a string `cmd` runs through the
 * shell, an array directly). The result is `{code, signal, timedOut, stdout, stderr}` with the last
 * {@link SHELL_TAIL_BYTES} of each stream; a non-zero exit is still a result (the task is done), a
 * command that cannot start fails the task with SPAWN_FAILED. Aborting (lease revoked) cancels the
 * command's process tree.
 */
export function shellHandler(exec: ExecRunnerOptions = {}): TaskHandler {
  return async (task, { signal }) => {
    const parsed = execSpecSchema.safeParse(task.data);
    if (!parsed.success) {
      throw new InvalidArgumentError(`Expected the data of a shell task to be {cmd, cwd?, env?, timeoutMs?}, got ${describeValue(task.data)}`);
    }
    const handle = runExec(parsed.data, exec);
    const onAbort = () => handle.cancel('task aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    const tails = { stdout: new Tail(), stderr: new Tail() };
    try {
      const exit = await lastValueFrom(handle.events$.pipe(tap((event) => event.type === 'output' && tails[event.stream].push(event.data))));
      if (exit.type !== 'exit') throw new ClaError(ErrorCode.Internal, 'The command ended without an exit event');
      return { code: exit.code, signal: exit.signal, timedOut: exit.timedOut, stdout: tails.stdout.text(), stderr: tails.stderr.text() };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  };
}

/** The built-in handler called `name`. @throws InvalidArgumentError for an unknown name or a denied verb */
export function builtinHandler(name: string, options: BuiltinHandlerOptions = {}): TaskHandler {
  switch (name) {
    case 'echo':
      return echoHandler;
    case 'shell':
      if (options.policy && !options.policy.verbs.has('exec')) {
        throw new InvalidArgumentError('The shell task handler runs commands, which this worker\'s --allow/--deny refuse (it needs the `exec` verb)');
      }
      return shellHandler(options.exec);
    default:
      throw new InvalidArgumentError(`Expected a task handler among ${BUILTIN_TASK_HANDLERS.join(', ')}, got \`${name}\``);
  }
}

/** The last bytes of a stream, decoded as UTF-8 at the end. */
class Tail {
  private chunks: Buffer[] = [];
  private bytes = 0;

  push(data: Uint8Array): void {
    this.chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.bytes += data.byteLength;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= SHELL_TAIL_BYTES) this.bytes -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - SHELL_TAIL_BYTES)).toString('utf8');
  }
}
