/**
 * The `cla-hub` program: its top-level commands as a table of lazily loaded modules (lazy-program.ts).
 * src/cli/hub.ts runs it; tests read the table.
 */
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import type { LazyCommand } from './lazy-program.ts';
import { addConnectionOptions, trackCommand } from './hub-connection-flags.ts';
import { exitForUsage } from './say.ts';

/**
 * Every top-level command, in help order. A description may be the start of the command's own (help
 * stays one line); test/unit/cli-lazy.test.ts checks names and descriptions.
 */
export const HUB_COMMANDS: readonly LazyCommand[] = [
  { name: 'start', description: 'start the hub in the foreground', load: async () => (await import('./hub-start.ts')).registerStartCommand },
  { name: 'project', description: 'manage projects and their passkeys', load: async () => (await import('./hub-projects.ts')).registerProjectCommands },
  { name: 'env', description: 'manage environments (names are case-sensitive)', load: async () => (await import('./hub-projects.ts')).registerEnvCommands },
  { name: 'exec', description: 'run a command on a worker and stream its output: cla-hub exec [options] -- CMD [ARGS...]', load: async () => (await import('./hub-exec.ts')).registerExecCommand },
  { name: 'replay', description: 'print a recording made with --record as a readable conversation', load: async () => (await import('./hub-exec.ts')).registerReplayCommand },
  { name: 'ship', description: 'send a local file to a worker: cla-hub ship [options] LOCAL REMOTE', load: async () => (await import('./hub-transfer.ts')).registerTransferCommands },
  { name: 'fetch', description: 'receive a file from a worker: cla-hub fetch [options] REMOTE LOCAL', load: async () => (await import('./hub-transfer.ts')).registerTransferCommands },
  { name: 'rulebook', description: 'run YAML rulebooks of shell, ship, fetch and eval steps on workers', load: async () => (await import('./hub-rulebook.ts')).registerRulebookCommands },
  { name: 'workflow', description: 'workflow runs: list, show, run, trigger events, abort', load: async () => (await import('./hub-workflows.ts')).registerWorkflowCommands },
  { name: 'search', description: 'search the latest graphs', load: async () => (await import('./hub-resources.ts')).registerResourceCommands },
  { name: 'resources', description: 'collected resources: search them, change their tags', load: async () => (await import('./hub-resources.ts')).registerResourceCommands },
  { name: 'subscribers', description: 'connected workers and what they subscribed to: actions (collect, plan_cleanup, cleanup, ...) and task handlers (tag, ...)', load: async () => (await import('./hub-subscribers.ts')).registerSubscriberCommands },
  { name: 'task', description: 'submit tasks to the workers that handle them, and follow them', load: async () => (await import('./hub-tasks.ts')).registerTaskCommands },
  { name: 'workers', description: 'manage workers through the running hub (list, disable, enable, shutdown, unregister, jobs)', load: async () => (await import('./hub-workers.ts')).registerWorkersCommands },
  { name: 'eval', description: "run JavaScript on a worker and print what it returns: cla-hub eval [options] 'return os.hostname()'", load: async () => (await import('./hub-eval.ts')).registerEvalCommands },
  { name: 'login', description: 'check --hub URL and the admin token, and save them (and the TLS flags) for later commands: cla-hub --hub wss://hub:8733 --admin-token-file F login', load: async () => (await import('./hub-login.ts')).registerLoginCommand },
  { name: 'logout', description: 'remove the client config written by `cla-hub login`', load: async () => (await import('./hub-login.ts')).registerLoginCommand },
  { name: 'probe', description: 'ask a worker a yes/no question; prints true or false and exits 0 or 1: cla-hub probe file_exists PATH | capable TAG,TAG', load: async () => (await import('./hub-eval.ts')).registerEvalCommands },
];

/** The program without its commands. */
export function hubProgram(): Command {
  const program = addConnectionOptions(
    new Command('cla-hub')
      .description('The cla-worker hub: workers dial in over a websocket and run what it asks.')
      .version(VERSION)
      .showHelpAfterError('(run with --help for usage)')
      .exitOverride(exitForUsage),
  );
  trackCommand(program);
  return program;
}
