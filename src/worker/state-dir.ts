/**
 * The worker's state folder (`--state-dir`, env `CLA_WORKER_STATE_DIR`, config `state_dir`; default
 * `$XDG_STATE_HOME/cla-worker/<id>`, else `~/.local/state/cla-worker/<id>`), mode 0700. It holds what a
 * worker killed with SIGKILL leaves for its next start to clean up (leftovers.ts): the process groups of
 * running jobs and the temp files of running transfers. One folder per worker id, owned by one live
 * process at a time (`owner.json`), so a second worker with the same id never sweeps the first one's jobs.
 */
import fs from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { processIdentity, type ProcessIdentity, sameProcess } from './process-identity.ts';

/** The state folder of worker `id`, from the option or the default. Not created. */
export function stateDirFor(id: string, option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (option !== undefined) return path.resolve(option);
  const base = env.XDG_STATE_HOME || path.join(env.HOME || os.homedir() || os.tmpdir(), '.local', 'state');
  // The id is checked by the hub ([A-Za-z0-9_.-]); anything else is replaced so it stays one path segment.
  return path.join(base, 'cla-worker', id.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+$/, '_'));
}

/** What {@link claimStateDir} found. */
export interface StateDirClaim {
  dir: string;
  /** Another live process owns the folder: do not sweep, and do not record there. */
  ownedBy: ProcessIdentity | undefined;
}

/** Creates `dir` (0700) and makes this process its owner, unless a live process already is. */
export function claimStateDir(dir: string): StateDirClaim {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ownerFile = path.join(dir, 'owner.json');
  let previous: ProcessIdentity | undefined;
  try {
    previous = JSON.parse(fs.readFileSync(ownerFile, 'utf8')) as ProcessIdentity;
  } catch {
    previous = undefined;
  }
  if (previous !== undefined && previous.pid !== process.pid && sameProcess(previous)) return { dir, ownedBy: previous };
  writeJsonFile(ownerFile, processIdentity(process.pid));
  return { dir, ownedBy: undefined };
}

/** Writes `value` as JSON through a temp file and a rename, mode 0600. */
export function writeJsonFile(file: string, value: unknown): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(value)}\n`, { mode: 0o600 });
  fs.renameSync(temp, file);
}

/** {@link writeJsonFile} off the event loop (the thread pool does the writes). */
export async function writeJsonFileInBackground(file: string, value: unknown): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(value)}\n`, { mode: 0o600 });
  await rename(temp, file);
}
