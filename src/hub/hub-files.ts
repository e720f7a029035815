/**
 * Where the hub keeps its files: the SQLite data file (default `./cla-hub.sqlite`, `--data` moves it)
 * and, beside it, `<data>.admin-token` (0600) holding the admin token for local CLI commands. The hub
 * stores only the token's hash; the file is how `cla-hub exec` on the same machine authenticates.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ClaError, ErrorCode } from '../errors.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { systemClock } from '../clock.ts';
import { Registry } from './registry.ts';

/** Default data file name, in the current directory. */
export const DEFAULT_DATA_FILE = 'cla-hub.sqlite';

/** Default hub port. */
export const DEFAULT_PORT = 8733;

/** Resolves `--data` (or `CLA_HUB_DATA`) to an absolute path. */
export function resolveDataFile(data: string | undefined, cwd = process.cwd()): string {
  return path.resolve(cwd, data ?? process.env.CLA_HUB_DATA ?? DEFAULT_DATA_FILE);
}

/** The admin token file beside the data file. */
export function adminTokenFile(dataFile: string): string {
  return `${dataFile}.admin-token`;
}

/** Opens the store and registry on a data file. */
export function openRegistry(dataFile: string): { registry: Registry; close: () => void } {
  const store = openSqliteStore(dataFile);
  return { registry: new Registry(store, systemClock), close: () => store.close() };
}

/** Makes sure an admin token exists and its file is present; rotates it when the file was lost. */
export function ensureAdminTokenFile(registry: Registry, dataFile: string): string {
  const file = adminTokenFile(dataFile);
  const created = registry.ensureAdminToken().token;
  if (created === null && fs.existsSync(file)) {
    const token = fs.readFileSync(file, 'utf8').trim();
    if (registry.checkAdminToken(token)) return token;
  }
  const token = created ?? registry.rotateAdminToken();
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${token}\n`, { mode: 0o600 });
  fs.renameSync(temp, file);
  fs.chmodSync(file, 0o600);
  return token;
}

/** Reads the admin token for a CLI command: `CLA_HUB_ADMIN_TOKEN`, else the file beside the data file. */
export function readAdminToken(dataFile: string): string {
  const fromEnv = process.env.CLA_HUB_ADMIN_TOKEN;
  if (fromEnv) return fromEnv;
  const file = adminTokenFile(dataFile);
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    throw new ClaError(
      ErrorCode.ConfigMissing,
      `No admin token at ${file}. Start the hub once with \`cla-hub start --data ${dataFile}\`, pass --data pointing at the hub's data file, or set CLA_HUB_ADMIN_TOKEN.`,
    );
  }
}
