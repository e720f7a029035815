/** `cla-hub exec` (a command on a worker, output streamed) and `cla-hub replay` (a recording, readable). */
import os from 'node:os';
import type { Command } from 'commander';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import type { JobInput } from '../hub/job-events.ts';
import { OUTPUT_WINDOW_BYTES } from '../protocol/version.ts';
import { readRecording } from '../transport/recorder.ts';
import { cancelOnCtrlC } from './ctrl-c.ts';
import { adminDataOption as dataOption, adminUrlOption, connectAdminOrReport, withHub } from './hub-connect.ts';
import { splitList, parsePositiveSeconds } from './parse.ts';
import { formatRecording } from '../transport/recording-format.ts';
import { guard, line, warn } from './say.ts';

/** Adds `exec` to the hub CLI. */
export function registerExecCommand(program: Command): void {
  program
    .command('exec')
    .description('run a command on a worker and stream its output: cla-hub exec [options] -- CMD [ARGS...]')
    .argument('<command...>', 'one argument runs through the shell; several run directly (argv)')
    .option('--worker <id>', 'run on this worker')
    .option('--tags <tags>', 'run on the first available worker having all these tags (comma separated)')
    .option('--env <env>', 'run on a worker serving this environment')
    .option('--project <name>', 'run on a worker of this project')
    .option('--cwd <dir>', 'working directory on the worker')
    .option('--timeout <seconds>', 'stop the command after this many seconds')
    .option('--wait <seconds>', 'how long to wait for a busy worker', '60')
    .addOption(adminUrlOption())
    .addOption(dataOption())
    .action((command: string[], opts) => guard(() => execCommand(command, opts)));
}

/** Adds `replay` to the hub CLI. */
export function registerReplayCommand(program: Command): void {
  program
    .command('replay [file]')
    .description("print a recording made with --record as a readable conversation (--from-hub: the running hub's own recording)")
    .option('--from-hub', "read the hub's recording through its admin API (works from another host)")
    .option('--limit <n>', 'with --from-hub: the last this many lines', '1000')
    .addOption(dataOption())
    .action((file: string | undefined, opts) => {
      if (opts.fromHub) {
        const limit = Number(opts.limit);
        if (file !== undefined || !Number.isInteger(limit) || limit < 1) {
          return guard(() => {
            throw new InvalidArgumentError(file !== undefined ? 'Pass a FILE or --from-hub, not both' : `Expected \`--limit\` to be a positive integer, got \`${opts.limit}\``);
          });
        }
        return withHub(opts, async (client) => {
          for (const text of (await client.call<{ lines: string[] }>('recording.read', { limit })).lines) line(text);
        });
      }
      return guard(() => {
        if (file === undefined) throw new InvalidArgumentError("Pass the recording FILE, or --from-hub for the running hub's recording");
        for (const text of formatRecording(readRecording(file))) line(text);
      });
    });
}

async function execCommand(command: string[], opts: Record<string, string | undefined>): Promise<void> {
  // Checked before connecting: a bad value must exit 2, not leave an open connection holding the process.
  const timeout = opts.timeout === undefined ? undefined : parsePositiveSeconds('--timeout', opts.timeout);
  const waitMs = Math.round(parsePositiveSeconds('--wait', opts.wait ?? '60', true) * 1000);
  const client = await connectAdminOrReport(opts);
  if (!client) return;
  const ctrlC = cancelOnCtrlC(() => warn('cancelling the remote command (Ctrl-C again to leave it running and quit)'));
  const target = {
    ...(opts.worker === undefined ? {} : { worker: opts.worker }),
    ...(opts.tags === undefined ? {} : { tags: splitList(opts.tags) }),
    ...(opts.env === undefined ? {} : { env: opts.env }),
    ...(opts.project === undefined ? {} : { project: opts.project }),
  };
  const exec = {
    kind: 'exec' as const,
    cmd: command.length === 1 ? command[0]! : command,
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    ...(timeout === undefined ? {} : { timeoutMs: Math.round(timeout * 1000) }),
  };
  try {
    await new Promise<void>((resolve, reject) => {
      // Output credit is granted as stdout/stderr take the bytes: `cla-hub exec ... | slow-reader` slows
      // the remote command instead of filling this process (protocol.md "Output streaming").
      let input: JobInput | undefined;
      // No `started`: the pid is not shown, and the frame would wake this process while the command runs.
      client.run(target, exec, { waitMs, signal: ctrlC.signal, outputCredit: OUTPUT_WINDOW_BYTES, onInput: (given) => (input = given), started: false }).subscribe({
        next: (event) => {
          if (event.type === 'output') {
            const bytes = event.data.byteLength;
            (event.stream === 'stdout' ? process.stdout : process.stderr).write(event.data, () => input?.credit(bytes));
          }
          else if (event.type === 'exit') {
            if (event.timedOut) warn(`timed out after ${opts.timeout} s`);
            const signo = event.signal ? (os.constants.signals as Record<string, number>)[event.signal] : undefined;
            process.exitCode = event.code ?? (signo ? 128 + signo : 1);
          }
        },
        error: reject,
        complete: resolve,
      });
    });
  } catch (error) {
    // 125 like `docker run`: the hub or worker failed, not the command.
    if (error instanceof ClaError) {
      process.stderr.write(`✖ ${error.message} [${error.code}]\n`);
      process.exitCode = error.code === ErrorCode.SpawnFailed ? 127 : 125;
      return;
    }
    throw error;
  } finally {
    ctrlC.dispose();
    client.close();
  }
}

