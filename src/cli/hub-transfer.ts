/** `cla-hub` commands for transfer (placeholder: registers nothing yet). */
import type { Command } from 'commander';

/** Adds the transfer commands to the hub CLI. */
export function registerTransferCommands(_program: Command): void {}
