/**
 * The SQL of the SQLite resource backend, synchronous (better-sqlite3): one method per ResourceStore
 * operation. ./sqlite-resource-store.ts runs these inside group commits; nothing else should call them.
 * The table is `RESOURCE_STEPS` in src/store/schema-steps.ts, applied by the file's one migration runner.
 */
import type Database from 'better-sqlite3';
import type { Resource } from '../../protocol/frames-bus.ts';
import { migrate } from '../../store/migrations.ts';
import { statementCache } from '../../store/sqlite-connection.ts';
import { matchesQuery, type ResourceQuery } from './resource-query.ts';
import type { ResourceCount, StoredResource } from './resource-store.ts';

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

/** The `resources` table on one better-sqlite3 connection, synchronous. */
export class SqliteResourceTables {
  private readonly stmt: (sql: string) => Database.Statement;

  constructor(readonly db: Database.Database) {
    migrate(db);
    this.stmt = statementCache(db);
  }

  /** Replaces the graph of a worker+plugin, keeping `clean` for the resources still there. */
  replaceGraph(worker: string, plugin: string, resources: readonly Resource[], at: number, runId: string | null): void {
    this.db.transaction(() => {
      const flagged = new Set(
        (this.stmt('SELECT id FROM resources WHERE worker = ? AND plugin = ? AND clean = 1').all(worker, plugin) as Array<{ id: string }>).map((r) => r.id),
      );
      this.stmt('DELETE FROM resources WHERE worker = ? AND plugin = ?').run(worker, plugin);
      const insert = this.stmt(
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
      this.stmt('UPDATE resources SET clean = 0 WHERE worker = ? AND plugin = ?').run(worker, plugin);
      const flag = this.stmt('UPDATE resources SET clean = 1 WHERE worker = ? AND plugin = ? AND id = ?');
      let n = 0;
      for (const id of ids) n += flag.run(worker, plugin, id).changes;
      return n;
    })();
  }

  /** The flagged ids of a worker, by plugin. */
  flagged(worker: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const r of this.stmt('SELECT plugin, id FROM resources WHERE worker = ? AND clean = 1 ORDER BY plugin, id').all(worker) as Array<{ plugin: string; id: string }>) {
      (out[r.plugin] ??= []).push(r.id);
    }
    return out;
  }

  /** Updates the stored tags of one resource (after a `tag` task succeeded). */
  setTags(worker: string, plugin: string, id: string, tags: Record<string, string>): boolean {
    return this.stmt('UPDATE resources SET tags = ? WHERE worker = ? AND plugin = ? AND id = ?').run(JSON.stringify(tags), worker, plugin, id).changes === 1;
  }

  /** Resources matching a query, ordered by worker, plugin and id; at most `limit`. */
  search(query: ResourceQuery, limit = 10_000): StoredResource[] {
    // The language has regexes and attribute paths: filtering in JS keeps it one implementation. An
    // `id = X` comparison (the common lookup) narrows the scan through the index first.
    const byId = query.all.find((c) => c.key === 'id' && c.op === '=');
    const rows = byId
      ? (this.stmt('SELECT * FROM resources WHERE id = ? ORDER BY worker, plugin, id').all(byId.value) as ResourceRecord[])
      : (this.stmt('SELECT * FROM resources ORDER BY worker, plugin, id').iterate() as Iterable<ResourceRecord>);
    const out: StoredResource[] = [];
    for (const row of rows) {
      const resource = toResource(row);
      if (matchesQuery(query, resource)) out.push(resource);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** How many resources each worker+plugin has. */
  counts(): ResourceCount[] {
    return (
      this.stmt('SELECT worker, plugin, count(*) AS resources, sum(clean) AS flagged, max(collected_at) AS collectedAt FROM resources GROUP BY worker, plugin ORDER BY worker, plugin')
        .all() as ResourceCount[]
    ).map((r) => ({ ...r, flagged: r.flagged ?? 0 }));
  }
}
