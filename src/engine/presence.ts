/**
 * Presence across hubs (issue 10): which hub holds which worker's connection, in a JetStream KV bucket.
 *
 * - `cla_presence`: worker id -> `{ hub, since }`; the entry's revision is the session's epoch. A hub
 *   writes it when a worker's session is established; the newest write wins: every other hub that still
 *   holds an older session of that worker closes it (as "a new connection replaces the old one" does
 *   within one hub). A hub deletes its entry, by compare-and-set on its epoch, when the session ends.
 * - `cla_hubs`: hub id -> heartbeat, rewritten every `heartbeatMs`. nats-server 2.9 has no per-key TTL,
 *   so the other hubs judge a hub dead when its heartbeat revision has not moved for `staleMs` of their
 *   own clock (no comparison of clocks across machines) while their own heartbeats landed all along
 *   (`staleMs / heartbeatMs` of them: a stream leader election that held every hub's heartbeat back for
 *   a few seconds is no hub's death), and delete its presence entries by compare-and-set (a worker that
 *   moved meanwhile keeps its newer entry).
 *
 * Nobody keeps a second copy of "who is where" that could drift: the cache here is the bucket's watch.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { NatsEngine } from './nats-connect.ts';
import { BucketWatch, isSyncMark, openRetryingKv } from './jetstream-buckets.ts';

/** Where a worker is connected. */
export interface PresenceEntry {
  /** The hub holding the worker's session. */
  hub: string;
  /** When the session was established (the holder's clock, ms since the epoch). */
  since: number;
  /** The entry's KV revision: a later connection has a higher epoch. */
  epoch: number;
  /** What the worker said in its hello, for targets by tags, env or project on any hub. */
  worker?: PresenceWorker;
}

/** The parts of a worker's hello that targets match on. */
export interface PresenceWorker {
  tags: string[];
  envs: string[];
  projects: string[];
  caps: string[];
}

/** Options of {@link Presence}. */
export interface PresenceOptions {
  hubId: string;
  clock: Clock;
  log: Logger;
  /** How often this hub rewrites its heartbeat, in ms. @default 2000 */
  heartbeatMs?: number;
  /** A hub whose heartbeat did not move for this long (this hub's clock) is dead, in ms. @default 3 × heartbeatMs */
  staleMs?: number;
  /** Bucket names (tests may isolate themselves). @default `cla_presence`, `cla_hubs` */
  buckets?: { presence: string; hubs: string };
  /** A newer session of `workerId` was established on hub `byHub`: close the local one. */
  onReplaced(workerId: string, byHub: string): void;
  /** Hub `hubId` stopped (its heartbeat was deleted; `dead` false) or died (silent for `staleMs`; `dead` true). */
  onHubGone?(hubId: string, dead: boolean): void;
}

/** A KV key (and subject token) for any worker or hub id: plain ids as they are, others base64url with `=`. */
export function idToken(id: string): string {
  return /^[A-Za-z0-9_-]+$/.test(id) ? id : `=${Buffer.from(id, 'utf8').toString('base64url')}`;
}

/** The id a token of {@link idToken} stands for. */
export function tokenId(token: string): string {
  return token.startsWith('=') ? Buffer.from(token.slice(1), 'base64url').toString('utf8') : token;
}

const encoder = new TextEncoder();

/** One hub's view and share of presence. */
export class Presence {
  private presenceKv!: KV;
  private hubsKv!: KV;
  private readonly entries = new Map<string, PresenceEntry>();
  /** Workers whose session this hub holds, with the epoch it wrote and what it wrote. */
  private readonly held = new Map<string, number>();
  private readonly claimed = new Map<string, { since: number; worker?: PresenceWorker }>();
  /** Other hubs' heartbeats: the last revision seen, when (this hub's clock) it last moved, and how many of this hub's own beats landed since. */
  private readonly heartbeats = new Map<string, { revision: number; movedAt: number; beatsSince: number }>();
  private readonly watchers: BucketWatch[] = [];
  private timer: unknown;
  private stopped = false;
  private readonly heartbeatMs: number;
  private readonly staleMs: number;
  private readonly changeListeners = new Set<(workerId: string, entry: PresenceEntry | undefined) => void>();

  constructor(
    private readonly engine: NatsEngine,
    private readonly options: PresenceOptions,
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 2000;
    this.staleMs = options.staleMs ?? 3 * this.heartbeatMs;
  }

  /** Opens (or creates) the buckets, starts watching, clears this hub's entries of a previous life, and beats. */
  async start(): Promise<void> {
    const names = this.options.buckets ?? { presence: 'cla_presence', hubs: 'cla_hubs' };
    const config = { history: 1, replicas: this.engine.replicas };
    this.presenceKv = await openRetryingKv(this.engine.nc, names.presence, config);
    this.hubsKv = await openRetryingKv(this.engine.nc, names.hubs, config);
    this.watchers.push(await this.watch(this.presenceKv, names.presence, (entry) => this.onPresence(entry)));
    this.watchers.push(await this.watch(this.hubsKv, names.hubs, (entry) => this.onHeartbeat(entry)));
    // Entries a crashed earlier process of this hub left behind: their sockets are gone.
    const mine = await this.current(this.presenceKv);
    await Promise.all(mine.filter(([, e]) => e.hub === this.options.hubId).map(([token, e]) => this.deleteIf(this.presenceKv, token, e.epoch)));
    await this.beat();
  }

  /** Deletes this hub's entries and heartbeat, and stops watching. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.options.clock.clearTimeout(this.timer);
    await Promise.all(this.watchers.map((watcher) => watcher.stop()));
    // Never started (or its start failed before the buckets opened): nothing of this hub is in them.
    if (!this.presenceKv || !this.hubsKv) return;
    await Promise.all([...this.held].map(([workerId, epoch]) => this.deleteIf(this.presenceKv, idToken(workerId), epoch)));
    this.held.clear();
    this.claimed.clear();
    const own = await this.hubsKv.get(idToken(this.options.hubId)).catch(() => null);
    if (own && own.operation === 'PUT') await this.deleteIf(this.hubsKv, own.key, own.revision);
  }

  /**
   * Records that this hub now holds `workerId`'s session; resolves with its epoch. When a newer session
   * elsewhere raced ahead of this write, `onReplaced` is called at once.
   */
  async claim(workerId: string, since: number, worker?: PresenceWorker): Promise<number> {
    const epoch = await this.presenceKv.put(idToken(workerId), encoder.encode(JSON.stringify({ hub: this.options.hubId, since, worker })));
    this.held.set(workerId, epoch);
    this.claimed.set(workerId, { since, worker });
    const seen = this.entries.get(workerId);
    if (seen && seen.epoch > epoch && seen.hub !== this.options.hubId) this.replaced(workerId, seen.hub);
    return epoch;
  }

  /** The session of `workerId` ended here: deletes the entry unless a newer session already replaced it. */
  async release(workerId: string): Promise<void> {
    const epoch = this.held.get(workerId);
    if (epoch === undefined) return;
    this.held.delete(workerId);
    this.claimed.delete(workerId);
    await this.deleteIf(this.presenceKv, idToken(workerId), epoch);
  }

  /** Where `workerId` is connected, as last seen on the bucket's watch. */
  holder(workerId: string): PresenceEntry | undefined {
    return this.entries.get(workerId);
  }

  /** Every known presence entry. */
  all(): Map<string, PresenceEntry> {
    return new Map(this.entries);
  }

  /** Calls `listener` on every change of a worker's entry (`undefined`: deleted). */
  onChange(listener: (workerId: string, entry: PresenceEntry | undefined) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Follows `kv` into `handle`, watched anew after each leader election of its stream. */
  private async watch(kv: KV, bucket: string, handle: (entry: KvWatchEntry) => void): Promise<BucketWatch> {
    const watch = new BucketWatch((entry) => {
      try {
        handle(entry);
      } catch (error) {
        this.options.log.error({ err: error, key: entry.key }, 'could not handle a presence change');
      }
    });
    await watch.start(kv, { nc: this.engine.nc, bucket });
    return watch;
  }

  private onPresence(entry: KvWatchEntry): void {
    const workerId = tokenId(entry.key);
    if (entry.operation !== 'PUT') {
      if ((this.entries.get(workerId)?.epoch ?? 0) <= entry.revision) this.entries.delete(workerId);
      this.changeListeners.forEach((listener) => listener(workerId, undefined));
      // Another hub took this one for dead (a stalled event loop) and removed a session it still holds: write it again.
      const mine = this.claimed.get(workerId);
      if (this.held.has(workerId) && mine && !this.stopped) {
        this.options.log.warn({ worker: workerId }, 'presence entry removed by another hub while the worker is connected here: writing it again');
        void this.claim(workerId, mine.since, mine.worker).catch((error: unknown) => this.options.log.error({ err: error, worker: workerId }, 'could not write the presence entry again'));
      }
      return;
    }
    const value = entry.json<{ hub: string; since: number; worker?: PresenceWorker }>();
    const next: PresenceEntry = { hub: value.hub, since: value.since, epoch: entry.revision, ...(value.worker ? { worker: value.worker } : {}) };
    this.entries.set(workerId, next);
    const mine = this.held.get(workerId);
    if (mine !== undefined && mine < next.epoch && next.hub !== this.options.hubId) this.replaced(workerId, next.hub);
    this.changeListeners.forEach((listener) => listener(workerId, next));
  }

  private replaced(workerId: string, byHub: string): void {
    this.held.delete(workerId);
    this.claimed.delete(workerId);
    this.options.log.warn({ worker: workerId, hub: byHub }, 'the worker connected to another hub: closing its session here');
    this.options.onReplaced(workerId, byHub);
  }

  private onHeartbeat(entry: KvWatchEntry): void {
    const hub = tokenId(entry.key);
    if (hub === this.options.hubId) return;
    if (entry.operation !== 'PUT') {
      if (this.heartbeats.delete(hub)) this.options.onHubGone?.(hub, false);
    } else this.heartbeats.set(hub, { revision: entry.revision, movedAt: this.options.clock.now(), beatsSince: 0 });
  }

  /** Rewrites this hub's heartbeat, purges dead hubs' entries, and schedules the next beat. */
  private async beat(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.hubsKv.put(idToken(this.options.hubId), encoder.encode(JSON.stringify({ at: this.options.clock.now() })));
      for (const beat of this.heartbeats.values()) beat.beatsSince += 1;
      await this.purgeDeadHubs();
    } catch (error) {
      this.options.log.warn({ err: error }, 'presence heartbeat failed; retrying');
    }
    if (!this.stopped) this.timer = this.options.clock.setTimeout(() => void this.beat(), this.heartbeatMs);
  }

  private async purgeDeadHubs(): Promise<void> {
    const now = this.options.clock.now();
    for (const [hub, beat] of this.heartbeats) {
      if (now - beat.movedAt < this.staleMs || beat.beatsSince < Math.ceil(this.staleMs / this.heartbeatMs)) continue;
      // A stall of this hub's own event loop delays its watch as much as this timer, and the watch's
      // consumer may have been on a server that died (the client notices only after two missed idle
      // heartbeats): a hub beating all along would look silent. The bucket itself says whether it moved.
      const current = await this.hubsKv.get(idToken(hub)).catch(() => 'unread' as const);
      if (current === 'unread') continue;
      if (current?.operation === 'PUT' && current.revision !== beat.revision) {
        this.heartbeats.set(hub, { revision: current.revision, movedAt: this.options.clock.now(), beatsSince: 0 });
        continue;
      }
      if (this.heartbeats.get(hub) !== beat) continue; // the watch saw it move (or go) meanwhile
      this.options.log.warn({ hub, silentMs: now - beat.movedAt }, 'a hub stopped beating: removing its presence entries');
      this.heartbeats.delete(hub);
      this.options.onHubGone?.(hub, true);
      const orphans = [...this.entries].filter(([, e]) => e.hub === hub);
      await Promise.all(orphans.map(([workerId, e]) => this.deleteIf(this.presenceKv, idToken(workerId), e.epoch)));
      await this.deleteIf(this.hubsKv, idToken(hub), beat.revision);
    }
  }

  /** Deletes `key` if its revision is still `revision`; another hub's newer write (or delete) wins. */
  private async deleteIf(kv: KV, key: string, revision: number): Promise<void> {
    try {
      await kv.delete(key, { previousSeq: revision });
    } catch (error) {
      if (!isWrongLastSequence(error)) this.options.log.warn({ err: error, key }, 'could not delete a presence entry');
    }
  }

  /** Current PUT entries of a bucket as [key, entry]. */
  private async current(kv: KV): Promise<Array<[string, PresenceEntry]>> {
    const keys: string[] = [];
    for await (const key of await kv.keys()) if (!isSyncMark(key)) keys.push(key);
    const out: Array<[string, PresenceEntry]> = [];
    for (const key of keys) {
      const entry = await kv.get(key);
      if (entry && entry.operation === 'PUT') {
        const value = entry.json<{ hub: string; since: number }>();
        out.push([key, { hub: value.hub, since: value.since, epoch: entry.revision }]);
      }
    }
    return out;
  }
}

/** The compare-and-set lost: the key changed since the revision named. */
export function isWrongLastSequence(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamWrongLastSequence;
}
