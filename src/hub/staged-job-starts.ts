/**
 * A job's start record, held back for a short while (issue 13): a job that ends within `delayMs` has its
 * start and its end written in one store step (one SQLite commit instead of two), and a longer one has its
 * start written when the delay is up. The worker gets the job at once either way; what waits is the store
 * write, which the old order did one turn later anyway.
 *
 * What this keeps (issue 9): a job's end is acknowledged to anyone only after the commit that holds it, and
 * that commit holds its start too, so nobody hears of a job's result that a crash could leave unrecorded.
 * What it gives up: a hub that dies within `delayMs` of sending a job leaves no record of it (the old window
 * was one turn). Reads of jobs go through {@link StagedJobStarts.flushAll} first, so a listing never misses
 * a job that was dispatched before it.
 */
import type { Clock } from '../clock.ts';
import type { JobStart } from './registry.ts';

interface Staged {
  job: JobStart;
  timer: unknown;
  resolve: (value: void | PromiseLike<void>) => void;
}

/** Start records waiting for their delay or their job's end; see the file's comment. */
export class StagedJobStarts {
  private readonly staged = new Map<string, Staged>();

  /** @param write writes one start now (queued in this turn's store step); its promise settles with the write. */
  constructor(
    private readonly write: (job: JobStart) => Promise<void>,
    private readonly clock: Clock,
  ) {}

  /** Holds `job`'s start for up to `delayMs`; the promise settles once it is written (or its write failed). */
  stage(job: JobStart, delayMs: number): Promise<void> {
    if (delayMs <= 0 || this.staged.has(job.id)) return this.write(job);
    return new Promise<void>((resolve) => {
      const timer = this.clock.setTimeout(() => this.flush(job.id), delayMs);
      this.staged.set(job.id, { job, timer, resolve });
    });
  }

  /** Writes `id`'s staged start now, if one is staged; the caller's store calls that follow join its step. */
  flush(id: string): Promise<void> | undefined {
    const entry = this.staged.get(id);
    if (!entry) return undefined;
    this.staged.delete(id);
    this.clock.clearTimeout(entry.timer);
    const written = this.write(entry.job);
    entry.resolve(written);
    return written;
  }

  /** Writes every staged start now; resolves once each write settled (a failed one is its stager's to report). */
  async flushAll(): Promise<void> {
    if (this.staged.size === 0) return;
    const writes = [...this.staged.keys()].map((id) => this.flush(id));
    await Promise.allSettled(writes);
  }

  /** Starts staged now (tests). */
  get size(): number {
    return this.staged.size;
  }
}
