/**
 * Keeps the last `capBytes` of a job's output for the store (the "recent jobs with output" view), while
 * the whole stream still goes live to whoever watches the job. Memory per job is bounded by the cap.
 */

/** Default bytes of output kept per job. */
export const DEFAULT_STORED_OUTPUT_BYTES = 64 * 1024;

/** A bounded tail of byte chunks. */
export class OutputTail {
  private chunks: Uint8Array[] = [];
  private kept = 0;
  /** Every byte seen, kept or not. */
  total = 0;

  constructor(private readonly capBytes = DEFAULT_STORED_OUTPUT_BYTES) {}

  push(data: Uint8Array): void {
    this.total += data.length;
    if (this.capBytes <= 0) return;
    const piece = data.length > this.capBytes ? data.subarray(data.length - this.capBytes) : data;
    this.chunks.push(piece);
    this.kept += piece.length;
    while (this.kept - this.chunks[0]!.length >= this.capBytes) this.kept -= this.chunks.shift()!.length;
  }

  /** The kept tail (at most `capBytes`), or null when nothing was output. */
  bytes(): Uint8Array | null {
    if (this.total === 0) return null;
    const all = Buffer.concat(this.chunks);
    return all.length > this.capBytes ? all.subarray(all.length - this.capBytes) : all;
  }
}
