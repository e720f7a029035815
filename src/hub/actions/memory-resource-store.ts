/**
 * {@link ResourceStore} in memory: for tests and benchmarks without persistence. Each method applies
 * its whole change before it returns (atomic, in call order); resources handed out are copies.
 */
import type { Resource } from '../../protocol/frames-bus.ts';
import { matchesQuery, type ResourceQuery } from './resource-query.ts';
import type { ResourceCount, ResourceStore, StoredResource } from './resource-store.ts';

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const graphKey = (worker: string, plugin: string) => `${worker}\u0000${plugin}`;

/** A {@link ResourceStore} holding each worker+plugin's graph in a map. */
export class MemoryResourceStore implements ResourceStore {
  /** Graphs by worker+plugin, then resource id. */
  private readonly graphs = new Map<string, Map<string, StoredResource>>();

  async replaceGraph(worker: string, plugin: string, resources: readonly Resource[], at: number, runId: string | null): Promise<void> {
    const key = graphKey(worker, plugin);
    const old = this.graphs.get(key);
    const graph = new Map<string, StoredResource>();
    for (const r of resources) {
      graph.set(r.id, {
        worker,
        plugin,
        id: r.id,
        kind: r.kind,
        attrs: structuredClone(r.attrs),
        tags: { ...r.tags },
        edges: [...r.edges],
        clean: old?.get(r.id)?.clean ?? false,
        collectedAt: at,
        runId,
      });
    }
    if (graph.size === 0) this.graphs.delete(key);
    else this.graphs.set(key, graph);
  }

  async setFlags(worker: string, plugin: string, ids: readonly string[]): Promise<number> {
    const graph = this.graphs.get(graphKey(worker, plugin));
    if (!graph) return 0;
    for (const r of graph.values()) r.clean = false;
    let n = 0;
    for (const id of ids) {
      const r = graph.get(id);
      if (!r) continue;
      r.clean = true;
      n += 1;
    }
    return n;
  }

  async flagged(worker: string): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const r of this.sorted()) if (r.worker === worker && r.clean) (out[r.plugin] ??= []).push(r.id);
    return out;
  }

  async setTags(worker: string, plugin: string, id: string, tags: Record<string, string>): Promise<boolean> {
    const r = this.graphs.get(graphKey(worker, plugin))?.get(id);
    if (r) r.tags = { ...tags };
    return r !== undefined;
  }

  async search(query: ResourceQuery, limit = 10_000): Promise<StoredResource[]> {
    const out: StoredResource[] = [];
    for (const r of this.sorted()) {
      if (out.length >= limit) break;
      if (matchesQuery(query, r)) out.push(structuredClone(r));
    }
    return out;
  }

  async counts(): Promise<ResourceCount[]> {
    const out = new Map<string, ResourceCount>();
    for (const r of this.sorted()) {
      const key = graphKey(r.worker, r.plugin);
      const count = out.get(key) ?? { worker: r.worker, plugin: r.plugin, resources: 0, flagged: 0, collectedAt: r.collectedAt };
      count.resources += 1;
      if (r.clean) count.flagged += 1;
      count.collectedAt = Math.max(count.collectedAt, r.collectedAt);
      out.set(key, count);
    }
    return [...out.values()];
  }

  async close(): Promise<void> {}

  /** Every resource by worker, plugin and id. */
  private sorted(): StoredResource[] {
    return [...this.graphs.values()]
      .flatMap((graph) => [...graph.values()])
      .sort((a, b) => compare(a.worker, b.worker) || compare(a.plugin, b.plugin) || compare(a.id, b.id));
  }
}
