/**
 * What the JetStream stores (tasks, workflows, resources; issue 10) share: where their KV buckets live and
 * how a compare-and-set that lost is told apart.
 */
import type { NatsConnection, QueuedIterator, Subscription } from '@nats-io/transport-node';
import type { KV, KvOptions, KvWatchEntry } from '@nats-io/kv';
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '../errors.ts';
import { retryingKv, retryTransient } from './jetstream-retry.ts';

/** Where a JetStream store keeps its buckets. */
export interface JetStreamBucketOptions {
  /** Bucket name prefix, `[A-Za-z0-9_-]`; every hub sharing the state uses the same one. @default 'cla' */
  prefix?: string;
  /** Replicas of the buckets' streams when the store creates them: 3 on a 3-node cluster. @default 1 */
  replicas?: number;
}

/** {@link JetStreamBucketOptions} checked and filled, and the connection as a function. */
export function parseBucketOptions(
  nc: NatsConnection | (() => Promise<NatsConnection>),
  options: JetStreamBucketOptions,
): { prefix: string; replicas: number; connection: () => Promise<NatsConnection> } {
  const prefix = options.prefix ?? 'cla';
  if (!/^[A-Za-z0-9_-]+$/.test(prefix)) throw new InvalidArgumentError(`Expected \`prefix\` to be letters, digits, _ or -, got \`${prefix}\``);
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new InvalidArgumentError(`Expected \`replicas\` to be an integer 1-5, got \`${replicas}\``);
  return { prefix, replicas, connection: typeof nc === 'function' ? nc : () => Promise.resolve(nc) };
}

/**
 * Opens (creating when missing) the store bucket `name`: one value per key, on disk, `replicas` copies.
 * Reads go through the stream's leader, not "direct" from any replica: on a cluster a replica catching up
 * (a node just restarted) answers a direct get with an old value, and a hub would not read its own write
 * back, or decide a compare-and-set on a row that moved on. Tried again through a leader election.
 */
export function openStoreBucket(nc: NatsConnection, name: string, replicas: number): Promise<KV> {
  return createBucket(nc, name, storeBucketConfig(replicas));
}

/**
 * API errors of a stream create that lost a race with another hub creating the same bucket: `Kvm.create`
 * reads the stream's info, finds none and adds it; two hubs starting together on a fresh server both get
 * there, and nats-server 2.9 may refuse the second add with 10065 "subjects overlap with an existing
 * stream" (or 10058 "stream name already in use") although the stream it adds is the same. Trying again
 * then finds the stream the other hub made.
 */
const LOST_CREATE_RACE = new Set([10058, 10065]);

/**
 * `Kvm.create` (open, creating when missing) through a failover ({@link retryTransient}) and through a race
 * with another hub creating the same bucket at the same moment ({@link LOST_CREATE_RACE}, tried again a
 * few times: a config that really differs fails the same way each time and is then thrown).
 */
export function createBucket(nc: NatsConnection, name: string, config: Partial<KvOptions>): Promise<KV> {
  return retryLostCreateRace(() => retryTransient(() => new Kvm(nc).create(name, config)));
}

/** `create()`, again (up to 3 calls in all) while it fails with {@link LOST_CREATE_RACE}. */
export async function retryLostCreateRace<T>(create: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await create();
    } catch (error) {
      if (!(error instanceof JetStreamApiError && LOST_CREATE_RACE.has(error.code)) || attempt >= 3) throw error;
    }
  }
}

const storeBucketConfig = (replicas: number): Partial<KvOptions> => ({ history: 1, replicas, storage: StorageType.File, allow_direct: false });

/** {@link openStoreBucket}, each call on it then tried again through a leader election ({@link retryingKv}). */
export function openRetryingBucket(nc: NatsConnection, name: string, replicas: number): Promise<KV> {
  return openRetryingKv(nc, name, storeBucketConfig(replicas));
}

/** Opens (creating when missing) the bucket `name` with `config`, each call on it tried again through a leader election. */
export async function openRetryingKv(nc: NatsConnection, name: string, config: Partial<KvOptions>): Promise<KV> {
  const kv = await createBucket(nc, name, config);
  return retryingKv({ kv, js: jetstream(nc), bucket: name });
}

/** Whether a KV write was refused because the key moved on (update) or already holds a value (create). */
export const isWrongRevision = (error: unknown): boolean =>
  error instanceof JetStreamApiError && (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

const noop = () => undefined;

/**
 * Calls `elected` after each leader election of the bucket's stream, one call at a time: a watch's
 * consumer lives on one server, and when that server died the client notices only after two missed idle
 * heartbeats (10 s, then 60 s after its own reset), a hub meanwhile blind to other hubs' changes; a new
 * watch from where the old one got to ends that at the election. A failed call is dropped (the old watch
 * goes on).
 */
export class LeaderElections {
  private readonly subscription: Subscription;
  private calls: Promise<void> = Promise.resolve();

  constructor(nc: NatsConnection, bucket: string, elected: () => Promise<void>) {
    this.subscription = nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.KV_${bucket}`, {
      callback: () => {
        this.calls = this.calls.then(elected).catch(noop);
      },
    });
  }

  /** No more calls; resolves once the running one settled. */
  async stop(): Promise<void> {
    this.subscription.unsubscribe();
    await this.calls;
  }
}

/** Keys of {@link SyncMarks}: no store's key has a `/` (see each store's key scheme), so none starts so. */
const SYNC_MARK_PREFIX = '_sync/';

/** Whether a bucket key is a {@link SyncMarks} mark, not a store's entry (watchers skip it). */
export const isSyncMark = (key: string): boolean => key.startsWith(SYNC_MARK_PREFIX);

/**
 * "Has this watch delivered every write the bucket acknowledged before now?", answered by writing a mark
 * and waiting until the watch delivers it: a watch delivers its stream in order, so the writes acknowledged
 * before the mark come before it. It does not compare sequence numbers with the stream's `last_seq`, which
 * a watch may never reach: the stream's last message deleted (`nats stream rmm`), or, seen with nats-server
 * 2.9.10 after its leader was killed, replicas that hold the same messages under different sequence
 * numbers (the watch served by one of them stops short of the `last_seq` another reports).
 *
 * Each instance (one per watch) writes its own key, `_sync/<uuid>`, one put at a time, the values counting
 * up: a mark called while a put is in flight waits for the next put, and any value at or above the one it
 * waits for ends its wait. The bucket keeps one value per key, so a later put may remove an earlier one
 * before the watch delivers it; the later one then stands for both. {@link purge} removes the key.
 */
export class SyncMarks {
  private readonly key = `${SYNC_MARK_PREFIX}${randomUUID()}`;
  /** The value of the last put issued. */
  private issued = 0;
  /** The put in flight, settled (never rejected) once it landed or failed. */
  private writing: Promise<void> | undefined;
  private readonly waiters = new Set<{ target: number; resolve: () => void; reject: (error: unknown) => void }>();

  /** Writes a mark into `kv` and resolves once the watch handed it (or a later one) to {@link seen}, or {@link release} was called. */
  mark(kv: KV): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.add({ target: this.issued + 1, resolve, reject });
      if (!this.writing) this.write(kv);
    });
  }

  private write(kv: KV): void {
    const value = ++this.issued;
    this.writing = retryTransient(() => kv.put(this.key, String(value))).then(
      () => this.written(kv),
      (error: unknown) => {
        for (const waiter of this.waiters) {
          if (waiter.target !== value) continue;
          this.waiters.delete(waiter);
          waiter.reject(error);
        }
        this.written(kv);
      },
    );
  }

  /** Marks called while the last put was in flight get the next one. */
  private written(kv: KV): void {
    this.writing = undefined;
    for (const waiter of this.waiters) if (waiter.target > this.issued) return void this.write(kv);
  }

  /** A mark entry the watch delivered (any instance's: only this one's key counts here). */
  seen(entry: KvWatchEntry): void {
    if (entry.key !== this.key || entry.operation !== 'PUT') return;
    const value = Number(entry.string());
    for (const waiter of this.waiters) {
      if (waiter.target > value) continue;
      this.waiters.delete(waiter);
      waiter.resolve();
    }
  }

  /**
   * A new watch replaced the one the pending marks wait on. It resumes where the old one got to, which on
   * a diverged cluster may be past their puts: they wait for a new put instead.
   */
  rewatched(kv: KV): void {
    if (this.waiters.size === 0) return;
    for (const waiter of this.waiters) waiter.target = this.issued + 1;
    if (!this.writing) this.write(kv);
  }

  /** The watch stopped: every pending {@link mark} resolves. */
  release(): void {
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
  }

  /**
   * Removes this instance's key from the bucket (no delete marker left behind), after the put in flight,
   * if any, so that it does not land after the purge; errors are ignored. Call after {@link release}.
   */
  async purge(nc: NatsConnection, bucket: string): Promise<void> {
    while (this.writing) await this.writing;
    if (this.issued === 0 || nc.isClosed()) return;
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${this.key}` });
    } catch {
      // The connection closing or the bucket gone: a key of a few bytes stays, skipped by every reader.
    }
  }
}

/** The bucket a {@link BucketWatch} watches anew after each leader election of its stream. */
export interface ElectionsOf {
  nc: NatsConnection;
  bucket: string;
}

/**
 * A KV bucket followed into memory: the last value per key, then every change, handed to `apply`; {@link sync}
 * waits until every write acknowledged before it has been applied. Given {@link ElectionsOf}, watched anew
 * after each leader election ({@link LeaderElections}); entries both watches deliver are applied once.
 */
export class BucketWatch {
  private maxRevision = 0;
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private watching: Promise<void> = Promise.resolve();
  private readonly marks = new SyncMarks();
  /** Where the marks' key is purged at {@link stop}. */
  private target: ElectionsOf | undefined;
  private elections: LeaderElections | undefined;
  /** Whether a second watch ran: from then on an entry at or below {@link maxRevision} was applied already. */
  private rewatched = false;
  private stopped = false;

  constructor(private readonly apply: (entry: KvWatchEntry) => void) {}

  /** Starts following `kv`; resolves once what it held is applied. */
  async start(kv: KV, elections?: ElectionsOf): Promise<void> {
    this.watcher = await retryTransient(() => kv.watch());
    this.watching = this.follow(this.watcher);
    if (elections) this.elections = new LeaderElections(elections.nc, elections.bucket, () => this.rewatch(kv));
    this.target = elections;
    await this.marks.mark(kv);
  }

  /** A new watch from where this one got to. */
  private async rewatch(kv: KV): Promise<void> {
    if (this.stopped) return;
    const next = await retryTransient(() => kv.watch({ resumeFromRevision: this.maxRevision + 1 }));
    if (this.stopped) return void next.stop();
    this.rewatched = true;
    this.watcher?.stop();
    this.watcher = next;
    const before = this.watching;
    const following = this.follow(next).catch(noop);
    this.watching = Promise.all([before, following]).then(noop);
    this.marks.rewatched(kv);
  }

  /** Waits until the watch has applied every write acknowledged so far. */
  sync(kv: KV): Promise<void> {
    return this.marks.mark(kv);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.elections?.stop();
    this.watcher?.stop();
    await this.watching.catch(noop);
    this.marks.release();
    if (this.target) await this.marks.purge(this.target.nc, this.target.bucket);
  }

  private async follow(watcher: QueuedIterator<KvWatchEntry>): Promise<void> {
    for await (const entry of watcher) {
      if (isSyncMark(entry.key)) this.marks.seen(entry);
      else if (!(this.rewatched && entry.revision <= this.maxRevision)) this.apply(entry);
      if (entry.revision > this.maxRevision) this.maxRevision = entry.revision;
    }
  }
}

/** One chain of calls: each runs after the one before it settled, so calls take effect in call order. */
export class CallChain {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(noop, noop);
    return result;
  }

  /** Resolves once every call made so far has settled. */
  idle(): Promise<void> {
    return this.tail;
  }
}
