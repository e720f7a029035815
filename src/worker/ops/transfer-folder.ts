/**
 * A folder held open by descriptor, so that a transfer's mkdir, open, rename and unlink all happen in the
 * folder that was checked, even while someone swaps a path component for a symlink (issue 11, case 5).
 *
 * Node has no `openat`/`mkdirat`; on Linux the same effect comes from `/proc/self/fd/N/NAME`: the kernel
 * follows the magic link `/proc/self/fd/N` to the very folder the descriptor holds, whatever its path is
 * now, and only `NAME` is looked up from there. The folder is reached one component at a time from the
 * root (mkdir, then open with O_DIRECTORY), and each opened folder's real path is read back from its
 * descriptor (`readlink /proc/self/fd/N`) and checked against the roots before anything is created in it.
 * A symlink inside a root that leads to another place inside a root still works; one that leads outside
 * is refused with PATH_NOT_ALLOWED, checked on what was actually opened, not on a path checked earlier.
 *
 * Without /proc (not Linux), names are joined to the folder's path as before: the check-then-use race
 * remains there, and the roots are checked on the real path of the opened folder only.
 */
import fs, { constants } from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ClaError, ErrorCode } from '../../errors.ts';

const PROC_FD = '/proc/self/fd';
/**
 * Linux's O_PATH (not in `fs.constants`): a descriptor good for lookups below it, needing only search (x)
 * permission on the folder, like a path walk. Folders on the way are opened with it; the last one with
 * O_RDONLY when allowed, so it can be fsynced after the rename.
 */
const O_PATH = 0o10000000;
let procFd: boolean | undefined;

function haveProcFd(): boolean {
  procFd ??= process.platform === 'linux' && fs.existsSync(`${PROC_FD}/0`);
  return procFd;
}

/** Options of {@link OpenFolder.open}. */
export interface OpenFolderOptions {
  /** Create missing folders on the way. @default false */
  create?: boolean;
  /** The folder must lie inside one of these real paths; null: anywhere. @default null */
  roots?: readonly string[] | null;
}

/** True when `real` is `root` or lies under it. */
export function isInside(real: string, roots: readonly string[]): boolean {
  return roots.some((root) => real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep));
}

/** See the module comment. Close it when done. */
export class OpenFolder {
  private closed = false;

  private constructor(
    private fh: FileHandle | undefined,
    /** The folder's real path when it was opened (for messages and logs). */
    readonly realPath: string,
  ) {}

  /**
   * Opens `folder` (absolute) component by component from its root, creating missing ones when asked.
   * Throws PATH_NOT_ALLOWED when a component that was opened lies outside the roots.
   */
  static async open(folder: string, options: OpenFolderOptions = {}): Promise<OpenFolder> {
    const roots = options.roots ?? null;
    const absolute = path.resolve(folder);
    // Start at the root that holds the folder (the roots are real paths, fixed by the operator), else at /.
    const start = roots?.filter((root) => isInside(absolute, [root])).sort((a, b) => b.length - a.length)[0] ?? path.parse(absolute).root;
    const rest = path.relative(start, absolute).split(path.sep).filter((part) => part !== '' && part !== '.');
    if (rest.includes('..')) throw outside(absolute, roots);
    if (!haveProcFd()) {
      if (options.create) await fsp.mkdir(absolute, { recursive: true });
      const real = await fsp.realpath(absolute);
      if (roots && !isInside(real, roots)) throw outside(real, roots);
      return new OpenFolder(undefined, real);
    }
    let current = await OpenFolder.openChecked(start, roots, rest.length === 0);
    try {
      for (const [index, part] of rest.entries()) {
        const next = current.entry(part);
        if (options.create) {
          // mkdir never follows a symlink in its last component (EEXIST): the open below does, and checks.
          await fsp.mkdir(next, 0o755).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== 'EEXIST') throw error;
          });
        }
        const opened = await OpenFolder.openChecked(next, roots, index === rest.length - 1);
        await current.close();
        current = opened;
      }
      return current;
    } catch (error) {
      await current.close();
      throw error;
    }
  }

  private static async openChecked(where: string, roots: readonly string[] | null, last: boolean): Promise<OpenFolder> {
    const pathOnly = () => fsp.open(where, O_PATH | constants.O_DIRECTORY);
    const fh = last
      ? await fsp.open(where, constants.O_RDONLY | constants.O_DIRECTORY).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'EACCES') return pathOnly();
          throw error;
        })
      : await pathOnly();
    try {
      const real = await fsp.readlink(`${PROC_FD}/${fh.fd}`);
      if (roots && !isInside(real, roots)) throw outside(real, roots);
      return new OpenFolder(fh, real);
    } catch (error) {
      // The error being thrown is the one that matters; a failed close of a read-only folder handle loses nothing.
      await fh.close().catch(() => undefined);
      throw error;
    }
  }

  /** A path that names `name` inside this very folder (through its descriptor on Linux). */
  entry(name: string): string {
    if (this.closed) throw new ClaError(ErrorCode.Internal, `Folder ${this.realPath} is closed`);
    if (name.includes('/') || name === '..' || name === '.' || name === '') throw new ClaError(ErrorCode.Internal, `Not a plain file name: ${name}`);
    return this.fh ? `${PROC_FD}/${this.fh.fd}/${name}` : path.join(this.realPath, name);
  }

  /** Creates `name` with O_EXCL (never through a symlink) for writing. */
  createExclusive(name: string, mode: number): Promise<FileHandle> {
    return fsp.open(this.entry(name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  }

  /**
   * fsyncs the folder so a rename in it survives a crash. The held descriptor is O_PATH, which cannot be
   * fsynced (EBADF), so the same folder is reopened read-only through it (never through the path, which may
   * have been swapped). Best effort: some filesystems refuse a folder fsync, and the file's own bytes were
   * already fsynced before the rename, so a failure here can only cost the rename's durability, not data.
   */
  async sync(): Promise<void> {
    let fh: FileHandle | undefined;
    try {
      fh = await fsp.open(this.fh ? `${PROC_FD}/${this.fh.fd}` : this.realPath, 'r');
      await fh.sync();
    } catch {
      // Best effort, as said above: the data is already on disk; only the rename's durability is at stake.
    } finally {
      await fh?.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const fh = this.fh;
    this.fh = undefined;
    // A read-only folder handle: a failed close loses nothing.
    await fh?.close().catch(() => undefined);
  }
}

function outside(real: string, roots: readonly string[] | null): ClaError {
  return new ClaError(ErrorCode.PathNotAllowed, `Path ${real} is outside the allowed roots (${(roots ?? []).join(', ')}). Use a path under a root or start the worker with another --root.`, {
    data: { path: real, roots: [...(roots ?? [])] },
  });
}
