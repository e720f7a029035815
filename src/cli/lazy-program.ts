/**
 * Subcommands loaded on demand, so `cla-hub --help` and `cla-worker --version` load commander and this
 * file, not the hub, the store or the agent (issue 12: start in about `node -e ''` time). Each entry
 * names a command, its one-line description for the top-level help, and the module that registers it
 * (a module may register several commands; only the one asked for is loaded).
 */
import type { Command } from 'commander';

/** One top-level command. */
export interface LazyCommand {
  name: string;
  description: string;
  /** Resolves with the function that adds the command (with its options and action) to the program. */
  load: () => Promise<(program: Command) => void>;
}

/**
 * The command the arguments ask for: the first operand, or the one after `help`. `valued` names the
 * program's options that take a value (`--hub URL`): their value is not an operand.
 */
export function requestedCommand(args: readonly string[], valued: ReadonlySet<string> = new Set()): string | undefined {
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.startsWith('-')) {
      if (valued.has(arg)) i += 1;
      continue;
    }
    operands.push(arg);
  }
  return operands[0] === 'help' ? operands[1] : operands[0];
}

/**
 * Registers the requested command for real, or every command as a stub (name and description) when
 * none matches, so that help lists them all and an unknown name gets commander's error; then parses.
 */
export async function runLazyProgram(program: Command, commands: readonly LazyCommand[], argv: readonly string[]): Promise<void> {
  const valued = new Set(program.options.filter((option) => option.required || option.optional).flatMap((option) => [option.long, option.short].filter((flag): flag is string => flag !== undefined)));
  const name = requestedCommand(argv.slice(2), valued);
  const entry = commands.find((command) => command.name === name);
  if (entry) (await entry.load())(program);
  else for (const command of commands) program.command(command.name).description(command.description);
  await program.parseAsync(argv as string[]);
}
