/**
 * `cla-worker start | status | stop | service`: the worker in the background (src/worker/daemon.ts).
 *
 * Exit statuses follow the LSB init-script conventions, so these commands can back an init script:
 *
 * | command  | 0                            | 1                                            | 3                       |
 * |----------|------------------------------|----------------------------------------------|-------------------------|
 * | `start`  | connected, or up after 5 s   | already running, or the daemon exited at once | -                      |
 * | `status` | running                      | dead: stale pidfile (reported and deleted)   | not running, no pidfile |
 * | `stop`   | stopped, or was not running  | could not stop it (another user's process)   | -                       |
 *
 * and 2 for bad usage (src/cli/say.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { selfScript } from './self-command.ts';
import type { Command, Option } from 'commander';
import { ClaError, ErrorCode, InvalidArgumentError, describeValue } from '../errors.ts';
import { loadConfigFile } from '../worker/config-file.ts';
import { daemonPaths, spawnDaemon, stopDaemon, type DaemonPaths } from '../worker/daemon.ts';
import { inspectPidfile, removePidfile, type PidfileState } from '../worker/daemon-pidfile.ts';
import { renderSystemdUnit } from '../worker/daemon-service.ts';
import { envVarName, requireCredentials, type WorkerOptions } from '../worker/options.ts';
import { fail, guard, info, line, success, warn } from './say.ts';

/** LSB `status`: program is not running and has no pidfile. */
export const EXIT_NOT_RUNNING = 3;

/** What the commands need from src/cli/worker.ts. */
export interface DaemonCommandHelpers {
  /** Merges flags, `CLA_WORKER_*` and the config file, warning about unknown config keys. */
  loadOptions(flags: Record<string, unknown>, implicitRegistration?: boolean): WorkerOptions;
  /**
   * The `run` command: `start` accepts its options and passes them on.
   * @default the program's subcommand named `run`
   */
  run?: Command;
  /** The script the daemon and the systemd unit run with node. @default the script that started this process; none in a single executable */
  script?: string;
}

/** Options whose values are secrets: sent to the daemon in its environment, never on its command line. */
export const SECRET_OPTIONS: ReadonlySet<string> = new Set(['token', 'certKeyPass', 'psk', 'passkey']);

/**
 * The log line (pino JSON) that `run` writes once the hub has accepted its hello. Matching its text only
 * ends `start`'s wait sooner; failure is told by the exit, so a reworded message costs 5 s, not a bug.
 */
const isConnectedLine = (text: string, pid: number) => text.includes('"msg":"connected to the hub"') && text.includes(`"pid":${pid},`);


/** The daemon's arguments and the secrets for its environment. */
export interface ForwardedOptions {
  args: string[];
  env: Record<string, string>;
}

/**
 * Turns the options given on `start`'s command line (value source `cli`) back into `run` arguments.
 * Options not in `forward` (`--logfile`, `--pidfile`) and in `skip` are dropped; secrets go to
 * `env` as `CLA_WORKER_<NAME>`, which parseWorkerOptions reads with the same precedence below flags.
 */
export function forwardOptions(command: Command, forward: readonly Option[], skip: ReadonlySet<string> = new Set()): ForwardedOptions {
  const args: string[] = [];
  const env: Record<string, string> = {};
  const values = command.opts();
  for (const option of forward) {
    const key = option.attributeName();
    const value = values[key];
    if (skip.has(key) || value === undefined || command.getOptionValueSource(key) !== 'cli') continue;
    const flag = option.long ?? option.short!;
    if (SECRET_OPTIONS.has(key)) {
      env[envVarName(key)] = Array.isArray(value) ? value.join(',') : String(value);
    } else if (value === true || (value === false && option.negate)) {
      args.push(flag);
    } else if (typeof value === 'number' && option.isBoolean()) {
      // A counted flag (`-vvv`).
      for (let i = 0; i < value; i += 1) args.push(flag);
    } else if (value !== false) {
      // `--flag=value`, so a value starting with `-` is not read as an option.
      for (const item of Array.isArray(value) ? value : [value]) args.push(`${flag}=${String(item)}`);
    }
  }
  return { args, env };
}

/** Registers `start`, `status`, `stop` and `service` on the `cla-worker` program, after `run`. */
export function registerDaemonCommands(program: Command, helpers: DaemonCommandHelpers): void {
  const script = helpers.script ?? selfScript()[0];
  const run = helpers.run ?? program.commands.find((c) => c.name() === 'run');
  if (!run) throw new Error('registerDaemonCommands: register the `run` command first');
  const pidfileOption = (command: Command) =>
    command.option('--pidfile <file>', "the daemon's pid (default: cla-worker-ID.pid next to the config file, else in the current directory)");
  const pathOptions = (command: Command) =>
    pidfileOption(command).option('--logfile <file>', "the daemon's log, appended to (default: cla-worker.log next to the config file, else in the current directory)");

  const start = program.command('start').description('run the worker in the background (takes every `run` option), with a pidfile and a logfile');
  const forwarded = run.options.filter((option) => !start.options.some((o) => o.long === option.long));
  for (const option of forwarded) start.addOption(option);
  pathOptions(start).action((flags: Record<string, unknown>, command: Command) =>
    guard(async () => {
      const options = helpers.loadOptions(flags);
      requireCredentials(options);
      const paths = resolvePaths(options, flags);
      const state = inspectPidfile(paths.pidfile);
      if (state.state === 'running') {
        throw new ClaError(ErrorCode.DuplicateWorker, `worker ${options.id} is already running with pid=${state.pid} (pidfile=${paths.pidfile}); stop it with \`cla-worker stop --pidfile ${paths.pidfile}\``, {
          data: { pid: state.pid, pidfile: paths.pidfile },
        });
      }
      if (state.state === 'stale') cleanStale(state, paths.pidfile);

      const { args, env } = forwardOptions(command, forwarded, new Set(['id', 'config']));
      // The resolved id and config: the daemon must not pick another registration if the files change.
      const runArgs = [...(script === undefined ? [] : [script]), 'run', `--id=${options.id}`, ...(options.config ? [`--config=${options.config}`] : []), ...args];
      info('spawning cla-worker in the background...');
      info(`logfile=${paths.logfile}`);
      info(`pidfile=${paths.pidfile}`);
      const daemon = spawnDaemon({
        command: process.execPath,
        args: runArgs,
        // The daemon removes its own pidfile when it exits (a hub-ordered shutdown, a refusal), so a
        // pidfile left behind means a crash.
        env: { ...process.env, ...env, CLA_WORKER_DAEMON_PIDFILE: paths.pidfile },
        cwd: process.cwd(),
        pidfile: paths.pidfile,
        logfile: paths.logfile,
        ready: isConnectedLine,
      });
      info(`forked child with pid ${daemon.pid}`);
      const outcome = await daemon.settled;
      if (outcome.outcome === 'exited') {
        const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.code}`;
        fail(new ClaError(ErrorCode.SpawnFailed, `cla-worker ${how} right after starting; last lines of ${paths.logfile}:`));
        for (const text of outcome.log) process.stderr.write(`  ${text}\n`);
        process.exitCode = 1;
      } else if (outcome.outcome === 'running') {
        warn(`worker ${options.id} is running but has not logged a connection to the hub yet (hub unreachable, or --quiet): follow ${paths.logfile}`);
      }
    }),
  );

  pathOptions(
    program
      .command('status')
      .description('tell whether the background worker runs (exit 0: running, 1: dead with a stale pidfile, 3: not running)')
      .option('--id <id>', 'worker id (from cla-worker.yml when it has one registration)')
      .option('-c, --config <file>', 'config file, for the id and the default paths'),
  ).action((flags: Record<string, unknown>) =>
    guard(() => {
      const { options, paths } = locate(helpers, flags);
      info(`checking status for workerid=${options.id ?? '(unknown)'} and pidfile=${paths.pidfile}`);
      info(`logfile=${paths.logfile}`);
      const state = inspectPidfile(paths.pidfile);
      if (state.state === 'missing') {
        fail(`worker is not running: no pidfile at ${paths.pidfile}`);
        process.exitCode = EXIT_NOT_RUNNING;
        return;
      }
      if (state.pid !== undefined) info(`workerid=${options.id ?? '(unknown)'} is assigned pid=${state.pid}...`);
      if (state.state === 'running') {
        success(`worker is running with pid=${state.pid}`);
        return;
      }
      cleanStale(state, paths.pidfile);
      fail('worker is not running');
      process.exitCode = 1;
    }),
  );

  pidfileOption(
    program
      .command('stop')
      .description('stop the background worker: SIGTERM (running jobs may finish), SIGKILL after --timeout')
      .option('--id <id>', 'worker id (from cla-worker.yml when it has one registration)')
      .option('-c, --config <file>', 'config file, for the id and the default paths')
      .option('--timeout <seconds>', 'time to exit after SIGTERM before SIGKILL', '15'),
  ).action((flags: Record<string, unknown>) =>
    guard(async () => {
      const { timeout, ...rest } = flags as { timeout: string } & Record<string, unknown>;
      const timeoutMs = parseSeconds(timeout, 'timeout');
      const { options, paths } = locate(helpers, rest);
      const state = inspectPidfile(paths.pidfile);
      if (state.state === 'missing') {
        // LSB: stopping a stopped service succeeds.
        warn(`no pidfile at ${paths.pidfile}: worker${options.id ? ` ${options.id}` : ''} is not running`);
        return;
      }
      if (state.state === 'stale') {
        cleanStale(state, paths.pidfile);
        return;
      }
      info(`stopping daemon with pid=${state.pid}, from pidfile=${paths.pidfile}`);
      const result = await stopDaemon(state.pid, { timeoutMs });
      if (result.forced) warn(`daemon with pid=${state.pid} did not exit within ${timeout}s of SIGTERM: sent SIGKILL`);
      info(`killed daemon with pid=${state.pid}`);
      // A daemon that exits cleanly removes its pidfile itself; either way it is gone now.
      if (removePidfile(paths.pidfile, state.pid) || !fs.existsSync(paths.pidfile)) info(`deleted '${paths.pidfile}'`);
    }),
  );

  program
    .command('service')
    .description('print a systemd unit that runs this worker (install it yourself; the token stays in the config file)')
    .option('--id <id>', 'worker id (from cla-worker.yml when it has one registration)')
    .option('-c, --config <file>', 'config file holding the registration (saved by `cla-worker register --save`)')
    .option('--user <user>', 'user the service runs as (default: the current user)')
    .action((flags: { id?: string; config?: string; user?: string }) =>
      guard(() => {
        const options = helpers.loadOptions({ id: flags.id, config: flags.config });
        if (!options.config) {
          throw new ClaError(ErrorCode.ConfigMissing, `The service reads the token from a config file and none was found (looked for ${options.configSearched.join(', ')}): save the registration with \`cla-worker register --save --passkey KEY\` or pass --config FILE`);
        }
        if (!options.id) throw new ClaError(ErrorCode.ConfigMissing, `No worker id: pass --id ID (config file: ${options.config})`);
        // The token must come from the file: one from CLA_WORKER_TOKEN would be missing under systemd.
        if (!loadConfigFile(options.config).registrations.some((r) => r.id === options.id)) {
          throw new ClaError(ErrorCode.ConfigMissing, `${options.config} has no registration \`${options.id}\`: save it with \`cla-worker register --id ${options.id} --save ${options.config} --passkey KEY\``);
        }
        line(
          renderSystemdUnit({
            id: options.id,
            user: flags.user ?? os.userInfo().username,
            node: process.execPath,
            script,
            config: options.config,
            workingDirectory: path.dirname(options.config),
          }),
        );
      }),
    );
}

/** The default paths, with `pidfile:`/`logfile:` from the config file relative to the file. */
function resolvePaths(options: WorkerOptions, flags: Record<string, unknown>): DaemonPaths {
  const fromFile = (key: 'pidfile' | 'logfile') => flags[key] === undefined && !process.env[envVarName(key)];
  return daemonPaths({
    id: options.id,
    pidfile: options.pidfile,
    logfile: options.logfile,
    fromConfigFile: { pidfile: fromFile('pidfile'), logfile: fromFile('logfile') },
    config: options.config,
    configSource: options.configSource,
    cwd: process.cwd(),
  });
}

/** Options and paths for `status`/`stop`: an id is only needed when no pidfile is given. */
function locate(helpers: DaemonCommandHelpers, flags: Record<string, unknown>): { options: WorkerOptions; paths: DaemonPaths } {
  const options = helpers.loadOptions(flags, flags.pidfile === undefined);
  return { options, paths: resolvePaths(options, flags) };
}

/** Reports a stale pidfile and deletes it. */
function cleanStale(state: Extract<PidfileState, { state: 'stale' }>, pidfile: string): void {
  if (state.reason === 'invalid') warn(`stale pidfile ${pidfile}: it holds no pid`);
  else if (state.reason === 'gone') warn(`stale pidfile ${pidfile}: pid=${state.pid} is not running`);
  else warn(`stale pidfile ${pidfile}: pid=${state.pid} is now another program (${state.command || 'unknown'}), not cla-worker; left alone`);
  if (removePidfile(pidfile, state.pid)) info(`deleted '${pidfile}'`);
}

function parseSeconds(value: unknown, label: string): number {
  const seconds = typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(seconds)) throw new InvalidArgumentError(`Expected \`${label}\` to be a number of seconds (0 or more), got ${describeValue(value)}`);
  return Math.round(seconds * 1000);
}
