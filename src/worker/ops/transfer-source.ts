/**
 * The sending end of a transfer (the worker for `fetch`, the hub-side library for `ship`): reads an open
 * file and sends it as `chunk`s of at most {@link TRANSFER_CHUNK_BYTES}, only within the credit the
 * receiver granted. Reads go into a few reused buffers ({@link READ_AHEAD} of them) and run one chunk ahead
 * of the sends, so the disk read overlaps the hash and the socket write, and at most that many read
 * buffers are held whatever the file size. Reusing them matters (issue 13): a fresh 1 MiB buffer per read
 * cost page faults on every page, about a third of a sha256's CPU per byte; `send` encodes synchronously,
 * so a buffer is free again once the sends of all its bytes returned.
 *
 * When `send` returns a promise (resolved once the bytes reached the socket), at most `inFlightBytes` are
 * sent and unresolved at any time, whatever credit the receiver granted (issue 11, case 3): a receiver
 * that grants a whole file and stops reading holds the sender to that bound, and no polling is needed.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Clock } from '../../clock.ts';
import { ClaError, ErrorCode } from '../../errors.ts';
import { asTransferError, TRANSFER_CHUNK_BYTES } from './transfer-io.ts';

const DEFAULT_IN_FLIGHT_BYTES = 4 * 1024 * 1024;
/** Read buffers per source: one being sent, one being filled. */
export const READ_AHEAD = 2;

/** Options for {@link FileSource}. */
export interface SourceOptions {
  /**
   * Sends one chunk (the bytes may be reused after the call returns: senders encode synchronously). A
   * returned promise resolves when the bytes reached the socket; see `inFlightBytes`.
   */
  send(seq: number, data: Uint8Array, sha256?: string): void | Promise<void>;
  /** Sent bytes whose `send` promise is unresolved, at most. @default 4 MiB */
  inFlightBytes?: number;
  /** True while the connection holds too many unsent bytes; polled every `retryMs` until false. */
  congested?: () => boolean;
  clock: Clock;
  /** Largest chunk in bytes. @default TRANSFER_CHUNK_BYTES (992 KiB) */
  chunkBytes?: number;
  /** Poll interval while congested, in ms. @default 1 */
  retryMs?: number;
  /** Called after each chunk with the bytes sent so far and the size. */
  onProgress?: (sent: number, size: number) => void;
  /** Path for error messages. */
  path?: string;
  /**
   * Hash what is sent (`done` then carries the sha256). A ship hashed the file in a first pass already,
   * so it turns this off and saves a third sha256 of every byte. @default true
   */
  hash?: boolean;
  /** Pass the sha256 to `send` with the last chunk (a ship without a sha256 up front). @default false */
  hashOnLastChunk?: boolean;
}

/** What was sent. */
export interface Sent {
  bytes: number;
  /** The sha256 of the bytes sent; empty when `hash` was off. */
  sha256: string;
}

/** Bytes read and not yet sent: `buffer[start, end)`. */
interface ReadPiece {
  buffer: Buffer;
  start: number;
  end: number;
}

/** Sends one file within credit; see the module comment. Nothing is read before the first `grant`. */
export class FileSource {
  private credit = 0;
  private sent = 0;
  private seq = 0;
  /** Bytes read from the file so far (sent or in `ready`). */
  private readBytes = 0;
  private reading = false;
  private started = false;
  /** Read, not yet sent, in file order. */
  private readonly ready: ReadPiece[] = [];
  /** Read buffers free for the next read. */
  private readonly spare: Buffer[] = [];
  private settled = false;
  private retry: unknown;
  /** Bytes sent whose `send` promise has not resolved yet. */
  private unflushed = 0;
  private waitingFlush = false;
  private readonly hash: Hash | undefined;
  private readonly chunkBytes: number;
  private digest: string | undefined;
  private resolveDone!: (sent: Sent) => void;
  private rejectDone!: (error: ClaError) => void;
  /** Resolves once every byte was handed to `send`; rejects on a read error, a shrunk file or `stop`. */
  readonly done: Promise<Sent>;

  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
    private readonly options: SourceOptions,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined);
    this.hash = options.hash === false ? undefined : createHash('sha256');
    this.chunkBytes = options.chunkBytes ?? TRANSFER_CHUNK_BYTES;
    if (size === 0) this.settle();
  }

  /** Adds credit (a `credit` frame from the receiver). */
  grant(bytes: number): void {
    if (this.settled) return;
    this.credit += bytes;
    this.started = true;
    this.readMore();
    this.pump();
  }

  /** Stops reading; `done` rejects with `reason`. The file handle stays open (the caller owns it). */
  stop(reason: ClaError): void {
    if (this.settled) return;
    this.settled = true;
    this.cleanup();
    this.rejectDone(reason);
  }

  /** Starts the next read when a buffer is free; one read at a time, so pieces arrive in file order. */
  private readMore(): void {
    if (this.settled || !this.started || this.reading || this.readBytes >= this.size || this.ready.length >= READ_AHEAD) return;
    this.reading = true;
    const buffer = this.spare.pop() ?? Buffer.allocUnsafeSlow(this.chunkBytes);
    const position = this.readBytes;
    // Reading stops at the size announced even if the file grows meanwhile.
    const length = Math.min(buffer.length, this.size - position);
    this.fh.read(buffer, 0, length, position).then(
      ({ bytesRead }) => {
        this.reading = false;
        if (this.settled) return;
        if (bytesRead === 0) {
          this.stop(this.shrank(position));
          return;
        }
        this.readBytes += bytesRead;
        this.ready.push({ buffer, start: 0, end: bytesRead });
        this.pump();
        this.readMore();
      },
      (error: unknown) => {
        this.reading = false;
        if (!this.settled) this.stop(asTransferError(error, 'read', this.options.path ?? 'the file'));
      },
    );
  }

  private pump(): void {
    if (this.settled || this.retry !== undefined) return;
    const inFlight = this.options.inFlightBytes ?? DEFAULT_IN_FLIGHT_BYTES;
    this.waitingFlush = false;
    while (this.ready.length > 0 && this.credit > 0) {
      if (this.unflushed >= inFlight) {
        this.waitingFlush = true;
        break;
      }
      if (this.options.congested?.()) {
        this.retry = this.options.clock.setTimeout(() => {
          this.retry = undefined;
          this.pump();
        }, this.options.retryMs ?? 1);
        break;
      }
      const head = this.ready[0]!;
      const n = Math.min(head.end - head.start, this.credit, this.chunkBytes);
      const piece = head.buffer.subarray(head.start, head.start + n);
      head.start += n;
      this.hash?.update(piece);
      this.credit -= n;
      this.sent += n;
      // The last chunk carries the sha256 of everything sent (a ship hashes while it sends).
      const last = this.sent === this.size && this.hash !== undefined && this.options.hashOnLastChunk === true;
      if (last) this.digest = this.hash!.digest('hex');
      const sending = this.options.send(this.seq, piece, last ? this.digest : undefined);
      if (sending) {
        this.unflushed += n;
        void sending.then(() => this.flushed(n), () => this.flushed(n));
      }
      this.seq += 1;
      // `send` encoded the bytes: the buffer is free for the next read once all of it went.
      if (head.start === head.end) {
        this.ready.shift();
        this.spare.push(head.buffer);
      }
      this.options.onProgress?.(this.sent, this.size);
    }
    if (this.sent === this.size) {
      this.settle();
      return;
    }
    this.readMore();
  }

  private flushed(n: number): void {
    this.unflushed -= n;
    if (this.waitingFlush) this.pump();
  }

  private shrank(at: number): ClaError {
    return new ClaError(ErrorCode.IoError, `${this.options.path ?? 'The file'} shrank while it was sent (${at} of ${this.size} bytes)`, {
      data: { sent: at, size: this.size },
    });
  }

  private settle(): void {
    if (this.settled) return;
    if (this.sent !== this.size) {
      this.stop(this.shrank(this.sent));
      return;
    }
    this.settled = true;
    this.cleanup();
    this.digest ??= this.hash?.digest('hex');
    this.resolveDone({ bytes: this.sent, sha256: this.digest ?? '' });
  }

  private cleanup(): void {
    if (this.retry !== undefined) this.options.clock.clearTimeout(this.retry);
    this.retry = undefined;
    this.ready.length = 0;
    this.spare.length = 0;
  }
}
