/**
 * How `cla-hub` commands reach a running hub: one admin websocket connection (src/hub/admin-client.ts),
 * found and authenticated as src/client/hub-address.ts says (`--hub`, `--admin-token-file`, the TLS
 * flags, `CLA_HUB_URL` / `CLA_HUB_ADMIN_TOKEN`, `cla-hub login`'s client config, or the record of a hub
 * running on this host). No command but `start` opens the hub's data file.
 *
 * Exit codes: a usage problem (a bad flag, no hub or token found) exits 2; a hub that cannot be reached
 * or refuses exits 125, printed as `✖ message [CODE]`.
 */
import { Option, type Command } from 'commander';
import { currentCommand } from './hub-connection-flags.ts';

export { addConnectionOptions, trackCommand } from './hub-connection-flags.ts';
import { resolveHubAddress, type ConnectionFlags } from '../client/hub-address.ts';
import { ClaError, ErrorCode } from '../errors.ts';
import { AdminClient } from '../hub/admin-client.ts';
import { guard } from './say.ts';

/** `--data FILE`: the hub's SQLite file (on its host: where to find the running hub's record). */
export function adminDataOption(): Option {
  return new Option('--data <file>', "the hub's data file, to find the hub running on this host (env CLA_HUB_DATA)").default(undefined, './cla-hub.sqlite');
}

/** `--url URL`: the hub to talk to (an older name of the global `--hub`). */
export function adminUrlOption(): Option {
  return new Option('--url <url>', 'hub URL (same as --hub)').hideHelp();
}

/** The flags of a command merged with the global ones (`--url` is `--hub`). */
function flagsOf(opts: Record<string, unknown>, command?: Command): ConnectionFlags {
  const all = { ...(command?.optsWithGlobals() ?? {}), ...opts } as Record<string, unknown>;
  const text = (key: string) => (typeof all[key] === 'string' ? (all[key] as string) : undefined);
  // `task` commands call the hub's file `--hub-data`: their `--data` is a task payload.
  const dataKey = command?.options.some((option) => option.attributeName() === 'hubData') ? 'hubData' : 'data';
  return {
    hub: text('hub') ?? text('url'),
    data: text(dataKey),
    adminTokenFile: text('adminTokenFile'),
    caCert: text('caCert'),
    cert: text('cert'),
    certKey: text('certKey'),
    certKeyPass: text('certKeyPass'),
    verifyCerts: all.verifyCerts === false ? false : undefined,
  };
}

/** Connects and authenticates as an admin client. */
export async function connectAdmin(opts: Record<string, unknown>): Promise<AdminClient> {
  const address = resolveHubAddress(flagsOf(opts, currentCommand()));
  try {
    return await AdminClient.connect(address.url, address.token, address.tls, { expectHubId: address.expectHubId });
  } catch (error) {
    if (!(error instanceof ClaError) || error.code !== ErrorCode.ConnectionFailed) throw error;
    throw new ClaError(ErrorCode.ConnectionFailed, `${error.message}. Is the hub running? Start it with \`cla-hub start\` (the address came from ${address.source}), or pass --hub URL.`, {
      cause: error,
      retryable: error.retryable,
      data: error.data,
    });
  }
}

/**
 * {@link connectAdmin} for a command: a usage problem is thrown (exit 2 through guard()); an unreachable or
 * refusing hub is a hub error, printed as `✖ message [CODE]` with exit code 125 (like `docker run`), and
 * gives `undefined`. `onHubError` runs first (e.g. to print a `--json` result line).
 */
export async function connectAdminOrReport(opts: Record<string, unknown>, onHubError?: (error: ClaError) => void): Promise<AdminClient | undefined> {
  try {
    return await connectAdmin(opts);
  } catch (error) {
    if (!(error instanceof ClaError) || isUsageError(error)) throw error;
    onHubError?.(error);
    reportHubError(error);
    return undefined;
  }
}

/** Prints a hub error and sets exit code 125. */
export function reportHubError(error: ClaError): void {
  process.stderr.write(`✖ ${error.message} [${error.code}]\n`);
  process.exitCode = 125;
}

/**
 * Runs a command's work on one connection to the hub: usage errors exit 2, anything the hub refuses or
 * a lost connection exits 125. The connection is closed afterwards.
 */
export function withHub(opts: Record<string, unknown>, work: (client: AdminClient) => Promise<void>): Promise<void> {
  return guard(async () => {
    const client = await connectAdminOrReport(opts);
    if (!client) return;
    try {
      await work(client);
    } catch (error) {
      if (!(error instanceof ClaError) || isUsageError(error)) throw error;
      reportHubError(error);
    } finally {
      client.close();
    }
  });
}

/**
 * Whether an error is the user's to fix here (a bad flag, no hub address or admin token: exit 2 through
 * guard(); also bad params the hub refused with INVALID_ARGUMENT) rather than the hub's (unreachable,
 * refused the token, an unknown worker: exit 125).
 */
export function isUsageError(error: unknown): boolean {
  return error instanceof ClaError && (error.code === ErrorCode.InvalidArgument || error.code === ErrorCode.ConfigMissing);
}
