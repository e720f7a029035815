/**
 * {@link RegistryStore} on SQLite (better-sqlite3, with group commit: ./group-commit.ts). The schema (`REGISTRY_STEPS` in
 * ./schema-steps.ts) is brought up to date at open by the file's one migration runner, ./migrations.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ClaError, ErrorCode } from '../errors.ts';
import { GroupCommit } from './group-commit.ts';
import type { Logger } from '../logger.ts';
import { migrate } from './migrations.ts';
import { SCHEMA_STEPS } from './schema-steps.ts';
import { setConcurrencyPragmas } from './sqlite-connection.ts';
import { closeConnection } from './wal-checkpointer.ts';
import { SqliteRegistryTables } from './sqlite-registry-tables.ts';
import type { InsertJobOptions, JobEnd, JobRow, NewJob, NewMembership, NewWorker, ProjectRow, RegistryStore, SettingsPatch, WorkerPatch, WorkerRow } from './store.ts';

/**
 * A {@link RegistryStore} on one better-sqlite3 connection. Every call, read or write, runs through a
 * {@link GroupCommit}: the calls of one event-loop turn run in call order in one transaction, and each
 * promise settles after that commit, so a read sees every write made before it and nobody hears of a
 * write a crash could undo. Create it with {@link openSqliteStore}.
 */
export class SqliteStore implements RegistryStore {
  /** The underlying connection, for diagnostics, tests and the stores that share the file. */
  readonly db: Database.Database;
  private readonly tables: SqliteRegistryTables;
  private readonly batch: GroupCommit;
  private closing: Promise<void> | undefined;

  constructor(db: Database.Database) {
    this.db = db;
    this.tables = new SqliteRegistryTables(db);
    this.batch = new GroupCommit(db);
  }

  /** Transactions committed so far through this store's group commit (bench/run.ts prints them per exec round trip). */
  get commits(): number {
    return this.batch.commits;
  }

  /**
   * The connection's group commit, for the other stores a hub keeps on the same file (tasks, workflows,
   * resources): on one group commit the writes of one turn, whichever store makes them, are one
   * transaction, and nobody is answered before it. This store closes the connection: after the others.
   */
  get groupCommit(): GroupCommit {
    return this.batch;
  }

  createProject(row: ProjectRow): Promise<boolean> {
    return this.batch.run(() => this.tables.createProject(row));
  }

  getProject(name: string): Promise<ProjectRow | undefined> {
    return this.batch.run(() => this.tables.getProject(name));
  }

  listProjects(): Promise<ProjectRow[]> {
    return this.batch.run(() => this.tables.listProjects());
  }

  findProjectByPasskeyHash(passkeyHash: string): Promise<ProjectRow | undefined> {
    return this.batch.run(() => this.tables.findProjectByPasskeyHash(passkeyHash));
  }

  setProjectPasskey(name: string, passkey: string | null, passkeyHash: string | null): Promise<boolean> {
    return this.batch.run(() => this.tables.setProjectPasskey(name, passkey, passkeyHash));
  }

  addEnv(name: string): Promise<boolean> {
    return this.batch.run(() => this.tables.addEnv(name));
  }

  listEnvs(): Promise<string[]> {
    return this.batch.run(() => this.tables.listEnvs());
  }

  missingEnvs(names: readonly string[]): Promise<string[]> {
    return this.batch.run(() => this.tables.missingEnvs(names));
  }

  createWorker(row: NewWorker, membership?: NewMembership, settings?: SettingsPatch): Promise<boolean> {
    return this.batch.run(() => this.tables.createWorker(row, membership, settings));
  }

  getWorker(id: string): Promise<WorkerRow | undefined> {
    return this.batch.run(() => this.tables.getWorker(id));
  }

  getWorkers(ids: readonly string[]): Promise<Array<WorkerRow | undefined>> {
    return this.batch.run(() => ids.map((id) => this.tables.getWorker(id)));
  }

  listWorkers(project?: string): Promise<WorkerRow[]> {
    return this.batch.run(() => this.tables.listWorkers(project));
  }

  updateWorker(id: string, patch: WorkerPatch): Promise<boolean> {
    return this.batch.run(() => this.tables.updateWorker(id, patch));
  }

  clearConnections(): Promise<number> {
    return this.batch.run(() => this.tables.clearConnections());
  }

  deleteWorker(id: string): Promise<boolean> {
    return this.batch.run(() => this.tables.deleteWorker(id));
  }

  addWorkerProject(id: string, project: string, at: number, patch?: WorkerPatch): Promise<boolean> {
    return this.batch.run(() => this.tables.addWorkerProject(id, project, at, patch));
  }

  leaveProject(id: string, project: string): Promise<string[] | undefined> {
    return this.batch.run(() => this.tables.leaveProject(id, project));
  }

  insertJob(job: NewJob, options?: InsertJobOptions): Promise<boolean> {
    return this.batch.run(() => this.tables.insertJob(job, options));
  }

  finishJob(id: string, end: JobEnd): Promise<JobRow | undefined> {
    return this.batch.run(() => this.tables.finishJob(id, end));
  }

  endJob(id: string, end: JobEnd): Promise<boolean> {
    return this.batch.run(() => this.tables.endJob(id, end));
  }

  getJob(id: string): Promise<JobRow | undefined> {
    return this.batch.run(() => this.tables.getJob(id));
  }

  listUnfinishedJobs(): Promise<JobRow[]> {
    return this.batch.run(() => this.tables.listUnfinishedJobs());
  }

  closeLostJobs(owner: string, end: JobEnd): Promise<JobRow[]> {
    return this.batch.run(() => this.tables.closeLostJobs(owner, end));
  }

  listRecentJobs(limit: number, workerId?: string): Promise<JobRow[]> {
    return this.batch.run(() => this.tables.listRecentJobs(limit, workerId));
  }

  setSetting(key: string, value: string): Promise<void> {
    return this.batch.run(() => this.tables.setSetting(key, value));
  }

  setSettingIfAbsent(key: string, value: string): Promise<boolean> {
    return this.batch.run(() => this.tables.setSettingIfAbsent(key, value));
  }

  getSetting(key: string): Promise<string | undefined> {
    return this.batch.run(() => this.tables.getSetting(key));
  }

  deleteSetting(key: string): Promise<boolean> {
    return this.batch.run(() => this.tables.deleteSetting(key));
  }

  close(): Promise<void> {
    this.closing ??= this.batch.drained().then(() => closeConnection(this.db));
    return this.closing;
  }
}

/** Options for {@link openSqliteStore}. */
export interface OpenSqliteStoreOptions {
  /** Told when an existing file is upgraded to this version's schema: the steps before, the time after. */
  log?: Pick<Logger, 'info'>;
}

/**
 * Opens (creating if needed) the SQLite store at `file`, or an in-memory one for `':memory:'`. A new file
 * gets mode 0600 and its parent directory is created (0700) if missing: it holds passkeys in plaintext.
 */
export function openSqliteStore(file: string, options: OpenSqliteStoreOptions = {}): SqliteStore {
  const onDisk = file !== ':memory:' && file !== '';
  let created = false;
  if (onDisk) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
    try {
      // Create the file ourselves so it never exists with a wider mode, even briefly.
      fs.closeSync(fs.openSync(file, 'wx', 0o600));
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  const db = new Database(file);
  try {
    // openSync's mode passes through the umask, which can only narrow it; chmod makes it exactly 0600.
    if (created) fs.chmodSync(file, 0o600);
    setConcurrencyPragmas(db);
    db.pragma('foreign_keys = ON');
    const log = options.log;
    let started: number | undefined;
    const outcome = migrate(db, SCHEMA_STEPS, Date.now, (pending) => {
      started = performance.now();
      log?.info(
        { file, steps: pending.map((s) => `${s.part}:${s.name}`) },
        `Upgrading the data file ${file} to this cla-hub's schema (${pending.length} step${pending.length === 1 ? '' : 's'}); a large file takes a while, let it finish`,
      );
    });
    if (started !== undefined) log?.info({ file, ms: Math.round(performance.now() - started) }, `Data file upgraded: ${outcome.applied.length} schema step${outcome.applied.length === 1 ? '' : 's'} applied`);
  } catch (error) {
    db.close();
    throw error;
  }
  return new SqliteStore(db);
}
