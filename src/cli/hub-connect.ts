/**
 * How `cla-hub` commands that talk to a running hub (exec, ship, fetch, eval, ...) find and authenticate
 * to it: `--url`, `CLA_HUB_URL`, or the URL the hub saved in its data file; the admin token from
 * `CLA_HUB_ADMIN_TOKEN` or the file beside the data file.
 */
import fs from 'node:fs';
import { Option } from 'commander';
import { ClaError, ErrorCode } from '../errors.ts';
import { AdminClient } from '../hub/admin-client.ts';
import { DEFAULT_PORT, openRegistry, readAdminToken, resolveDataFile } from '../hub/hub-files.ts';

/** `--data FILE`: the hub's SQLite file. */
export function adminDataOption(): Option {
  return new Option('--data <file>', 'SQLite data file (env CLA_HUB_DATA)').default(undefined, './cla-hub.sqlite');
}

/** `--url URL`: the hub to talk to. */
export function adminUrlOption(): Option {
  return new Option('--url <url>', 'hub URL (env CLA_HUB_URL; default: the URL the hub saved in its data file)');
}

/** Connects and authenticates as an admin client. */
export async function connectAdmin(opts: { data?: string; url?: string }): Promise<AdminClient> {
  const dataFile = resolveDataFile(opts.data);
  const url = opts.url ?? process.env.CLA_HUB_URL ?? hubUrlFromData(dataFile);
  const token = readAdminToken(dataFile);
  try {
    return await AdminClient.connect(url, token);
  } catch (error) {
    if (!(error instanceof ClaError) || error.code !== ErrorCode.ConnectionFailed) throw error;
    // Say what to do: the URL usually comes from the data file, so a stopped hub is the common cause.
    throw new ClaError(ErrorCode.ConnectionFailed, `${error.message}. Is the hub running? Start it with \`cla-hub start --data ${dataFile}\`, or pass --url if it listens elsewhere.`, {
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
export async function connectAdminOrReport(
  opts: { data?: string; url?: string },
  onHubError?: (error: ClaError) => void,
): Promise<AdminClient | undefined> {
  try {
    return await connectAdmin(opts);
  } catch (error) {
    if (!(error instanceof ClaError) || isUsageError(error)) throw error;
    onHubError?.(error);
    process.stderr.write(`✖ ${error.message} [${error.code}]\n`);
    process.exitCode = 125;
    return undefined;
  }
}

/**
 * Whether an error from {@link connectAdmin} is the user's to fix here (a bad flag, no data file or admin
 * token: exit 2 through guard()) rather than the hub's (unreachable, refused the token: exit 125).
 */
export function isUsageError(error: unknown): boolean {
  return error instanceof ClaError && (error.code === ErrorCode.InvalidArgument || error.code === ErrorCode.ConfigMissing);
}

function hubUrlFromData(dataFile: string): string {
  if (!fs.existsSync(dataFile)) return `ws://127.0.0.1:${DEFAULT_PORT}`;
  const { registry, close } = openRegistry(dataFile);
  try {
    return registry.getSetting('hub.url') ?? `ws://127.0.0.1:${DEFAULT_PORT}`;
  } finally {
    close();
  }
}
