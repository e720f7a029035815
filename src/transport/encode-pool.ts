/**
 * Reused encode buffers for `chunk` frames (issue 13). msgpackr encodes into a buffer of its own and, when
 * a ~1 MiB chunk does not fit, allocates a fresh one four times the frame's size; every page of a fresh
 * buffer costs a page fault when it is first written, which made the encode of a chunk cost a third of
 * its sha256. A pool hands out a few buffers of one size, each given back once the socket wrote the
 * frame; a relaying hub or a sending worker then encodes every chunk into warm memory.
 *
 * Only `chunk` frames large enough to matter use it: other frames are small and msgpackr's own buffer
 * serves them well. A pool keeps at most `maxFree` buffers between transfers.
 */
import { encodeFrameInto } from '../protocol/codec.ts';
import type { Frame } from '../protocol/frames.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/version.ts';

/** Chunks smaller than this are encoded the usual way. */
const POOLED_MIN_DATA_BYTES = 64 * 1024;
/** Room left in a pooled buffer for the frame's other fields (`re`, `seq`, `sha256`, ...). */
const FIELD_ROOM_BYTES = 4096;

/** A frame encoded into a pooled buffer: `release()` once the socket is done with `bytes`. */
export interface PooledBytes {
  bytes: Uint8Array;
  release(): void;
}

/** See the module comment. */
export class EncodePool {
  private readonly free: Buffer[] = [];

  /**
   * @param bufferBytes size of each buffer, in bytes; a chunk whose frame would not fit is encoded the usual way.
   * @param maxFree buffers kept between uses.
   */
  constructor(
    readonly bufferBytes = DEFAULT_MAX_FRAME_BYTES + FIELD_ROOM_BYTES,
    readonly maxFree = 8,
  ) {}

  /** Encodes `frame` into a pooled buffer when it is a large chunk; undefined otherwise (encode it the usual way). */
  encode(frame: Frame): PooledBytes | undefined {
    if (frame.t !== 'chunk') return undefined;
    const size = frame.data.byteLength;
    if (size < POOLED_MIN_DATA_BYTES || size + FIELD_ROOM_BYTES > this.bufferBytes) return undefined;
    const buffer = this.free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes);
    const bytes = encodeFrameInto(frame, buffer);
    let released = false;
    return {
      bytes,
      release: () => {
        if (released) return;
        released = true;
        if (this.free.length < this.maxFree) this.free.push(buffer);
      },
    };
  }

  /** Drops the kept buffers. */
  clear(): void {
    this.free.length = 0;
  }
}
