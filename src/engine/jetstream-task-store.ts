/**
 * {@link TaskStore} on NATS JetStream (issue 10): the task store several hubs share.
 *
 * Layout (nats-server 2.9: no per-key TTL, no atomic batch, no multi-filter consumers):
 * - one KV bucket `<prefix>_tasks`, history 1, one key per task (the task id; ids that are not plain
 *   `[A-Za-z0-9_-]` go base64url under `x.`). The value is the whole row as JSON (task-json.ts, binary
 *   kept; the task's data and result are its msgpack bytes, so base64 in the JSON: `TaskRecord`),
 *   including the lease: holder hub (`owner`), worker, token (`lease`) and `expiresAt`.
 * - every state change is one `kv.update(key, row, revision)`: a compare-and-set on the revision read,
 *   like SQLite's `UPDATE ... WHERE state = ? AND lease = ?` then `changes === 1`. When the revision moved
 *   (another hub wrote), the row is read again and the condition checked again; so of two hubs that
 *   lease, expire or release one task, exactly one write lands. Acks of JetStream consumers are not used
 *   to fence leases: the server accepts an ack from an expired delivery (nats-server#4786).
 * - `seq` (submission order) is the revision of the task's first write, kept in the row from its second
 *   write on (the first stores 0: "my own revision"), so an insert is one write.
 * - no index in the engine: each store watches the bucket (an ordered consumer over the last value per
 *   key, then every change) into a {@link TaskIndex} in memory, which answers `pending`, `expire`,
 *   `recover`, `list` and `counts`. Measured against a pending work-queue stream or per-state KV keys,
 *   both of which cost a second write per state change that cannot be made atomic with the row on 2.9,
 *   the watch costs nothing on the write path; a hub reads every other hub's changes (one JSON parse
 *   each) and holds every task's last row in memory, ended ones without data, result and error (about
 *   300 bytes each; nothing purges ended tasks yet, in the bucket or in memory).
 * - `get` always reads the bucket (fresh across hubs); `list` and `counts` first wait until the watch has
 *   caught up with the bucket's last revision, so they see every write acknowledged before the call.
 *
 * Ordering: calls on one task id run one after the other in call order; `pending`, `list`, `counts` and
 * `lastSeq` wait for every call made before them; the multi-task writes (`releaseMany`, `expire`,
 * `recover`) wait for every earlier call and hold back every later one. They are atomic per task only:
 * 2.9 has no atomic batch publish, and each task's change is still one compare-and-set.
 *
 * Time: `expiresAt` is written with the granting hub's clock and compared with the sweeping hub's, so
 * hubs sharing a bucket need clocks that agree (NTP) to well under the lease ttl.
 *
 * Durability: a single nats-server fsyncs lazily (nats-server#7564); production runs 3 nodes and
 * `replicas: 3`, so an acknowledged write is on a majority.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { type KV, type KvEntry, type KvWatchEntry } from '@nats-io/kv';
import { noWorkerError, workerLostError } from '../../machines/task.helpers.ts';
import { decodeTaskValue, encodeTaskValue } from '../hub/tasks/task-json.ts';
import { encodeValue } from '../protocol/codec.ts';
import { DEFAULT_HUB_ID, newTaskRow, type Expired, type NewTask, type ReleasedTask, type TaskErrorValue, type TaskListFilter, type TaskRow, type TaskState, type TaskStore, type TaskStoreEvents, type TaskStoreOptions } from '../hub/tasks/task-store.ts';
import { BucketWatch, openStoreBucket, parseBucketOptions, type JetStreamBucketOptions } from './jetstream-buckets.ts';
import { TaskIndex, type IndexedTask } from './jetstream-task-index.ts';
import { casWrite, retryTransient } from './jetstream-retry.ts';

/** Options of {@link JetStreamTaskStore}. */
export interface JetStreamTaskStoreOptions extends TaskStoreOptions, JetStreamBucketOptions {}

/** Compare-and-set retries on one task before the store gives up (another hub writing it all along). */
const MAX_CAS_RETRIES = 32;

/** The stored record: the row, and which hub wrote this revision (so a store ignores its own writes in the watch). */
/**
 * A row as stored in the bucket: JSON (task-json.ts), data and result as their msgpack bytes (written as
 * base64 under the binary marker key), `mp: 1` saying so. A record without `mp` was written before
 * values became msgpack bytes (issue 9): its data and result are the plain values, encoded on read.
 */
type TaskRecord = TaskRow & { by: string; mp?: 1 };

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** The KV key of a task id. */
export function taskKey(id: string): string {
  return PLAIN_KEY.test(id) ? id : `x.${Buffer.from(id).toString('base64url')}`;
}


const noop = () => undefined;

/** A {@link TaskStore} on a JetStream KV bucket shared by every hub on the engine. */
export class JetStreamTaskStore implements TaskStore {
  readonly hubId: string;
  readonly bucket: string;
  private readonly index = new TaskIndex();
  private ready: Promise<KV> | undefined;
  /** The bucket followed into the index, watched anew after each leader election of its stream. */
  private readonly watch = new BucketWatch((entry) => this.apply(entry));
  private loaded = false;
  private readonly listeners = new Set<TaskStoreEvents>();
  private readonly tails = new Map<string, Promise<void>>();
  private readonly inflight = new Set<Promise<void>>();
  private barrier: Promise<void> = Promise.resolve();
  private closed = false;

  /**
   * A store on the bucket reached through `nc` (a connection, or a function giving one: then nothing is
   * opened before the first call or {@link opened}). The bucket is created when missing; calls wait until
   * the watch has loaded it.
   */
  constructor(nc: NatsConnection | (() => Promise<NatsConnection>), options: JetStreamTaskStoreOptions = {}) {
    this.hubId = options.hubId ?? DEFAULT_HUB_ID;
    const { prefix, replicas, connection } = parseBucketOptions(nc, options);
    this.bucket = `${prefix}_tasks`;
    this.connection = connection;
    this.replicas = replicas;
  }

  private readonly connection: () => Promise<NatsConnection>;
  private readonly replicas: number;
  /** The JetStream client of the compare-and-set writes ({@link casWrite}), set when the bucket opens. */
  private js: JetStreamClient | undefined;

  /** Resolves once the bucket is open and loaded; rejects when it cannot be. */
  async opened(): Promise<this> {
    await this.kv();
    return this;
  }

  private async open(): Promise<KV> {
    const nc = await this.connection();
    const kv = await openStoreBucket(nc, this.bucket, this.replicas);
    this.js = jetstream(nc);
    await this.watch.start(kv, { nc, bucket: this.bucket });
    this.loaded = true;
    return kv;
  }

  /** A change of the bucket, as the watch delivers it; tells listeners about other hubs' changes. */
  private apply(entry: KvWatchEntry): void {
    if (entry.operation !== 'PUT' || this.index.knows(this.idOf(entry), entry.revision)) return;
    const record = this.decode(entry);
    const before = this.index.apply(record.row, entry.revision);
    if (before !== false && this.loaded && record.by !== this.hubId) this.announce(before, record.row);
  }

  private announce(before: TaskRow | undefined, row: TaskRow): void {
    if (row.state === 'pending' && before?.state !== 'pending') for (const l of this.listeners) l.pending();
    const ended = (s: TaskState | undefined) => s === 'done' || s === 'failed';
    if (ended(row.state) && !ended(before?.state)) for (const l of this.listeners) l.ended(row);
  }

  /** Waits until the watch has seen every write acknowledged so far ({@link BucketWatch.sync}). */
  private sync(kv: KV): Promise<void> {
    return this.watch.sync(kv);
  }

  subscribe(events: TaskStoreEvents): () => void {
    this.listeners.add(events);
    return () => this.listeners.delete(events);
  }

  // ---- ordering ------------------------------------------------------------------------------------

  /** Runs `fn` after every earlier call on `id` and every earlier multi-task write. */
  private onTask<T>(id: string, fn: (kv: KV) => Promise<T>): Promise<T> {
    const prev = this.tails.get(id);
    const result = (prev ? Promise.all([prev, this.barrier]) : this.barrier).then(() => this.kv()).then(fn);
    const settled = result.then(noop, noop);
    this.tails.set(id, settled);
    this.inflight.add(settled);
    void settled.then(() => {
      this.inflight.delete(settled);
      if (this.tails.get(id) === settled) this.tails.delete(id);
    });
    return result;
  }

  /** Runs `fn` after every earlier call; `exclusive`: later calls wait for it too. */
  private afterAll<T>(fn: (kv: KV) => Promise<T>, exclusive = false): Promise<T> {
    const result = Promise.all([this.barrier, ...this.inflight]).then(() => this.kv()).then(fn);
    if (exclusive) this.barrier = result.then(noop, noop);
    return result;
  }

  private kv(): Promise<KV> {
    if (this.closed) return Promise.reject(new Error(`The task store on bucket ${this.bucket} is closed`));
    return (this.ready ??= this.open());
  }

  // ---- records -------------------------------------------------------------------------------------

  private idOf(entry: KvEntry): string {
    return entry.key.startsWith('x.') ? Buffer.from(entry.key.slice(2), 'base64url').toString() : entry.key;
  }

  private decode(entry: KvEntry): { row: TaskRow; by: string } {
    const { by, mp, ...row } = decodeTaskValue(entry.string()) as TaskRecord;
    if (mp !== 1) {
      row.data = encodeValue(row.data);
      if (row.result !== null) row.result = encodeValue(row.result);
    }
    if (row.seq === 0) row.seq = entry.revision;
    return { row, by };
  }

  private encode(row: TaskRow): string {
    return encodeTaskValue({ ...row, by: this.hubId, mp: 1 } satisfies TaskRecord);
  }

  /** The row as the bucket has it now (and the index updated with it). */
  private async fetch(kv: KV, id: string): Promise<IndexedTask | undefined> {
    const entry = await retryTransient(() => kv.get(taskKey(id)));
    if (!entry || entry.operation !== 'PUT') return undefined;
    const { row } = this.decode(entry);
    this.index.apply(row, entry.revision);
    return { row, revision: entry.revision };
  }

  /**
   * The conditional write: `decide` maps the current row to the new one, or to undefined when its
   * condition fails. The write is a compare-and-set on the revision `decide` saw; when another hub
   * wrote meanwhile, the row is read again and `decide` asked again — unless `retry` is false: the
   * take of a pending task (a lease), where a moved revision means another hub took it, and the
   * watch brings the row back should it be pending again. Through a leader failover the write is tried
   * again ({@link casWrite}): one that landed though its answer was lost counts once, as written.
   */
  private async change(kv: KV, id: string, decide: (row: TaskRow) => TaskRow | undefined, retry = true): Promise<TaskRow | undefined> {
    let current = this.index.get(id) ?? (await this.fetch(kv, id));
    for (let attempt = 0; current; attempt++) {
      const next = decide(current.row);
      if (!next) return undefined;
      const revision = await casWrite({ kv, js: this.js!, bucket: this.bucket }, taskKey(id), this.encode(next), current.revision);
      if (revision !== undefined) {
        this.index.apply(next, revision);
        return next;
      }
      if (attempt >= MAX_CAS_RETRIES) throw new Error(`Task ${id}: ${MAX_CAS_RETRIES} compare-and-set attempts lost to other hubs' writes; try again`);
      if (!retry) return undefined;
      current = await this.fetch(kv, id);
    }
    return undefined;
  }

  // ---- TaskStore -----------------------------------------------------------------------------------

  insert(task: NewTask): Promise<boolean> {
    return this.onTask(task.id, async (kv) => {
      const row = newTaskRow({ ...task, attrs: { ...task.attrs } }, 0);
      const revision = await casWrite({ kv, js: this.js!, bucket: this.bucket }, taskKey(task.id), this.encode(row), 0);
      if (revision === undefined) return false; // the id is taken
      this.index.apply({ ...row, seq: revision }, revision);
      return true;
    });
  }

  get(id: string): Promise<TaskRow | undefined> {
    return this.onTask(id, async (kv) => (await this.fetch(kv, id))?.row);
  }

  list(filter: TaskListFilter): Promise<TaskRow[]> {
    return this.afterAll(async (kv) => {
      await this.sync(kv);
      const out: Array<TaskRow | Promise<TaskRow>> = [];
      for (const id of this.index.all.newestFirst()) {
        if (out.length >= filter.limit) break;
        const { row, slim } = this.index.get(id)!;
        if (filter.state === undefined || row.state === filter.state) out.push(slim ? this.fetch(kv, id).then((full) => full?.row ?? row) : row);
      }
      return Promise.all(out);
    });
  }

  counts(): Promise<Record<TaskState, number>> {
    return this.afterAll(async (kv) => {
      await this.sync(kv);
      return { ...this.index.counts };
    });
  }

  lastSeq(): Promise<number> {
    return this.afterAll(async () => this.index.maxSeq);
  }

  pending(afterSeq: number, names: readonly string[], limit: number): Promise<TaskRow[]> {
    return this.afterAll(async () => {
      const out: TaskRow[] = [];
      if (names.length === 0 || limit <= 0) return out;
      const wanted = new Set(names);
      for (const id of this.index.pendingTasks.after(afterSeq)) {
        const row = this.index.get(id)!.row;
        if (wanted.has(row.name)) out.push(row);
        if (out.length >= limit) break;
      }
      return out;
    });
  }

  lease(id: string, worker: string, lease: string, at: number, expiresAt: number): Promise<boolean> {
    return this.onTask(id, async (kv) =>
      Boolean(
        await this.change(kv, id, (row) =>
          row.state === 'pending' ? { ...row, state: 'claimed', worker, lease, owner: this.hubId, expiresAt, attempts: row.attempts + 1, offeredAt: at, claimedAt: at, updatedAt: at } : undefined,
          false,
        ),
      ),
    );
  }

  reject(id: string, lease: string, at: number): Promise<boolean> {
    return this.onTask(id, async (kv) =>
      Boolean(await this.change(kv, id, (row) => (held(row, lease) ? { ...row, state: 'pending', lease: null, owner: null, expiresAt: null, attempts: row.attempts - 1, updatedAt: at } : undefined))),
    );
  }

  renew(id: string, lease: string, at: number, expiresAt: number): Promise<boolean> {
    return this.onTask(id, async (kv) => Boolean(await this.change(kv, id, (row) => (held(row, lease) ? { ...row, expiresAt, updatedAt: at } : undefined))));
  }

  complete(id: string, lease: string, result: Uint8Array, at: number): Promise<TaskRow | undefined> {
    return this.onTask(id, (kv) => this.change(kv, id, (row) => (held(row, lease) ? { ...row, state: 'done', result, ...ended(at) } : undefined)));
  }

  fail(id: string, lease: string, error: TaskErrorValue, at: number): Promise<TaskRow | undefined> {
    return this.onTask(id, (kv) => this.change(kv, id, (row) => (held(row, lease) ? { ...row, state: 'failed', error, ...ended(at) } : undefined)));
  }

  release(id: string, token: string, at: number): Promise<ReleasedTask | undefined> {
    return this.onTask(id, (kv) => this.releaseOne(kv, id, (row) => row.lease === token, at));
  }

  releaseMany(held: ReadonlyArray<readonly [string, string]>, at: number): Promise<Array<ReleasedTask | undefined>> {
    return this.afterAll((kv) => Promise.all(held.map(([id, token]) => this.releaseOne(kv, id, (row) => row.lease === token, at))), true);
  }

  expire(now: number): Promise<Expired> {
    return this.afterAll(async (kv) => {
      const out: Expired = { released: [], failed: [] };
      const expiring = [...this.index.active]
        .map((id) => this.index.get(id)!.row)
        .filter((row) => row.expiresAt !== null && row.expiresAt <= now)
        .sort((a, b) => a.seq - b.seq);
      const failed: TaskRow[] = [];
      const released = await Promise.all(
        expiring.map((row) => this.releaseOne(kv, row.id, (r) => r.expiresAt !== null && r.expiresAt <= now, now, failed)),
      );
      for (const r of released) if (r) out.released.push(r);
      const late: TaskRow[] = [];
      for (const id of this.index.pendingTasks.after(0)) {
        const row = this.index.get(id)!.row;
        if (row.deadlineAt <= now) late.push(row);
      }
      const lateFailed = await Promise.all(
        late.map((row) =>
          this.change(kv, row.id, (r) =>
            r.state === 'pending' && r.deadlineAt <= now
              ? { ...r, state: 'failed', error: noWorkerError({ id: r.id, name: r.name, attrs: r.attrs, deadlineMs: r.deadlineMs, attempts: r.attempts, worker: r.worker }), ...ended(now) }
              : undefined,
          ),
        ),
      );
      out.failed = [...failed.sort((a, b) => a.seq - b.seq), ...lateFailed.filter((r): r is TaskRow => r !== undefined)];
      return out;
    }, true);
  }

  recover(at: number): Promise<number> {
    return this.afterAll(async (kv) => {
      const mine = [...this.index.active].filter((id) => this.index.get(id)!.row.owner === this.hubId);
      const done = await Promise.all(
        mine.map((id) =>
          this.change(kv, id, (row) =>
            row.state === 'claimed' && row.owner === this.hubId ? { ...row, state: 'pending', lease: null, owner: null, expiresAt: null, updatedAt: at } : undefined,
          ),
        ),
      );
      return done.filter(Boolean).length;
    }, true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([this.barrier, ...this.inflight]);
    this.closed = true;
    await this.watch.stop();
  }

  /**
   * The holder of the lease is gone (`holds` says whether the current row is still the one to
   * release): back to pending, or failed (WORKER_LOST, pushed on `failed`) after the last attempt.
   */
  private async releaseOne(kv: KV, id: string, holds: (row: TaskRow) => boolean, at: number, failed?: TaskRow[]): Promise<ReleasedTask | undefined> {
    let released: ReleasedTask | undefined;
    const row = await this.change(kv, id, (r) => {
      if (r.state !== 'claimed' || r.lease === null || !holds(r)) return undefined;
      const lost = r.attempts >= r.maxAttempts;
      released = { id, worker: r.worker ?? '', lease: r.lease, state: lost ? 'failed' : 'pending' };
      if (!lost) return { ...r, state: 'pending', lease: null, owner: null, expiresAt: null, updatedAt: at };
      const error = workerLostError({ id, name: r.name, attrs: r.attrs, deadlineMs: r.deadlineMs, attempts: r.attempts, worker: r.worker });
      return { ...r, state: 'failed', error, ...ended(at) };
    });
    if (!row) return undefined;
    if (row.state === 'failed') failed?.push(row);
    return released;
  }
}

/** Whether `row` is claimed under `lease`. */
const held = (row: TaskRow, lease: string) => row.state === 'claimed' && row.lease === lease;

const ended = (at: number): Pick<TaskRow, 'lease' | 'owner' | 'expiresAt' | 'finishedAt' | 'updatedAt'> => ({ lease: null, owner: null, expiresAt: null, finishedAt: at, updatedAt: at });

/** Opens a {@link JetStreamTaskStore} and waits until its bucket is loaded. */
export function openJetStreamTaskStore(nc: NatsConnection, options: JetStreamTaskStoreOptions = {}): Promise<JetStreamTaskStore> {
  return new JetStreamTaskStore(nc, options).opened();
}
