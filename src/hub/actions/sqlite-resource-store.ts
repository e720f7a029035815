/**
 * {@link ResourceStore} on SQLite: the statements of ./sqlite-resource-tables.ts run through a
 * {@link GroupCommit}; each promise resolves only after the commit that holds the change.
 */
import type Database from 'better-sqlite3';
import type { Resource } from '../../protocol/frames-bus.ts';
import { groupCommitOn, type GroupCommit } from '../../store/group-commit.ts';
import type { ResourceQuery } from './resource-query.ts';
import type { ResourceCount, ResourceStore, StoredResource } from './resource-store.ts';
import { SqliteResourceTables } from './sqlite-resource-tables.ts';

/** A {@link ResourceStore} on one better-sqlite3 connection (it does not close the connection). */
export class SqliteResourceStore implements ResourceStore {
  private readonly tables: SqliteResourceTables;
  private readonly batch: GroupCommit;

  /** `commit`: the group commit to share with other stores on the same connection. */
  constructor(db: Database.Database, options: { commit?: GroupCommit } = {}) {
    this.tables = new SqliteResourceTables(db);
    this.batch = groupCommitOn(db, options.commit);
  }

  replaceGraph(worker: string, plugin: string, resources: readonly Resource[], at: number, runId: string | null): Promise<void> {
    return this.batch.run(() => this.tables.replaceGraph(worker, plugin, resources, at, runId));
  }

  setFlags(worker: string, plugin: string, ids: readonly string[]): Promise<number> {
    return this.batch.run(() => this.tables.setFlags(worker, plugin, ids));
  }

  flagged(worker: string): Promise<Record<string, string[]>> {
    return this.batch.run(() => this.tables.flagged(worker));
  }

  setTags(worker: string, plugin: string, id: string, tags: Record<string, string>): Promise<boolean> {
    return this.batch.run(() => this.tables.setTags(worker, plugin, id, tags));
  }

  search(query: ResourceQuery, limit?: number): Promise<StoredResource[]> {
    return this.batch.run(() => this.tables.search(query, limit));
  }

  counts(): Promise<ResourceCount[]> {
    return this.batch.run(() => this.tables.counts());
  }

  close(): Promise<void> {
    return this.batch.drained();
  }
}
