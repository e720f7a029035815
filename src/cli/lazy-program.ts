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

/** The command the arguments ask for: the first operand, or the one after `help`. */
export function requestedCommand(args: readonly string[]): string | undefined {
  const operands = args.filter((arg) => !arg.startsWith('-'));
  return operands[0] === 'help' ? operands[1] : operands[0];
}

/**
 * Registers the requested command for real, or every command as a stub (name and description) when
 * none matches, so that help lists them all and an unknown name gets commander's error; then parses.
 */
export async function runLazyProgram(program: Command, commands: readonly LazyCommand[], argv: readonly string[]): Promise<void> {
  const name = requestedCommand(argv.slice(2));
  const entry = commands.find((command) => command.name === name);
  if (entry) (await entry.load())(program);
  else for (const command of commands) program.command(command.name).description(command.description);
  await program.parseAsync(argv as string[]);
}
