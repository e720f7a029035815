/** `cla-hub` commands for eval (placeholder: registers nothing yet). */
import type { Command } from 'commander';

/** Adds the eval commands to the hub CLI. */
export function registerEvalCommands(_program: Command): void {}
