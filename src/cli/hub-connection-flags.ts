/**
 * The connection flags of `cla-hub` (`--hub`, `--admin-token-file`, TLS) on the program, and the command
 * being run, so hub-connect.ts sees them. Kept apart from hub-connect.ts: the program loads this for
 * every command (help included) without loading the admin client.
 */
import type { Command } from 'commander';

/** The connection flags every command accepts, before or after the command name. */
export function addConnectionOptions(program: Command): Command {
  return program
    .option('--hub <url>', "the hub's URL, ws:// or wss:// (env CLA_HUB_URL; default: `cla-hub login`'s config, or the hub running on this host)")
    .option('--admin-token-file <file>', 'file holding the admin token (env CLA_HUB_ADMIN_TOKEN holds the token itself)')
    .option('--ca-cert <file>', 'CA certificate to trust for wss://')
    .option('--cert <file>', 'client certificate (for a hub started with --client-ca)')
    .option('--cert-key <file>', 'key of the client certificate')
    .option('--cert-key-pass <pass>', 'passphrase of the client key')
    .option('--no-verify-certs', "do not verify the hub's TLS certificate");
}

let running: Command | undefined;

/** Remembers the command being run, so helpers see the global flags (`cla-hub --hub URL workers list`). */
export function trackCommand(program: Command): void {
  program.hook('preAction', (_program, actionCommand) => {
    running = actionCommand;
  });
}

/** The command being run, once commander chose it. */
export function currentCommand(): Command | undefined {
  return running;
}
