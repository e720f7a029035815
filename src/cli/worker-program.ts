/**
 * The `cla-worker` program: its top-level commands as a table of lazily loaded modules
 * (lazy-program.ts). src/cli/worker.ts and the single-file build (worker-sea.ts) run it.
 */
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { runLazyProgram, type LazyCommand } from './lazy-program.ts';
import { exitForUsage } from './say.ts';

const load = async () => (await import('./worker-commands.ts')).registerWorkerCommands;

/** Every top-level command, in help order; test/unit/cli-lazy.test.ts checks names and descriptions. */
export const WORKER_COMMANDS: readonly LazyCommand[] = [
  { name: 'register', description: 'register this worker with a project passkey and print its id and token', load },
  { name: 'unregister', description: 'remove this worker from the hub (or from one project with --project)', load },
  { name: 'run', description: 'connect to the hub and run jobs in the foreground', load },
  { name: 'start', description: 'run the worker in the background (takes every `run` option), with a pidfile and a logfile', load },
  { name: 'status', description: 'tell whether the background worker runs (exit 0: running, 1: dead with a stale pidfile, 3: not running)', load },
  { name: 'stop', description: 'stop the background worker: SIGTERM (running jobs may finish), SIGKILL after --timeout', load },
  { name: 'service', description: 'print a systemd unit that runs this worker (install it yourself; the token stays in the config file)', load },
];

/** The program without its commands. */
export function workerProgram(): Command {
  return new Command('cla-worker')
    .description('A pull agent: dials out to a cla-hub and runs the commands it sends.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride(exitForUsage);
}

/** Parses `argv` and runs the command. */
export function runWorkerCli(argv: readonly string[]): Promise<void> {
  return runLazyProgram(workerProgram(), WORKER_COMMANDS, argv);
}
