/**
 * How `cla-hub` commands that talk to a running hub (exec, ship, fetch, eval, ...) find and authenticate
 * to it: `--url`, `CLA_HUB_URL`, or the URL the hub saved in its data file; the admin token from
 * `CLA_HUB_ADMIN_TOKEN` or the file beside the data file.
 */
import fs from 'node:fs';
import { Option } from 'commander';
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
  return AdminClient.connect(url, readAdminToken(dataFile));
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
