/**
 * The latest resource graph of each worker and plugin, behind one backend-neutral, asynchronous
 * interface (issue 9). Every backend passes test/unit/resource-store-conformance.ts: SQLite
 * (./sqlite-resource-store.ts, group commit) and memory (./memory-resource-store.ts) today.
 *
 * `clean` is the cleanup plan's flag: {@link ResourceStore.setFlags} sets it for the listed ids of a
 * worker+plugin and clears it for the others (a plan replaces the previous plan); a new graph keeps the
 * flag of the resources that are still there. The numbered `resources` batches of one graph are put
 * together in memory by ./resource-graph-intake.ts, which stores the whole graph in one call.
 */
import type { Resource } from '../../protocol/frames-bus.ts';
import type { QueryableResource, ResourceQuery } from './resource-query.ts';

/** A stored resource. */
export interface StoredResource extends QueryableResource {
  edges: string[];
  runId: string | null;
}

/** Resources and flagged resources of one worker+plugin. */
export interface ResourceCount {
  worker: string;
  plugin: string;
  resources: number;
  flagged: number;
  /** The latest `collectedAt` of the graph (ms). */
  collectedAt: number;
}

/**
 * The resource store: every method returns a promise that resolves once the change is durable on the
 * backend; calls take effect in the order they are made; each method is atomic on its own.
 */
export interface ResourceStore {
  /** Replaces the graph of a worker+plugin with `resources`, keeping `clean` for the ids still there; atomic. */
  replaceGraph(worker: string, plugin: string, resources: readonly Resource[], at: number, runId: string | null): Promise<void>;
  /** Stores a plan: the listed ids are flagged, every other resource of the worker+plugin is not; atomic. Returns how many were flagged. */
  setFlags(worker: string, plugin: string, ids: readonly string[]): Promise<number>;
  /** The flagged ids of a worker, by plugin, each list sorted. */
  flagged(worker: string): Promise<Record<string, string[]>>;
  /** Updates the stored tags of one resource (after a `tag` task succeeded); false when it is not stored. */
  setTags(worker: string, plugin: string, id: string, tags: Record<string, string>): Promise<boolean>;
  /** Resources matching a query, ordered by worker, plugin and id; at most `limit` (default 10,000). */
  search(query: ResourceQuery, limit?: number): Promise<StoredResource[]>;
  /** How many resources each worker+plugin has, ordered by worker and plugin. */
  counts(): Promise<ResourceCount[]>;
  /** Writes what is queued, then closes. */
  close(): Promise<void>;
}
