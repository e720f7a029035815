/**
 * The files beside a hub's data file that `cla-hub` commands on the same host read (never the data
 * file itself): `<data>.admin-token` and `<data>.hub.json`, the record of the running hub. No SQLite
 * here, so the client can import it.
 */
import fs from 'node:fs';
import path from 'node:path';

/** What `cla-hub start` records beside its data file while it runs. */
export interface HubRecord {
  hubId: string;
  /** The websocket URL for admin clients (a wildcard bind shown as 127.0.0.1). */
  url: string;
  adminUrl: string | null;
  pid: number;
  startedAt: number;
}

/** The record file beside a data file. */
export function hubRecordFile(dataFile: string): string {
  return `${dataFile}.hub.json`;
}

/** The admin token file beside a data file. */
export function adminTokenFile(dataFile: string): string {
  return `${dataFile}.admin-token`;
}

/** Writes a file 0600 through a temp file and a rename (nobody reads half of it). */
export function writePrivateFile(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, text, { mode: 0o600 });
  fs.renameSync(temp, file);
  fs.chmodSync(file, 0o600);
}
