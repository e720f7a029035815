/**
 * Where the hub keeps its files: the SQLite data file (default `./cla-hub.sqlite`, `--data` moves it;
 * only `cla-hub start` opens it) and, beside it, `<data>.admin-token` (0600) holding the admin token, and
 * `<data>.hub.json` (0600), the record of the running hub (its id and real URLs) through which `cla-hub`
 * commands on the same host find it (src/client/hub-address.ts). The hub stores only the token's hash.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.ts';
import { openSqliteStore, type SqliteStore } from '../store/sqlite-store.ts';
import { systemClock } from '../clock.ts';
import { Registry } from './registry.ts';
import { adminTokenFile, hubRecordFile, writePrivateFile, type HubRecord } from './hub-record.ts';

export { adminTokenFile } from './hub-record.ts';

/** Default data file name, in the current directory. */
export const DEFAULT_DATA_FILE = 'cla-hub.sqlite';

/** Default hub port. */
export const DEFAULT_PORT = 8733;

/** Resolves `--data` (or `CLA_HUB_DATA`) to an absolute path. */
export function resolveDataFile(data: string | undefined, cwd = process.cwd()): string {
  return path.resolve(cwd, data ?? process.env.CLA_HUB_DATA ?? DEFAULT_DATA_FILE);
}

/**
 * Opens the store and registry on a data file (an upgrade of an older file's schema is told to `log`);
 * `close` writes what is queued, then closes the file. The hub puts its other SQLite stores on `store`'s
 * connection and group commit, and so calls `close` after theirs.
 */
export function openRegistry(dataFile: string, log?: Pick<Logger, 'info'>): { registry: Registry; store: SqliteStore; close: () => Promise<void> } {
  const store = openSqliteStore(dataFile, { log });
  return { registry: new Registry(store, systemClock), store, close: () => store.close() };
}

/** Makes sure an admin token exists and its file is present; rotates it when the file was lost. */
export async function ensureAdminTokenFile(registry: Registry, dataFile: string): Promise<string> {
  const file = adminTokenFile(dataFile);
  const created = (await registry.ensureAdminToken()).token;
  if (created === null && fs.existsSync(file)) {
    const token = fs.readFileSync(file, 'utf8').trim();
    if (await registry.checkAdminToken(token)) return token;
  }
  const token = created ?? (await registry.rotateAdminToken());
  writePrivateFile(file, `${token}\n`);
  return token;
}

/** Records the running hub beside its data file (its id and real URLs); returns the file. */
export function writeHubRecord(dataFile: string, record: HubRecord): string {
  const file = hubRecordFile(dataFile);
  writePrivateFile(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}

/** Removes the record when the hub stops (only if it is still this process's). */
export function removeHubRecord(dataFile: string, hubId: string, pid = process.pid): void {
  const file = hubRecordFile(dataFile);
  try {
    const record = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<HubRecord>;
    if (record.hubId === hubId && record.pid === pid) fs.unlinkSync(file);
  } catch {
    // already gone, or never written
  }
}
