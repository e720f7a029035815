/**
 * Cuts a resource graph into `resources` batches that fit a frame: at most 10,000 resources (the
 * schema's limit) and about 512 KiB of resource JSON each (frames are capped at 1 MiB by default, and
 * msgpack is smaller than JSON). Batches are numbered from 0; the last one says `last: true`, which is
 * what makes the hub replace the stored graph, so `end()` is sent even for an empty graph.
 */
import type { Resource } from '../../protocol/frames-bus.ts';

export const MAX_BATCH_RESOURCES = 10_000;
export const MAX_BATCH_CHARS = 512 * 1024;

export class GraphWriter {
  private batch = 0;
  private buffer: Resource[] = [];
  private chars = 0;
  private ended = false;

  constructor(
    private readonly emit: (batch: number, last: boolean, resources: Resource[]) => void,
    private readonly maxResources = MAX_BATCH_RESOURCES,
    private readonly maxChars = MAX_BATCH_CHARS,
  ) {}

  add(resource: Resource): void {
    if (this.ended) throw new Error('GraphWriter.add() after end()');
    const size = JSON.stringify(resource).length;
    if (this.buffer.length > 0 && (this.buffer.length >= this.maxResources || this.chars + size > this.maxChars)) this.flush(false);
    this.buffer.push(resource);
    this.chars += size;
  }

  /** Sends the last batch. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.flush(true);
  }

  /** Batches sent so far. */
  get batches(): number {
    return this.batch;
  }

  private flush(last: boolean): void {
    const resources = this.buffer;
    this.buffer = [];
    this.chars = 0;
    this.emit(this.batch, last, resources);
    this.batch += 1;
  }
}
