/**
 * The latest resource graph of each worker and plugin, in the hub's SQLite file (table `resources`,
 * created here). A `collect` answer arrives as numbered `resources` batches; the last one replaces the
 * previous graph of that worker+plugin in one transaction. A batch out of order (one was lost on a
 * reconnect) discards the graph being received: the worker resends it whole with its cached answer.
 *
 * `desired.clean` is the `clean` column: `resources_flag` sets it for the listed ids of a worker+plugin
 * and clears it for the others (a plan replaces the previous plan). A new graph keeps the flag of the
 * resources that are still there.
 */
import type Database from 'better-sqlite3';
import type { Resource } from '../../protocol/frames-bus.ts';
import { matchesQuery, type QueryableResource, type ResourceQuery } from './resource-query.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS resources (
  worker TEXT NOT NULL,
  plugin TEXT NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  attrs TEXT NOT NULL,
  tags TEXT NOT NULL,
  edges TEXT NOT NULL,
  clean INTEGER NOT NULL DEFAULT 0,
  collected_at INTEGER NOT NULL,
  run_id TEXT,
  PRIMARY KEY (worker, plugin, id)
);
CREATE INDEX IF NOT EXISTS resources_by_id ON resources(id);
`;

/** A stored resource. */
export interface StoredResource extends QueryableResource {
  edges: string[];
  runId: string | null;
}

interface ResourceRecord {
  worker: string;
  plugin: string;
  id: string;
  kind: string;
  attrs: string;
  tags: string;
  edges: string;
  clean: number;
  collected_at: number;
  run_id: string | null;
}

const toResource = (r: ResourceRecord): StoredResource => ({
  worker: r.worker,
  plugin: r.plugin,
  id: r.id,
  kind: r.kind,
  attrs: JSON.parse(r.attrs) as Record<string, unknown>,
  tags: JSON.parse(r.tags) as Record<string, string>,
  edges: JSON.parse(r.edges) as string[],
  clean: r.clean === 1,
  collectedAt: r.collected_at,
  runId: r.run_id,
});

interface PendingGraph {
  next: number;
  resources: Resource[];
}

/** What happened to one `resources` batch. */
export type BatchOutcome = { stored: false; complete: false } | { stored: true; complete: false } | { stored: true; complete: true; count: number } | { stored: false; error: string };

/** The `resources` table and the graphs being received. */
export class ResourceStore {
  private readonly pending = new Map<string, PendingGraph>();

  constructor(readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  /**
   * Takes one batch of a graph (`re` is the collect message id). Batch 0 starts a graph (and drops an
   * unfinished one of the same worker+plugin); the `last` batch stores it.
   */
  addBatch(worker: string, plugin: string, re: string, batch: number, last: boolean, resources: Resource[], at: number, runId: string | null): BatchOutcome {
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
    this.replaceGraph(worker, plugin, graph.resources, at, runId);
    return { stored: true, complete: true, count: graph.resources.length };
  }

  /** Replaces the graph of a worker+plugin, keeping `clean` for the resources still there. */
  replaceGraph(worker: string, plugin: string, resources: readonly Resource[], at: number, runId: string | null): void {
    this.db.transaction(() => {
      const flagged = new Set(
        (this.db.prepare('SELECT id FROM resources WHERE worker = ? AND plugin = ? AND clean = 1').all(worker, plugin) as Array<{ id: string }>).map((r) => r.id),
      );
      this.db.prepare('DELETE FROM resources WHERE worker = ? AND plugin = ?').run(worker, plugin);
      const insert = this.db.prepare(
        `INSERT OR REPLACE INTO resources (worker, plugin, id, kind, attrs, tags, edges, clean, collected_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const r of resources) {
        insert.run(worker, plugin, r.id, r.kind, JSON.stringify(r.attrs), JSON.stringify(r.tags), JSON.stringify(r.edges), flagged.has(r.id) ? 1 : 0, at, runId);
      }
    })();
  }

  /** Stores a plan: the listed ids are flagged, every other resource of the worker+plugin is not. Returns how many were flagged. */
  setFlags(worker: string, plugin: string, ids: readonly string[]): number {
    return this.db.transaction(() => {
      this.db.prepare('UPDATE resources SET clean = 0 WHERE worker = ? AND plugin = ?').run(worker, plugin);
      const flag = this.db.prepare('UPDATE resources SET clean = 1 WHERE worker = ? AND plugin = ? AND id = ?');
      let n = 0;
      for (const id of ids) n += flag.run(worker, plugin, id).changes;
      return n;
    })();
  }

  /** The flagged ids of a worker, by plugin. */
  flagged(worker: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const r of this.db.prepare('SELECT plugin, id FROM resources WHERE worker = ? AND clean = 1 ORDER BY plugin, id').all(worker) as Array<{ plugin: string; id: string }>) {
      (out[r.plugin] ??= []).push(r.id);
    }
    return out;
  }

  /** Updates the stored tags of one resource (after a `tag` task succeeded). */
  setTags(worker: string, plugin: string, id: string, tags: Record<string, string>): boolean {
    return this.db.prepare('UPDATE resources SET tags = ? WHERE worker = ? AND plugin = ? AND id = ?').run(JSON.stringify(tags), worker, plugin, id).changes === 1;
  }

  /** Resources matching a query, ordered by worker, plugin and id; at most `limit`. */
  search(query: ResourceQuery, limit = 10_000): StoredResource[] {
    // The language has regexes and attribute paths: filtering in JS keeps it one implementation. An
    // `id = X` comparison (the common lookup) narrows the scan through the index first.
    const byId = query.all.find((c) => c.key === 'id' && c.op === '=');
    const rows = byId
      ? (this.db.prepare('SELECT * FROM resources WHERE id = ? ORDER BY worker, plugin, id').all(byId.value) as ResourceRecord[])
      : (this.db.prepare('SELECT * FROM resources ORDER BY worker, plugin, id').iterate() as Iterable<ResourceRecord>);
    const out: StoredResource[] = [];
    for (const row of rows) {
      const resource = toResource(row);
      if (matchesQuery(query, resource)) out.push(resource);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** How many resources each worker+plugin has. */
  counts(): Array<{ worker: string; plugin: string; resources: number; flagged: number; collectedAt: number }> {
    return (
      this.db
        .prepare('SELECT worker, plugin, count(*) AS resources, sum(clean) AS flagged, max(collected_at) AS collectedAt FROM resources GROUP BY worker, plugin ORDER BY worker, plugin')
        .all() as Array<{ worker: string; plugin: string; resources: number; flagged: number; collectedAt: number }>
    ).map((r) => ({ ...r, flagged: r.flagged ?? 0 }));
  }
}
