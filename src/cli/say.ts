/**
 * The CLI's human output, in the seed's style (`ℹ registration token: ...`, `✔ worker is running`).
 * Informational lines go to stdout; errors to stderr, with the error code so scripts can branch on it.
 */
import type { CommanderError } from 'commander';
import { ClaError } from '../errors.ts';

/** An informational line. */
export function info(message: string): void {
  process.stdout.write(`ℹ ${message}\n`);
}

/** A success line. */
export function success(message: string): void {
  process.stdout.write(`✔ ${message}\n`);
}

/** A warning line (stderr). */
export function warn(message: string): void {
  process.stderr.write(`⚠ ${message}\n`);
}

/** A plain line (commands to copy, tables). */
export function line(message: string): void {
  process.stdout.write(`${message}\n`);
}

/** Prints an error as `✖ message [CODE]` on stderr. */
export function fail(error: unknown): void {
  if (error instanceof ClaError) process.stderr.write(`✖ ${error.message} [${error.code}]\n`);
  else if (error instanceof Error) process.stderr.write(`✖ ${error.message}\n`);
  else process.stderr.write(`✖ ${String(error)}\n`);
}

/** Runs a CLI action, printing any error and setting the exit code (2 for bad usage, 1 otherwise). */
export async function guard(action: () => Promise<void> | void): Promise<void> {
  try {
    await action();
  } catch (error) {
    fail(error);
    process.exitCode = error instanceof ClaError && (error.code === 'INVALID_ARGUMENT' || error.code === 'CONFIG_MISSING') ? 2 : 1;
  }
}

/**
 * For `Command.exitOverride()`: commander's own usage errors (missing argument, unknown option, a command
 * group without its subcommand) exit 2 like every other usage error; `--help` still exits 0.
 */
export function exitForUsage(error: CommanderError): never {
  process.exit(error.exitCode === 0 ? 0 : 2);
}
