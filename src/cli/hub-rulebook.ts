/**
 * `cla-hub rulebook run FILE`: argv -> options -> src/rulebook. Runs a YAML rulebook's steps on workers
 * through the hub, printing each step, its output prefixed `[step@worker]` (remote stderr on stderr), and
 * on failure a report naming the step, the worker, the exit code or error and the last output lines.
 *
 * Exit codes: 0 every step succeeded (or failed with `ignore_errors`); 1 a step failed; 2 the rulebook or
 * the command line is invalid (nothing ran); 125 the hub could not be reached or the connection was lost;
 * 130 cancelled with Ctrl-C.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.ts';
import {
  checkReferences,
  formatFailure,
  formatLine,
  formatPlan,
  formatSkip,
  formatStepEnd,
  formatStepStart,
  formatSummary,
  initialScope,
  loadRulebook,
  RulebookError,
  runRulebook,
  STEPS_VAR,
  VAR_NAME_RE,
  type Rulebook,
  type RulebookEvent,
} from '../rulebook/index.ts';
import { adminDataOption, adminUrlOption, connectAdminOrReport } from './hub-connect.ts';
import { parsePositiveSeconds } from './parse.ts';
import { guard, line, warn } from './say.ts';
import { cancelOnCtrlC } from './ctrl-c.ts';

type Opts = { var?: string[]; dryRun?: boolean; wait: string; url?: string; data?: string };

/** Adds `rulebook run` to the hub CLI. */
export function registerRulebookCommands(program: Command): void {
  const rulebook = program.command('rulebook').description('run YAML rulebooks of shell, ship, fetch and eval steps on workers');
  rulebook
    .command('run')
    .description('run a rulebook: cla-hub rulebook run [--var key=value ...] [--dry-run] FILE.yml')
    .argument('<file>', 'the rulebook (YAML)')
    .option('--var <key=value>', "set a variable, over the rulebook's `vars:` (repeatable; values are text)", collect)
    .option('--dry-run', 'check the rulebook and print the plan with the variables known before the run; run nothing')
    .option('--wait <seconds>', 'how long each step waits for a busy worker', '60')
    .addOption(adminUrlOption())
    .addOption(adminDataOption())
    .action((file: string, opts: Opts) => guard(() => runCommand(file, opts)));
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `--var key=value` flags -> variables (the last of one key wins). */
export function parseVarFlags(flags: string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const key = eq < 0 ? flag : flag.slice(0, eq);
    if (eq < 0 || !VAR_NAME_RE.test(key) || key === STEPS_VAR) {
      throw new InvalidArgumentError(
        `Expected \`--var\` to be key=value with a variable name of letters, digits and \`_\`${key === STEPS_VAR ? ` (not \`${STEPS_VAR}\`)` : ''}, got \`${flag}\``,
      );
    }
    Object.defineProperty(vars, key, { value: flag.slice(eq + 1), enumerable: true, writable: true, configurable: true });
  }
  return vars;
}

async function runCommand(file: string, opts: Opts): Promise<void> {
  const overrides = parseVarFlags(opts.var ?? []);
  const waitMs = Math.round(parsePositiveSeconds('--wait', opts.wait, true) * 1000);
  let rulebook: Rulebook;
  try {
    rulebook = loadRulebook(file);
    checkReferences(rulebook, initialScope(rulebook, overrides));
  } catch (error) {
    if (!(error instanceof RulebookError)) throw error;
    for (const problem of error.problems) process.stderr.write(`✖ ${problem.message}\n`);
    process.stderr.write(`✖ ${file} is not a valid rulebook (${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}); nothing ran [${error.code}]\n`);
    process.exitCode = 2;
    return;
  }
  if (opts.dryRun) {
    for (const text of formatPlan(rulebook, overrides)) line(text);
    return;
  }

  const client = await connectAdminOrReport({ data: opts.data, url: opts.url });
  if (!client) return;
  const ctrlC = cancelOnCtrlC(() => warn('cancelling the running step (Ctrl-C again to quit without waiting)'));
  try {
    const outcome = await runRulebook(rulebook, { runner: client, overrides, waitMs, signal: ctrlC.signal, onEvent: printEvent });
    if (outcome.ok) {
      line(formatSummary(rulebook, outcome));
      return;
    }
    const failure = outcome.failure!;
    for (const text of formatFailure(rulebook, failure)) process.stderr.write(`${text}\n`);
    process.exitCode = ctrlC.interrupted() ? 130 : failure.hubError ? 125 : 1;
  } finally {
    ctrlC.dispose();
    client.close();
  }
}

function printEvent(event: RulebookEvent): void {
  switch (event.type) {
    case 'step-start':
      line(formatStepStart(event.resolved, event.target));
      break;
    case 'line':
      (event.stream === 'stderr' ? process.stderr : process.stdout).write(`${formatLine(event.step, event.worker, event.text)}\n`);
      break;
    case 'step-skip':
      line(formatSkip(event.step, event.reason));
      break;
    case 'step-end':
      // A failure that stops the run is told by the report instead.
      if (event.result.status === 'ok' || event.result.ignored) line(formatStepEnd(event.step, event.result));
      break;
    case 'dispatched':
      break;
  }
}
