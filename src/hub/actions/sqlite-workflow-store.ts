/**
 * {@link WorkflowStore} on SQLite, the embedded default: the statements of ./sqlite-workflow-tables.ts
 * run through a {@link GroupCommit}, so the workflow writes of one event-loop turn (a burst of answers,
 * a step's end and the run's next step) share one transaction, and each promise resolves only after it.
 */
import type Database from 'better-sqlite3';
import type { WireError } from '../../errors.ts';
import { groupCommitOn, type GroupCommit } from '../../store/group-commit.ts';
import { DEFAULT_HUB_ID } from '../tasks/task-store.ts';
import { SqliteWorkflowTables } from './sqlite-workflow-tables.ts';
import type { NewRun, NewStep, RunDetail, RunPatch, RunRow, StepPatch, StepRow, StoredRun, WorkflowStore, WorkflowStoreOptions } from './workflow-store.ts';

/** Options of the SQLite backends of the actions feature. */
export interface SqliteActionsStoreOptions extends WorkflowStoreOptions {
  /** The group commit to share with other stores on the same connection. @default one of its own */
  commit?: GroupCommit;
}

/** A {@link WorkflowStore} on one better-sqlite3 connection (it does not close the connection). */
export class SqliteWorkflowStore implements WorkflowStore {
  readonly hubId: string;
  private readonly tables: SqliteWorkflowTables;
  private readonly batch: GroupCommit;

  constructor(db: Database.Database, options: SqliteActionsStoreOptions = {}) {
    this.hubId = options.hubId ?? DEFAULT_HUB_ID;
    this.tables = new SqliteWorkflowTables(db, this.hubId);
    this.batch = groupCommitOn(db, options.commit);
  }

  createRun(run: NewRun): Promise<void> {
    return this.batch.run(() => this.tables.createRun(run));
  }

  updateRun(id: string, patch: RunPatch): Promise<void> {
    return this.batch.run(() => this.tables.updateRun(id, patch));
  }

  getStoredRun(id: string): Promise<StoredRun | undefined> {
    return this.batch.run(() => this.tables.getStoredRun(id));
  }

  activeRuns(): Promise<StoredRun[]> {
    return this.batch.run(() => this.tables.activeRuns());
  }

  adoptRuns(fromHub: string): Promise<string[]> {
    return this.batch.run(() => this.tables.adoptRuns(fromHub));
  }

  activeRunsOf(workflow: string): Promise<StoredRun[]> {
    return this.batch.run(() => this.tables.activeRunsOf(workflow));
  }

  listRuns(limit?: number, workflow?: string): Promise<RunRow[]> {
    return this.batch.run(() => this.tables.listRuns(limit, workflow));
  }

  resolveRunId(idOrPrefix: string): Promise<string> {
    return this.batch.run(() => this.tables.resolveRunId(idOrPrefix));
  }

  startStep(step: NewStep): Promise<void> {
    return this.batch.run(() => this.tables.startStep(step));
  }

  updateStep(messageId: string, patch: StepPatch): Promise<void> {
    return this.batch.run(() => this.tables.updateStep(messageId, patch));
  }

  getStep(runId: string, index: number): Promise<StepRow | undefined> {
    return this.batch.run(() => this.tables.getStep(runId, index));
  }

  markSent(messageId: string, subscribers: readonly string[], at: number): Promise<void> {
    return this.batch.run(() => this.tables.markSent(messageId, subscribers, at));
  }

  recordError(messageId: string, subscriber: string, error: WireError): Promise<void> {
    return this.batch.run(() => this.tables.recordError(messageId, subscriber, error));
  }

  recordProgress(messageId: string, subscriber: string, current: number, total: number, message: string | null): Promise<void> {
    return this.batch.run(() => this.tables.recordProgress(messageId, subscriber, current, total, message));
  }

  addMessage(messageId: string, subscriber: string, at: number, level: string, message: string): Promise<boolean> {
    return this.batch.run(() => this.tables.addMessage(messageId, subscriber, at, level, message));
  }

  pruneRuns(before: number): Promise<number> {
    return this.batch.run(() => this.tables.pruneRuns(before));
  }

  getRun(idOrPrefix: string): Promise<RunDetail> {
    return this.batch.run(() => this.tables.getRun(idOrPrefix));
  }

  close(): Promise<void> {
    return this.batch.drained();
  }
}
