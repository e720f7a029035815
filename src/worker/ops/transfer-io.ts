/**
 * What both ends of a file transfer share (the worker's `ship`/`fetch` operations and the hub-side
 * library in src/hub/transfer.ts): sizes, temp-file naming, the mapping of fs errors to wire codes, opening
 * a source file, a streaming sha256, a stop signal and an idle watchdog. Only node, errors and the clock
 * interface are imported, so the hub side can use it without pulling in worker state.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../../clock.ts';
import { ClaError, ErrorCode } from '../../errors.ts';

/**
 * Largest `data` in one transfer `chunk` frame: under the 1 MiB frame limit with 32 KiB left for the other
 * fields. Fewer, larger frames cost less per byte than 256 KiB ones (issue 13: one decode, one hash call,
 * one write per frame).
 */
export const TRANSFER_CHUNK_BYTES = 992 * 1024;
/** Credit a receiver keeps outstanding at most (granted but not yet on its disk). */
export const TRANSFER_WINDOW_BYTES = 8 * 1024 * 1024;
/** A transfer that makes no progress for this long fails with TIMEOUT. */
export const TRANSFER_IDLE_MS = 120_000;

/** The temp file written beside `target` until the transfer is verified: `.<name>.cla-tmp-<12 hex>`. */
export function tempPathFor(target: string, random: () => string = () => randomBytes(6).toString('hex')): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.cla-tmp-${random()}`);
}

/** True for names made by {@link tempPathFor} (tests and cleanup tools look for leftovers with it). */
export function isTempName(name: string): boolean {
  return /^\..+\.cla-tmp-[0-9a-f]+$/.test(name);
}

/** A thrown value as a {@link ClaError}: fs errors become IO_ERROR (FILE_NOT_FOUND for ENOENT when reading). */
export function asTransferError(error: unknown, what: string, filePath: string): ClaError {
  if (error instanceof ClaError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = error instanceof Error ? error.message : String(error);
  if (code === 'ENOENT') return new ClaError(ErrorCode.FileNotFound, `${filePath} does not exist`, { cause: error, data: { path: filePath } });
  return new ClaError(ErrorCode.IoError, `Cannot ${what} ${filePath}: ${reason}`, { cause: error, data: { path: filePath, ...(code ? { errno: code } : {}) } });
}

/** A regular file opened for reading, with its size and permission bits. */
export interface SourceFile {
  fh: FileHandle;
  size: number;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
}

/**
 * Opens a regular file for reading. Missing: FILE_NOT_FOUND; a folder or a special file (FIFO, device,
 * socket) is refused with IO_ERROR before it is opened, because reading one could block or never end.
 */
export async function openSourceFile(filePath: string): Promise<SourceFile> {
  let stat;
  try {
    stat = await fs.stat(filePath);
  } catch (error) {
    throw asTransferError(error, 'read', filePath);
  }
  if (stat.isDirectory()) {
    throw new ClaError(ErrorCode.IoError, `${filePath} is a directory; a transfer sends one regular file`, { data: { path: filePath, kind: 'directory' } });
  }
  if (!stat.isFile()) throw new ClaError(ErrorCode.IoError, `${filePath} is not a regular file`, { data: { path: filePath, kind: 'special' } });
  let fh: FileHandle;
  try {
    fh = await fs.open(filePath, 'r');
  } catch (error) {
    throw asTransferError(error, 'open', filePath);
  }
  // Size and mode of the file actually opened, not of whatever the path pointed to a moment earlier.
  const opened = await fh.stat();
  return { fh, size: opened.size, mode: opened.mode & 0o7777 };
}

/**
 * The sha256 (hex) of the first `size` bytes of an open file, read as a stream: memory stays flat. An
 * aborted `signal` stops it with CANCELLED (hashing a large file takes seconds).
 */
export async function sha256OfHandle(fh: FileHandle, size: number, onBytes?: (read: number) => void, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  if (size > 0) {
    let read = 0;
    const stream = fh.createReadStream({ start: 0, end: size - 1, highWaterMark: 1024 * 1024, autoClose: false, emitClose: false });
    for await (const piece of stream) {
      if (signal?.aborted) {
        stream.destroy();
        throw new ClaError(ErrorCode.Cancelled, 'Cancelled while hashing the file');
      }
      hash.update(piece as Buffer);
      read += (piece as Buffer).length;
      onBytes?.(read);
    }
    if (read !== size) throw new ClaError(ErrorCode.IoError, `The file shrank while it was read (${read} of ${size} bytes)`, { data: { read, size } });
  }
  return hash.digest('hex');
}

/** A one-shot stop: the first `trigger` wins, `promise` rejects with it (handled: never unhandled). */
export interface StopSignal {
  readonly error: ClaError | undefined;
  readonly promise: Promise<never>;
  trigger(error: ClaError): void;
}

export function createStopSignal(): StopSignal {
  let reject!: (error: ClaError) => void;
  const promise = new Promise<never>((_resolve, rej) => (reject = rej));
  promise.catch(() => undefined);
  const signal = {
    error: undefined as ClaError | undefined,
    promise,
    trigger(error: ClaError) {
      if (signal.error) return;
      signal.error = error;
      reject(error);
    },
  };
  return signal;
}

/** Calls `onIdle` once when `touch()` was not called for `ms`; checks lazily, so touching is cheap. */
export function idleWatch(clock: Clock, ms: number, onIdle: () => void): { touch(): void; stop(): void } {
  let last = clock.now();
  let timer: unknown;
  let stopped = false;
  const check = () => {
    if (stopped) return;
    const quiet = clock.now() - last;
    if (quiet >= ms) {
      stopped = true;
      onIdle();
    } else timer = clock.setTimeout(check, ms - quiet);
  };
  if (ms > 0 && Number.isFinite(ms)) timer = clock.setTimeout(check, ms);
  return {
    touch: () => (last = clock.now()),
    stop: () => {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
    },
  };
}
