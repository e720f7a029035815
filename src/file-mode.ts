/**
 * Files that hold secrets (the hub's data file, its admin-token file, frame recordings) are created 0600,
 * but one that already exists keeps whatever mode it had. {@link tightenToOwnerOnly} closes that gap the way
 * ssh treats a readable key, except that it repairs instead of refusing: the process owns the file, so it
 * takes group and other bits away and says so (issue 11, case 14).
 */
import fs from 'node:fs';

/** What {@link tightenToOwnerOnly} did. */
export type TightenResult = 'ok' | 'tightened' | 'missing' | 'not-owner';

/**
 * Removes group and other permission bits from `file` (through `fd` when given, so the file that was opened
 * is the one changed). Calls `warn` with a sentence naming the file when it changed the mode, or when it
 * could not (the file belongs to another user).
 */
export function tightenToOwnerOnly(file: string, what: string, warn: (message: string) => void, fd?: number): TightenResult {
  let mode: number;
  try {
    mode = (fd === undefined ? fs.statSync(file) : fs.fstatSync(fd)).mode & 0o7777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  if ((mode & 0o077) === 0) return 'ok';
  const wanted = mode & 0o700;
  const shown = (m: number) => m.toString(8).padStart(4, '0');
  try {
    if (fd === undefined) fs.chmodSync(file, wanted);
    else fs.fchmodSync(fd, wanted);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EACCES') throw error;
    warn(`${what} ${file} has mode ${shown(mode)}, readable by other users, and belongs to another user: run \`chmod 600 ${file}\``);
    return 'not-owner';
  }
  warn(`${what} ${file} had mode ${shown(mode)}, readable by other users; changed it to ${shown(wanted)}`);
  return 'tightened';
}
