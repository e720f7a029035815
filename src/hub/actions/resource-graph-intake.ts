/**
 * Puts together the numbered `resources` batches of a `collect` answer and stores the graph whole, in
 * one {@link ResourceStore.replaceGraph}, once its `last` batch arrives. A batch out of order (one was
 * lost on a reconnect) discards the graph being received: the worker resends it whole with its cached
 * answer. The graphs being received live in this hub's memory only: they are bytes in flight, not state.
 */
import type { Resource } from '../../protocol/frames-bus.ts';
import type { ResourceStore } from './resource-store.ts';

interface PendingGraph {
  next: number;
  resources: Resource[];
}

/** What happened to one `resources` batch. */
export type BatchOutcome = { stored: false; complete: false } | { stored: true; complete: false } | { stored: true; complete: true; count: number } | { stored: false; error: string };

/** The graphs being received, and where finished ones go. */
export class ResourceGraphIntake {
  private readonly pending = new Map<string, PendingGraph>();

  constructor(private readonly store: Pick<ResourceStore, 'replaceGraph'>) {}

  /**
   * Takes one batch of a graph (`re` is the collect message id). Batch 0 starts a graph (and drops an
   * unfinished one of the same worker+plugin); the `last` batch stores it, and the promise resolves
   * once it is stored.
   */
  async addBatch(worker: string, plugin: string, re: string, batch: number, last: boolean, resources: Resource[], at: number, runId: string | null): Promise<BatchOutcome> {
    const key = `${worker}\u0000${plugin}\u0000${re}`;
    if (batch === 0) {
      for (const k of this.pending.keys()) if (k.startsWith(`${worker}\u0000${plugin}\u0000`)) this.pending.delete(k);
      this.pending.set(key, { next: 0, resources: [] });
    }
    const graph = this.pending.get(key);
    if (!graph || graph.next !== batch) {
      this.pending.delete(key);
      return { stored: false, error: `batch ${batch} of the ${plugin} graph arrived out of order (expected ${graph?.next ?? 0}); the graph is discarded` };
    }
    graph.resources.push(...resources);
    graph.next += 1;
    if (!last) return { stored: true, complete: false };
    this.pending.delete(key);
    await this.store.replaceGraph(worker, plugin, graph.resources, at, runId);
    return { stored: true, complete: true, count: graph.resources.length };
  }
}
