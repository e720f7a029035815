/**
 * Follows one JetStream KV bucket into memory (issue 10): a watch (an ordered consumer over the last value
 * per key, then every change) hands each entry to `apply`, and {@link KvFollower.sync} waits until every
 * write acknowledged before the call has been applied, so a list built from the followed state after it
 * sees them all. Used by the registry store for what needs a scan (lists, `clearConnections`,
 * `closeLostJobs`); point reads go to the bucket.
 */
import type { QueuedIterator } from '@nats-io/transport-node';
import type { KV, KvWatchEntry } from '@nats-io/kv';

const noop = () => undefined;

/** Receives the bucket's entries: `value` is `undefined` for a deleted or purged key. */
export type ApplyEntry = (key: string, value: string | undefined, revision: number) => void;

/** A running watch of one bucket into an {@link ApplyEntry}. */
export class KvFollower {
  private maxRevision = 0;
  private readonly waiters = new Set<{ revision: number; resolve: () => void }>();
  private watching: Promise<void> = Promise.resolve();

  private constructor(
    private readonly kv: KV,
    private readonly watcher: QueuedIterator<KvWatchEntry>,
  ) {}

  /** Starts following `kv` and resolves once what the bucket held at the call has been applied. */
  static async start(kv: KV, apply: ApplyEntry): Promise<KvFollower> {
    const follower = new KvFollower(kv, await kv.watch());
    follower.watching = follower.follow(apply);
    await follower.sync();
    return follower;
  }

  private async follow(apply: ApplyEntry): Promise<void> {
    for await (const entry of this.watcher) {
      apply(entry.key, entry.operation === 'PUT' ? entry.string() : undefined, entry.revision);
      if (entry.revision > this.maxRevision) this.maxRevision = entry.revision;
      for (const waiter of this.waiters) {
        if (this.maxRevision >= waiter.revision) {
          this.waiters.delete(waiter);
          waiter.resolve();
        }
      }
    }
  }

  /** Waits until the watch has applied every write the bucket acknowledged before this call. */
  async sync(): Promise<void> {
    const { streamInfo } = await this.kv.status();
    const revision = streamInfo.state.last_seq;
    if (this.maxRevision >= revision) return;
    await new Promise<void>((resolve) => this.waiters.add({ revision, resolve }));
  }

  /** Stops the watch; pending {@link sync} calls resolve. */
  async stop(): Promise<void> {
    this.watcher.stop();
    await this.watching.catch(noop);
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
  }
}
