/**
 * The sending end of a transfer (the worker for `fetch`, the hub-side library for `ship`): reads an open
 * file with a read stream and sends it as `chunk`s of at most {@link TRANSFER_CHUNK_BYTES}, only within the
 * credit the receiver granted. The stream is paused while credit is out or the connection is congested,
 * so at most one read buffer is held at a time, whatever the file size.
 *
 * When `send` returns a promise (resolved once the bytes reached the socket), at most `inFlightBytes` are
 * sent and unresolved at any time, whatever credit the receiver granted (issue 11, case 3): a receiver
 * that grants a whole file and stops reading holds the sender to that bound, and no polling is needed.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { ReadStream } from 'node:fs';
import type { Clock } from '../../clock.ts';
import { ClaError, ErrorCode } from '../../errors.ts';
import { asTransferError, TRANSFER_CHUNK_BYTES } from './transfer-io.ts';

const DEFAULT_IN_FLIGHT_BYTES = 4 * 1024 * 1024;

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
  /** Poll interval while congested, in ms. @default 5 */
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

/** Sends one file within credit; see the module comment. Nothing is read before the first `grant`. */
export class FileSource {
  private credit = 0;
  private sent = 0;
  private seq = 0;
  private stream: ReadStream | undefined;
  private pending: Buffer | undefined;
  private eof = false;
  private settled = false;
  private retry: unknown;
  /** Bytes sent whose `send` promise has not resolved yet. */
  private unflushed = 0;
  private waitingFlush = false;
  private readonly hash: Hash | undefined;
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
    if (size === 0) this.settle();
  }

  /** Adds credit (a `credit` frame from the receiver). */
  grant(bytes: number): void {
    if (this.settled) return;
    this.credit += bytes;
    if (!this.stream) this.open();
    this.pump();
  }

  /** Stops reading; `done` rejects with `reason`. The file handle stays open (the caller owns it). */
  stop(reason: ClaError): void {
    if (this.settled) return;
    this.settled = true;
    this.cleanup();
    this.rejectDone(reason);
  }

  private open(): void {
    const chunkBytes = this.options.chunkBytes ?? TRANSFER_CHUNK_BYTES;
    // `end` is inclusive; reading stops at the size announced even if the file grows meanwhile.
    const stream = this.fh.createReadStream({ start: 0, end: this.size - 1, highWaterMark: chunkBytes, autoClose: false, emitClose: false });
    this.stream = stream;
    stream.on('data', (piece) => {
      const buffer = piece as Buffer;
      this.pending = this.pending ? Buffer.concat([this.pending, buffer]) : buffer;
      this.pump();
    });
    stream.on('end', () => {
      this.eof = true;
      this.pump();
    });
    stream.on('error', (error) => {
      if (this.settled) return;
      this.stop(asTransferError(error, 'read', this.options.path ?? 'the file'));
    });
  }

  private pump(): void {
    if (this.settled || this.retry !== undefined) return;
    const chunkBytes = this.options.chunkBytes ?? TRANSFER_CHUNK_BYTES;
    const inFlight = this.options.inFlightBytes ?? DEFAULT_IN_FLIGHT_BYTES;
    this.waitingFlush = false;
    while (this.pending && this.credit > 0) {
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
      const n = Math.min(this.pending.length, this.credit, chunkBytes);
      const piece = n === this.pending.length ? this.pending : this.pending.subarray(0, n);
      this.pending = n === this.pending.length ? undefined : this.pending.subarray(n);
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
      this.options.onProgress?.(this.sent, this.size);
    }
    // Every byte sent settles without waiting for 'end': a paused stream would never emit it.
    if (!this.pending && (this.eof || this.sent === this.size)) {
      this.settle();
      return;
    }
    if (this.pending || this.credit <= 0 || this.retry !== undefined || this.waitingFlush) this.stream?.pause();
    else this.stream?.resume();
  }

  private flushed(n: number): void {
    this.unflushed -= n;
    if (this.waitingFlush) this.pump();
  }

  private settle(): void {
    if (this.settled) return;
    if (this.sent !== this.size) {
      this.stop(
        new ClaError(ErrorCode.IoError, `${this.options.path ?? 'The file'} shrank while it was sent (${this.sent} of ${this.size} bytes)`, {
          data: { sent: this.sent, size: this.size },
        }),
      );
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
    this.pending = undefined;
    this.stream?.destroy();
  }
}
