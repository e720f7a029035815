/**
 * Follows one JetStream KV bucket into memory (issue 10): a watch (an ordered consumer over the last value
 * per key, then every change) hands each entry to `apply`, and {@link KvFollower.sync} waits until every
 * write acknowledged before the call has been applied, so a list built from the followed state after it
 * sees them all. Used by the registry store for what needs a scan (lists, `clearConnections`,
 * `closeLostJobs`); point reads go to the bucket.
 */
import type { KV } from '@nats-io/kv';
import { BucketWatch, type ElectionsOf } from './jetstream-buckets.ts';

/** Receives the bucket's entries: `value` is `undefined` for a deleted or purged key. */
export type ApplyEntry = (key: string, value: string | undefined, revision: number) => void;

/** A running watch of one bucket into an {@link ApplyEntry}. */
export class KvFollower {
  private constructor(
    private readonly kv: KV,
    private readonly watch: BucketWatch,
  ) {}

  /**
   * Starts following `kv` and resolves once what the bucket held at the call has been applied. Given
   * `elections`, watched anew after each leader election of the bucket's stream.
   */
  static async start(kv: KV, apply: ApplyEntry, elections?: ElectionsOf): Promise<KvFollower> {
    const watch = new BucketWatch((entry) => apply(entry.key, entry.operation === 'PUT' ? entry.string() : undefined, entry.revision));
    await watch.start(kv, elections);
    return new KvFollower(kv, watch);
  }

  /** Waits until the watch has applied every write the bucket acknowledged before this call. */
  sync(): Promise<void> {
    return this.watch.sync(this.kv);
  }

  /** Stops the watch; pending {@link sync} calls resolve. */
  stop(): Promise<void> {
    return this.watch.stop();
  }
}
