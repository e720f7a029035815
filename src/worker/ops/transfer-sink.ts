/**
 * The receiving end of a transfer (the worker for `ship`, the CLI for `fetch`). It writes `chunk`s into a
 * temp file beside the target, in `seq` order, hashing as it goes, and grants credit as bytes reach the
 * disk, so at most one window is ever in flight or queued. `commit()` checks the sha256, sets the mode and
 * renames over the target; `abort()` removes the temp file. A failed or interrupted transfer leaves
 * neither a partial target nor a temp file behind.
 *
 * Flow-control rules (a breach throws FLOW_CONTROL from `accept`): chunks must come with seq 0, 1, 2, ...
 * (a gap or a duplicate is refused), and never carry more bytes than were granted. Grants never exceed the
 * announced size, so bytes past the end are over credit too.
 *
 * Every file operation goes through the target's folder held open by descriptor ({@link OpenFolder}): a
 * folder swapped for a symlink after the check cannot redirect the temp file, the rename or the removal
 * outside the roots (issue 11, case 5).
 */
import { createHash } from 'node:crypto';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ClaError, ErrorCode } from '../../errors.ts';
import { OpenFolder } from './transfer-folder.ts';
import { asTransferError, tempPathFor, TRANSFER_WINDOW_BYTES } from './transfer-io.ts';

/** Options for {@link FileSink.open}. */
export interface SinkOptions {
  /** Credit outstanding at most (granted, not yet written), in bytes. @default TRANSFER_WINDOW_BYTES (8 MiB) */
  windowBytes?: number;
  /** Create missing parent folders of the target. @default true */
  createParents?: boolean;
  /** The target must stay inside one of these real paths (the worker's `--root`s). @default anywhere */
  roots?: readonly string[] | null;
  /** Called after each write with the bytes on disk so far and the size. */
  onProgress?: (written: number, size: number) => void;
}

/** What was received. */
export interface Received {
  bytes: number;
  sha256: string;
}

type SinkState = 'open' | 'receiving' | 'complete' | 'committed' | 'aborted';

/** A temp file being filled; see the module comment. */
export class FileSink {
  private state: SinkState = 'open';
  private size = -1;
  private granted = 0;
  private received = 0;
  private written = 0;
  private nextSeq = 0;
  private grant: (bytes: number) => void = () => undefined;
  private readonly hash = createHash('sha256');
  private writing: Promise<void> = Promise.resolve();
  /** Writes queued or running: 0 means the next write can start at once. */
  private writesPending = 0;
  private failure: ClaError | undefined;
  private aborting: Promise<void> | undefined;
  private resolveComplete!: (received: Received) => void;
  private rejectComplete!: (error: ClaError) => void;
  private readonly windowBytes: number;
  /** Resolves once `size` bytes are written, fsynced and the temp file closed; rejects on a write error. */
  readonly complete: Promise<Received>;

  /** The temp file's real path (in the folder actually opened). */
  readonly tempPath: string;
  /** The target's real path: in the folder actually opened, whatever the requested path became since. */
  readonly realTarget: string;

  private constructor(
    readonly target: string,
    private readonly folder: OpenFolder,
    private readonly tempName: string,
    private fh: FileHandle | undefined,
    private readonly options: SinkOptions,
  ) {
    this.tempPath = path.join(folder.realPath, tempName);
    this.realTarget = path.join(folder.realPath, path.basename(target));
    this.windowBytes = options.windowBytes ?? TRANSFER_WINDOW_BYTES;
    this.complete = new Promise((resolve, reject) => {
      this.resolveComplete = resolve;
      this.rejectComplete = reject;
    });
    this.complete.catch(() => undefined);
  }

  /**
   * Checks the target (a folder is refused with IO_ERROR), creates its parent folders, and creates the
   * temp file `.<name>.cla-tmp-<random>` beside it with mode 0600 and O_EXCL. Nothing else is written.
   */
  static async open(target: string, options: SinkOptions = {}): Promise<FileSink> {
    const windowBytes = options.windowBytes ?? TRANSFER_WINDOW_BYTES;
    if (!Number.isInteger(windowBytes) || windowBytes <= 0) throw new ClaError(ErrorCode.InvalidArgument, `Expected \`windowBytes\` to be a positive integer, got \`${windowBytes}\``);
    let folder: OpenFolder | undefined;
    try {
      const name = path.basename(target);
      // A folder named like the target is refused before any folder is created.
      // A missing target (the usual case) and an unreadable one both mean "not a folder"; the open below reports real errors.
      const early = await fs.stat(target).catch(() => undefined);
      if (early?.isDirectory()) throw isFolder(target);
      folder = await OpenFolder.open(path.dirname(target), { create: options.createParents ?? true, roots: options.roots ?? null });
      const existing = await fs.stat(folder.entry(name)).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (existing?.isDirectory()) throw isFolder(target);
      const tempName = path.basename(tempPathFor(target));
      const fh = await folder.createExclusive(tempName, 0o600);
      return new FileSink(target, folder, tempName, fh, options);
    } catch (error) {
      await folder?.close();
      throw asTransferError(error, 'write', target);
    }
  }

  /** Starts receiving `size` bytes: grants the first window through `grant` (none for an empty file). */
  begin(size: number, grant: (bytes: number) => void): void {
    if (this.state !== 'open') throw new ClaError(ErrorCode.Internal, `begin() on a sink that is ${this.state}`);
    this.state = 'receiving';
    this.size = size;
    this.grant = grant;
    if (size === 0) this.writing = this.writing.then(() => this.finish());
    else this.regrant();
  }

  /** Bytes accepted so far (queued or written). */
  receivedBytes(): number {
    return this.received;
  }

  /** Takes one chunk; throws FLOW_CONTROL on a gap, a duplicate or bytes beyond the granted credit. */
  accept(seq: number, data: Uint8Array): void {
    if (this.failure) throw this.failure;
    if (this.state !== 'receiving') {
      throw flowError(this.state === 'open' ? `Chunk ${seq} arrived before any credit was granted` : `Chunk ${seq} arrived after the transfer ended`, { seq });
    }
    if (seq !== this.nextSeq) {
      throw flowError(
        seq < this.nextSeq ? `Duplicate chunk: seq ${seq} was already received (expected ${this.nextSeq})` : `Gap in chunks: expected seq ${this.nextSeq}, got ${seq}`,
        { seq, expected: this.nextSeq },
      );
    }
    if (this.received + data.length > this.granted) {
      throw flowError(`Chunk ${seq} goes beyond the granted credit: ${this.received + data.length} bytes sent, ${this.granted} granted (size ${this.size})`, {
        seq,
        sent: this.received + data.length,
        granted: this.granted,
      });
    }
    this.nextSeq += 1;
    if (data.length === 0) return;
    this.received += data.length;
    const position = this.received - data.length;
    // The write is handed to the thread pool before the chunk is hashed here, so the disk write and the
    // sha256 of the same bytes overlap (issue 13); writes still run one at a time, in order.
    this.writesPending += 1;
    const written = () => {
      this.writesPending -= 1;
    };
    if (this.writesPending === 1) this.writing = this.write(data, position).finally(written);
    else this.writing = this.writing.then(() => this.write(data, position)).finally(written);
    this.hash.update(data);
  }

  /**
   * Waits for every byte, checks the sha256 (CHECKSUM_MISMATCH otherwise), sets `mode` on the temp file
   * and renames it over the target. The caller runs `abort()` when this throws.
   */
  async commit(expectedSha256: string, mode: number): Promise<Received> {
    const received = await this.complete;
    if (this.state !== 'complete') throw this.failure ?? new ClaError(ErrorCode.Cancelled, 'The transfer was stopped');
    if (received.sha256 !== expectedSha256) {
      throw new ClaError(ErrorCode.ChecksumMismatch, `Checksum mismatch for ${this.target}: expected sha256 ${expectedSha256}, the ${received.bytes} bytes received hash to ${received.sha256}; nothing was written`, {
        data: { path: this.target, expected: expectedSha256, actual: received.sha256 },
      });
    }
    const fh = this.fh;
    try {
      if (!fh) throw new ClaError(ErrorCode.Cancelled, 'The transfer was stopped');
      // fchmod on the descriptor: a path could have been replaced by a symlink meanwhile.
      await fh.chmod(mode);
      this.fh = undefined;
      await fh.close();
      await fs.rename(this.folder.entry(this.tempName), this.folder.entry(path.basename(this.target)));
    } catch (error) {
      throw this.aborting ? new ClaError(ErrorCode.Cancelled, 'The transfer was stopped') : asTransferError(error, 'write', this.target);
    }
    this.state = 'committed';
    await this.folder.sync();
    await this.folder.close();
    return received;
  }

  /** Stops and removes the temp file (safe to call more than once; a no-op after a commit). */
  abort(): Promise<void> {
    if (this.state === 'committed') return Promise.resolve();
    if (this.aborting) return this.aborting;
    this.state = 'aborted';
    this.fail(new ClaError(ErrorCode.Cancelled, 'The transfer was stopped'));
    const fh = this.fh;
    this.fh = undefined;
    // Every caller waits for the same removal. FileHandle.close() waits for a write in progress; queued
    // writes see the failure and skip.
    this.aborting = (async () => {
      // Already failing: a temp file that cannot be removed now is removed by the next start's sweep (leftovers).
      await fh?.close().catch(() => undefined);
      await fs.rm(this.folder.entry(this.tempName), { force: true }).catch(() => undefined);
      await this.folder.close();
    })();
    return this.aborting;
  }

  private async write(data: Uint8Array, position: number): Promise<void> {
    const fh = this.fh;
    if (this.failure || !fh) return;
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
        done += bytesWritten;
      }
    } catch (error) {
      this.fail(asTransferError(error, 'write', this.target));
      return;
    }
    this.written += data.length;
    this.options.onProgress?.(this.written, this.size);
    if (this.written === this.size) await this.finish();
    else this.regrant();
  }

  /** Grants more credit once a quarter window has reached the disk, so grants stay few and the sender never idles. */
  private regrant(): void {
    const want = Math.min(this.size, this.written + this.windowBytes) - this.granted;
    if (want <= 0) return;
    if (want >= this.windowBytes / 4 || this.granted + want === this.size || this.granted === 0) {
      this.granted += want;
      this.grant(want);
    }
  }

  private async finish(): Promise<void> {
    const fh = this.fh;
    if (this.failure || !fh) return;
    try {
      // One fsync, at the end; the descriptor stays open for the fchmod in commit().
      await fh.sync();
    } catch (error) {
      this.fail(asTransferError(error, 'write', this.target));
      return;
    }
    if (this.failure) return;
    this.state = 'complete';
    this.resolveComplete({ bytes: this.written, sha256: this.hash.digest('hex') });
  }

  private fail(error: ClaError): void {
    if (this.failure) return;
    this.failure = error;
    this.rejectComplete(error);
  }
}

function flowError(message: string, data: Record<string, unknown>): ClaError {
  return new ClaError(ErrorCode.FlowControl, message, { data });
}

function isFolder(target: string): ClaError {
  return new ClaError(ErrorCode.IoError, `${target} is a directory; give the path of the file to write`, { data: { path: target, kind: 'directory' } });
}
