/**
 * {@link ResourceStore} on NATS JetStream (issue 10): the resource graphs several hubs share.
 *
 * Layout (nats-server 2.9: no atomic batch; a value is at most the server's max payload, 1 MiB by
 * default, and a graph can be larger), worker and plugin as key tokens by `idToken`:
 * - bucket `<prefix>_resgraphs`, one pointer per worker+plugin (`<worker>.<plugin>`): the graph's
 *   `collectedAt`, `runId` and the names of its chunks, in order.
 * - bucket `<prefix>_reschunks`, `<worker>.<plugin>.<uuid>`: a chunk, up to {@link CHUNK_BYTES} of the
 *   graph's resources (id, kind, attrs, tags, edges, clean) as JSON (binary kept, ../hub/tasks/task-json.ts),
 *   sorted by id. Chunks are written once and never changed.
 *
 * Atomicity: every change (replaceGraph, setFlags, setTags) reads the graph, writes the chunks that differ
 * under new names, then swaps the pointer with a compare-and-set on the revision it read (re-reading and
 * re-deciding when another hub wrote meanwhile), then deletes the chunks the pointer no longer names. So
 * readers see the old graph or the new one, never a mix. A crash before the swap leaves new chunks no
 * pointer names; one after it leaves the old chunks: garbage that is never read (nothing sweeps it yet). An
 * empty graph deletes the pointer (compare-and-set) and then its chunks.
 *
 * Index: each store watches the pointers into memory and loads a graph's chunks the first time a read needs
 * that revision of it (then holds them: every resource of every graph, as the SQLite store's page cache
 * would). Reads first wait until the watch has caught up with the pointers' last revision, so they see
 * every change acknowledged before the call.
 *
 * Ordering: every call of one store runs after the one before it (one chain per instance), so writes
 * issued without awaiting take effect in call order.
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { Resource } from '../protocol/frames-bus.ts';
import { matchesQuery, type ResourceQuery } from '../hub/actions/resource-query.ts';
import type { ResourceCount, ResourceStore, StoredResource } from '../hub/actions/resource-store.ts';
import { decodeTaskValue, encodeTaskValue } from '../hub/tasks/task-json.ts';
import { BucketWatch, CallChain, isWrongRevision, openRetryingBucket, parseBucketOptions, type JetStreamBucketOptions } from './jetstream-buckets.ts';
import { idToken } from './presence.ts';

/** Options of {@link JetStreamResourceStore}. */
export type JetStreamResourceStoreOptions = JetStreamBucketOptions;

/** Bytes of JSON per chunk: well under the default max payload (1 MiB) a value may take. */
export const CHUNK_BYTES = 256 * 1024;

const MAX_CAS_RETRIES = 32;

interface Pointer {
  worker: string;
  plugin: string;
  collectedAt: number;
  runId: string | null;
  /** Chunk keys, in id order. */
  chunks: string[];
}

type ChunkEntry = Pick<StoredResource, 'id' | 'kind' | 'attrs' | 'tags' | 'edges' | 'clean'>;

interface Graph {
  pointer: Pointer;
  revision: number;
  /** The chunks' resources (each chunk's, in order), once loaded. */
  chunks?: ChunkEntry[][];
}

type Buckets = { graphs: KV; chunks: KV };

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const graphKey = (worker: string, plugin: string) => `${idToken(worker)}.${idToken(plugin)}`;

/** A {@link ResourceStore} on two JetStream KV buckets shared by every hub on the engine. */
export class JetStreamResourceStore implements ResourceStore {
  readonly graphsBucket: string;
  readonly chunksBucket: string;
  private readonly connection: () => Promise<NatsConnection>;
  private readonly replicas: number;
  private readonly graphs = new Map<string, Graph>();
  private ready: Promise<Buckets> | undefined;
  private readonly watch = new BucketWatch((entry) => this.apply(entry));
  private readonly chain = new CallChain();
  private closed = false;

  /**
   * A store on the buckets reached through `nc` (a connection, or a function giving one: then nothing is
   * opened before the first call or {@link opened}). The buckets are created when missing.
   */
  constructor(nc: NatsConnection | (() => Promise<NatsConnection>), options: JetStreamResourceStoreOptions = {}) {
    const { prefix, replicas, connection } = parseBucketOptions(nc, options);
    this.graphsBucket = `${prefix}_resgraphs`;
    this.chunksBucket = `${prefix}_reschunks`;
    this.connection = connection;
    this.replicas = replicas;
  }

  /** Resolves once the buckets are open and the pointers loaded; rejects when they cannot be. */
  async opened(): Promise<this> {
    await this.kv();
    return this;
  }

  private async open(): Promise<Buckets> {
    const nc = await this.connection();
    const [graphs, chunks] = await Promise.all([openRetryingBucket(nc, this.graphsBucket, this.replicas), openRetryingBucket(nc, this.chunksBucket, this.replicas)]);
    await this.watch.start(graphs, { nc, bucket: this.graphsBucket });
    return { graphs, chunks };
  }

  private kv(): Promise<Buckets> {
    if (this.closed) return Promise.reject(new Error(`The resource store on bucket ${this.graphsBucket} is closed`));
    return (this.ready ??= this.open());
  }

  /** Runs `fn` after every earlier call of this store. */
  private serial<T>(fn: (kv: Buckets) => Promise<T>): Promise<T> {
    return this.chain.run(() => this.kv().then(fn));
  }

  // ---- the pointers index --------------------------------------------------------------------------

  /** A change of the pointers bucket, as the watch delivers it. */
  private apply(entry: KvWatchEntry): void {
    const known = this.graphs.get(entry.key);
    if (known && known.revision >= entry.revision) return;
    if (entry.operation === 'PUT') this.graphs.set(entry.key, { pointer: entry.json<Pointer>(), revision: entry.revision });
    else this.graphs.delete(entry.key);
  }

  /** Every graph as the bucket has it now, chunks loaded, by worker and plugin. */
  private async all(kv: Buckets): Promise<Graph[]> {
    await this.watch.sync(kv.graphs);
    const graphs = [...this.graphs.values()];
    await Promise.all(graphs.map((g) => this.load(kv, g)));
    return graphs.sort((a, b) => compare(a.pointer.worker, b.pointer.worker) || compare(a.pointer.plugin, b.pointer.plugin));
  }

  private async load(kv: Buckets, graph: Graph): Promise<ChunkEntry[][]> {
    if (graph.chunks) return graph.chunks;
    const chunks = await Promise.all(
      graph.pointer.chunks.map(async (key) => {
        const entry = await kv.chunks.get(key);
        if (!entry || entry.operation !== 'PUT') throw new Error(`Resource chunk ${key} of bucket ${this.chunksBucket} is missing`);
        return decodeTaskValue(entry.string()) as ChunkEntry[];
      }),
    );
    graph.chunks = chunks;
    return chunks;
  }

  /** The graph of worker+plugin as the bucket has it now (chunks loaded), or undefined. */
  private async fetch(kv: Buckets, key: string): Promise<Graph | undefined> {
    const entry = await kv.graphs.get(key);
    if (!entry || entry.operation !== 'PUT') return undefined;
    const known = this.graphs.get(key);
    const graph = known && known.revision === entry.revision ? known : { pointer: entry.json<Pointer>(), revision: entry.revision };
    await this.load(kv, graph);
    return graph;
  }

  /**
   * The change: `decide` maps the current chunks (empty when there is no graph) to the new chunks and
   * pointer fields, or to undefined to leave the graph. Changed chunks are written under new names, the
   * pointer swapped with a compare-and-set, then the chunks no longer named deleted.
   */
  private async change(
    kv: Buckets,
    worker: string,
    plugin: string,
    decide: (chunks: ChunkEntry[][], pointer: Pointer | undefined) => { chunks: ChunkEntry[][]; collectedAt: number; runId: string | null } | undefined,
  ): Promise<void> {
    const key = graphKey(worker, plugin);
    for (let attempt = 0; ; attempt++) {
      const current = await this.fetch(kv, key);
      const next = decide(current?.chunks ?? [], current?.pointer);
      if (!next) return;
      const names = await Promise.all(
        next.chunks.map(async (chunk, i) => {
          const old = current?.chunks?.[i];
          const text = encodeTaskValue(chunk);
          if (old && current && encodeTaskValue(old) === text) return current.pointer.chunks[i]!;
          const name = `${key}.${randomUUID()}`;
          await kv.chunks.put(name, text);
          return name;
        }),
      );
      const pointer: Pointer = { worker, plugin, collectedAt: next.collectedAt, runId: next.runId, chunks: names };
      try {
        if (names.length === 0) {
          if (current) await kv.graphs.delete(key, { previousSeq: current.revision });
          this.graphs.delete(key);
        } else {
          const text = JSON.stringify(pointer);
          const revision = current ? await kv.graphs.update(key, text, current.revision) : await kv.graphs.create(key, text);
          this.graphs.set(key, { pointer, revision, chunks: next.chunks });
        }
      } catch (error) {
        await Promise.all(names.filter((n) => !current?.pointer.chunks.includes(n)).map((n) => kv.chunks.delete(n)));
        if (!isWrongRevision(error) || attempt >= MAX_CAS_RETRIES) throw error;
        continue;
      }
      await Promise.all((current?.pointer.chunks ?? []).filter((n) => !names.includes(n)).map((n) => kv.chunks.delete(n)));
      return;
    }
  }

  // ---- ResourceStore -------------------------------------------------------------------------------

  replaceGraph(worker: string, plugin: string, resources: readonly Resource[], at: number, runId: string | null): Promise<void> {
    return this.serial((kv) =>
      this.change(kv, worker, plugin, (chunks) => {
        const flagged = new Set(chunks.flat().filter((r) => r.clean).map((r) => r.id));
        const entries = new Map<string, ChunkEntry>();
        for (const r of resources) entries.set(r.id, { id: r.id, kind: r.kind, attrs: structuredClone(r.attrs), tags: { ...r.tags }, edges: [...r.edges], clean: flagged.has(r.id) });
        const sorted = [...entries.values()].sort((a, b) => compare(a.id, b.id));
        // Only a new partition: an unchanged chunk at the same place is kept (`change` compares).
        return { chunks: partition(sorted), collectedAt: at, runId };
      }),
    );
  }

  setFlags(worker: string, plugin: string, ids: readonly string[]): Promise<number> {
    return this.serial(async (kv) => {
      const wanted = new Set(ids);
      let n = 0;
      await this.change(kv, worker, plugin, (chunks, pointer) => {
        if (!pointer) return undefined;
        n = 0;
        const next = chunks.map((chunk) =>
          chunk.map((r) => {
            if (wanted.has(r.id)) n += 1;
            return r.clean === wanted.has(r.id) ? r : { ...r, clean: wanted.has(r.id) };
          }),
        );
        return { chunks: next, collectedAt: pointer.collectedAt, runId: pointer.runId };
      });
      return n;
    });
  }

  flagged(worker: string): Promise<Record<string, string[]>> {
    return this.serial(async (kv) => {
      const out: Record<string, string[]> = {};
      for (const graph of await this.all(kv)) {
        if (graph.pointer.worker !== worker) continue;
        const ids = graph.chunks!.flat().filter((r) => r.clean).map((r) => r.id);
        if (ids.length > 0) out[graph.pointer.plugin] = ids;
      }
      return out;
    });
  }

  setTags(worker: string, plugin: string, id: string, tags: Record<string, string>): Promise<boolean> {
    return this.serial(async (kv) => {
      let found = false;
      await this.change(kv, worker, plugin, (chunks, pointer) => {
        found = chunks.some((chunk) => chunk.some((r) => r.id === id));
        if (!pointer || !found) return undefined;
        const next = chunks.map((chunk) => (chunk.some((r) => r.id === id) ? chunk.map((r) => (r.id === id ? { ...r, tags: { ...tags } } : r)) : chunk));
        return { chunks: next, collectedAt: pointer.collectedAt, runId: pointer.runId };
      });
      return found;
    });
  }

  search(query: ResourceQuery, limit = 10_000): Promise<StoredResource[]> {
    return this.serial(async (kv) => {
      const out: StoredResource[] = [];
      for (const { pointer, chunks } of await this.all(kv)) {
        for (const r of chunks!.flat()) {
          if (out.length >= limit) return out;
          const resource: StoredResource = { worker: pointer.worker, plugin: pointer.plugin, ...r, collectedAt: pointer.collectedAt, runId: pointer.runId };
          if (matchesQuery(query, resource)) out.push(structuredClone(resource));
        }
      }
      return out;
    });
  }

  counts(): Promise<ResourceCount[]> {
    return this.serial(async (kv) =>
      (await this.all(kv)).map(({ pointer, chunks }) => ({
        worker: pointer.worker,
        plugin: pointer.plugin,
        resources: chunks!.reduce((n, c) => n + c.length, 0),
        flagged: chunks!.reduce((n, c) => n + c.filter((r) => r.clean).length, 0),
        collectedAt: pointer.collectedAt,
      })),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.chain.idle();
    this.closed = true;
    await this.watch.stop();
  }
}

/** Resources (sorted by id) in chunks of at most {@link CHUNK_BYTES} of JSON each (a larger resource alone). */
function partition(resources: ChunkEntry[]): ChunkEntry[][] {
  const out: ChunkEntry[][] = [];
  let chunk: ChunkEntry[] = [];
  let bytes = 0;
  for (const r of resources) {
    const size = Buffer.byteLength(encodeTaskValue(r));
    if (chunk.length > 0 && bytes + size > CHUNK_BYTES) {
      out.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(r);
    bytes += size;
  }
  if (chunk.length > 0) out.push(chunk);
  return out;
}

/** Opens a {@link JetStreamResourceStore} and waits until its buckets are loaded. */
export function openJetStreamResourceStore(nc: NatsConnection, options: JetStreamResourceStoreOptions = {}): Promise<JetStreamResourceStore> {
  return new JetStreamResourceStore(nc, options).opened();
}
