/**
 * The registry's SQLite statements, synchronous, on one better-sqlite3 connection: what
 * ./sqlite-store.ts runs inside its group commit (./group-commit.ts). A method of more than one statement
 * wraps itself in `db.transaction()`, a savepoint inside the batch, so it is atomic on its own and a
 * failure rolls back only its own writes.
 */
import type Database from 'better-sqlite3';
import { ClaError, ErrorCode } from '../errors.ts';
import { savepointRunner, statementCache } from './sqlite-connection.ts';
import { isFailure, unknownWorkerError } from './store.ts';
import type { AgentInfo, InsertJobOptions, JobEnd, JobKind, JobOutcome, JobRow, NewJob, NewMembership, NewWorker, ProjectRow, SettingsPatch, WorkerPatch, WorkerRow } from './store.ts';

interface ProjectRecord { name: string; passkey: string | null; passkey_hash: string | null; created_at: number }
interface WorkerRecord {
  id: string;
  token_hash: string;
  created_at: number;
  agent: string | null;
  last_seen: number | null;
  connected_since: number | null;
  disabled: number;
  jobs_run: number;
  failures: number;
  projects: string | null;
}
interface JobRecord {
  id: string;
  worker_id: string;
  kind: string;
  command: string;
  started_at: number;
  owner: string | null;
  finished_at: number | null;
  exit_code: number | null;
  signal: string | null;
  outcome: string | null;
  error_code: string | null;
  output: Buffer | null;
  output_bytes: number;
}

// Projects are aggregated as a JSON array so one query returns a whole worker.
const WORKER_SELECT = `SELECT w.*, (SELECT json_group_array(project) FROM
  (SELECT project FROM worker_projects WHERE worker_id = w.id ORDER BY project)) AS projects FROM workers w`;

/** Maps {@link WorkerPatch} fields to columns; the only names ever put into SQL text. */
const PATCH_COLUMNS = {
  tokenHash: 'token_hash',
  agent: 'agent',
  lastSeen: 'last_seen',
  connectedSince: 'connected_since',
  disabled: 'disabled',
} as const satisfies Record<keyof WorkerPatch, string>;

const toProject = (r: ProjectRecord): ProjectRow => ({
  name: r.name,
  passkey: r.passkey,
  passkeyHash: r.passkey_hash,
  createdAt: r.created_at,
});

const toWorker = (r: WorkerRecord): WorkerRow => ({
  id: r.id,
  tokenHash: r.token_hash,
  createdAt: r.created_at,
  // Sorted here too: SQLite does not promise that json_group_array keeps the subquery's order.
  projects: r.projects === null ? [] : (JSON.parse(r.projects) as string[]).sort(),
  agent: r.agent === null ? null : (JSON.parse(r.agent) as AgentInfo),
  lastSeen: r.last_seen,
  connectedSince: r.connected_since,
  disabled: r.disabled !== 0,
  jobsRun: r.jobs_run,
  failures: r.failures,
});

const toJob = (r: JobRecord): JobRow => ({
  id: r.id,
  workerId: r.worker_id,
  kind: r.kind as JobKind,
  command: JSON.parse(r.command) as unknown,
  startedAt: r.started_at,
  owner: r.owner,
  finishedAt: r.finished_at,
  exitCode: r.exit_code,
  signal: r.signal,
  outcome: r.outcome as JobOutcome | null,
  errorCode: r.error_code,
  output: r.output === null ? null : new Uint8Array(r.output),
  outputBytes: r.output_bytes,
});

/** The registry's operations on one connection, synchronous (see the file comment). */
export class SqliteRegistryTables {
  /** Prepared statements by SQL text. */
  private readonly stmt: (sql: string) => Database.Statement;

  /** Runs a function in a savepoint (see {@link savepointRunner}). */
  private readonly transaction: <T>(fn: () => T) => T;

  constructor(private readonly db: Database.Database) {
    this.stmt = statementCache(db);
    this.transaction = savepointRunner(db);
  }

  createProject(row: ProjectRow): boolean {
    return this.stmt('INSERT OR IGNORE INTO projects (name, passkey, passkey_hash, created_at) VALUES (?, ?, ?, ?)')
      .run(row.name, row.passkey, row.passkeyHash, row.createdAt).changes === 1;
  }

  getProject(name: string): ProjectRow | undefined {
    const r = this.stmt('SELECT * FROM projects WHERE name = ?').get(name) as ProjectRecord | undefined;
    return r && toProject(r);
  }

  listProjects(): ProjectRow[] {
    return (this.stmt('SELECT * FROM projects ORDER BY created_at, name').all() as ProjectRecord[]).map(toProject);
  }

  findProjectByPasskeyHash(passkeyHash: string): ProjectRow | undefined {
    const r = this.stmt('SELECT * FROM projects WHERE passkey_hash = ?').get(passkeyHash) as ProjectRecord | undefined;
    return r && toProject(r);
  }

  setProjectPasskey(name: string, passkey: string | null, passkeyHash: string | null): boolean {
    return this.stmt('UPDATE projects SET passkey = ?, passkey_hash = ? WHERE name = ?').run(passkey, passkeyHash, name).changes === 1;
  }

  addEnv(name: string): boolean {
    return this.stmt('INSERT OR IGNORE INTO envs (name) VALUES (?)').run(name).changes === 1;
  }

  listEnvs(): string[] {
    return this.stmt('SELECT name FROM envs ORDER BY name').pluck().all() as string[];
  }

  missingEnvs(names: readonly string[]): string[] {
    const has = this.stmt('SELECT 1 FROM envs WHERE name = ?');
    return [...new Set(names)].filter((name) => has.get(name) === undefined);
  }

  createWorker(row: NewWorker, membership?: NewMembership, settings?: SettingsPatch): boolean {
    return this.transaction(() => {
      const agent = row.agent == null ? null : JSON.stringify(row.agent);
      const created = this.stmt('INSERT OR IGNORE INTO workers (id, token_hash, created_at, agent) VALUES (?, ?, ?, ?)')
        .run(row.id, row.tokenHash, row.createdAt, agent).changes === 1;
      if (!created) return false;
      // Throws (rolling the worker back with it) when the project is missing.
      if (membership) this.addWorkerProject(row.id, membership.project, membership.at);
      if (settings) this.applySettings(settings);
      return true;
    });
  }

  getWorker(id: string): WorkerRow | undefined {
    const r = this.stmt(`${WORKER_SELECT} WHERE w.id = ?`).get(id) as WorkerRecord | undefined;
    return r && toWorker(r);
  }

  listWorkers(project?: string): WorkerRow[] {
    const rows = (
      project === undefined
        ? this.stmt(`${WORKER_SELECT} ORDER BY w.id`).all()
        : this.stmt(`${WORKER_SELECT} WHERE w.id IN (SELECT worker_id FROM worker_projects WHERE project = ?) ORDER BY w.id`).all(project)
    ) as WorkerRecord[];
    return rows.map(toWorker);
  }

  updateWorker(id: string, patch: WorkerPatch): boolean {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const key of Object.keys(PATCH_COLUMNS) as (keyof WorkerPatch)[]) {
      const value = patch[key];
      if (value === undefined) continue;
      sets.push(`${PATCH_COLUMNS[key]} = ?`);
      if (key === 'agent') values.push(value === null ? null : JSON.stringify(value));
      else if (key === 'disabled') values.push(value ? 1 : 0);
      else values.push(value);
    }
    if (sets.length === 0) return this.stmt('SELECT 1 FROM workers WHERE id = ?').get(id) !== undefined;
    return this.stmt(`UPDATE workers SET ${sets.join(', ')} WHERE id = ?`).run(...values, id).changes === 1;
  }

  clearConnections(): number {
    return this.stmt('UPDATE workers SET connected_since = NULL WHERE connected_since IS NOT NULL').run().changes;
  }

  deleteWorker(id: string): boolean {
    return this.stmt('DELETE FROM workers WHERE id = ?').run(id).changes === 1;
  }

  addWorkerProject(id: string, project: string, at: number, patch?: WorkerPatch): boolean {
    return this.transaction(() => {
      if (this.stmt('SELECT 1 FROM workers WHERE id = ?').get(id) === undefined) {
        throw unknownWorkerError(id);
      }
      if (this.stmt('SELECT 1 FROM projects WHERE name = ?').get(project) === undefined) {
        throw new ClaError(ErrorCode.UnknownProject, `No project named \`${project}\`.`, { data: { project } });
      }
      const added = this.stmt('INSERT OR IGNORE INTO worker_projects (worker_id, project, added_at) VALUES (?, ?, ?)').run(id, project, at).changes === 1;
      if (added && patch) this.updateWorker(id, patch);
      return added;
    });
  }

  leaveProject(id: string, project: string): string[] | undefined {
    return this.transaction(() => {
      if (this.stmt('DELETE FROM worker_projects WHERE worker_id = ? AND project = ?').run(id, project).changes !== 1) return undefined;
      const remaining = this.stmt('SELECT project FROM worker_projects WHERE worker_id = ? ORDER BY project').pluck().all(id) as string[];
      if (remaining.length === 0) this.deleteWorker(id);
      return remaining;
    });
  }

  insertJob(job: NewJob, options: InsertJobOptions = {}): boolean {
    const values = [job.id, job.workerId, job.kind, JSON.stringify(job.command ?? null), job.startedAt, job.owner];
    if (!options.requireWorker) {
      return this.stmt('INSERT OR IGNORE INTO jobs (id, worker_id, kind, command, started_at, owner) VALUES (?, ?, ?, ?, ?, ?)').run(...values).changes === 1;
    }
    // One statement on the hot path: the insert happens only when the worker exists; why it did not is
    // read only when it did not.
    const inserted = this.stmt(
      'INSERT OR IGNORE INTO jobs (id, worker_id, kind, command, started_at, owner) SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM workers WHERE id = ?)',
    ).run(...values, job.workerId).changes === 1;
    if (!inserted && this.stmt('SELECT 1 FROM workers WHERE id = ?').get(job.workerId) === undefined) throw unknownWorkerError(job.workerId);
    return inserted;
  }

  finishJob(id: string, end: JobEnd): JobRow | undefined {
    return this.transaction(() => this.finishJobStatements(id, end));
  }

  /** {@link finishJob}'s statements, run in one savepoint. */
  private finishJobStatements(id: string, end: JobEnd): JobRow | undefined {
    // RETURNING: the ended row comes back from the UPDATE itself, no SELECT.
    const ended = this.endJobStatement('*').get(...endJobValues(id, end)) as JobRecord | undefined;
    if (!ended) return undefined;
    const job = toJob(ended);
    this.countJob(job.workerId, end);
    return job;
  }

  /**
   * {@link finishJob} without reading the row back: only its worker's id (the hub's end of every job: the
   * whole row, its output and command, cost ~10 µs of the end's ~23 µs transaction, issue 13).
   */
  endJob(id: string, end: JobEnd): boolean {
    return this.transaction(() => {
      const workerId = this.endJobStatement('worker_id').pluck().get(...endJobValues(id, end)) as string | undefined;
      if (workerId === undefined) return false;
      this.countJob(workerId, end);
      return true;
    });
  }

  /** The UPDATE that ends a job once (values: {@link endJobValues}), returning `returning` of its row. */
  private endJobStatement(returning: '*' | 'worker_id') {
    return this.stmt(
      `UPDATE jobs SET finished_at = ?, exit_code = ?, signal = ?, outcome = ?, error_code = ?, output = ?, output_bytes = ?
       WHERE id = ? AND finished_at IS NULL RETURNING ${returning}`,
    );
  }

  /** One more job run on the worker, and one more failure when the job failed. */
  private countJob(workerId: string, end: JobEnd): void {
    this.stmt('UPDATE workers SET jobs_run = jobs_run + 1, failures = failures + ? WHERE id = ?').run(isFailure(end.outcome) ? 1 : 0, workerId);
  }

  getJob(id: string): JobRow | undefined {
    const r = this.stmt('SELECT * FROM jobs WHERE id = ?').get(id) as JobRecord | undefined;
    return r && toJob(r);
  }

  listUnfinishedJobs(): JobRow[] {
    return (this.stmt('SELECT * FROM jobs WHERE finished_at IS NULL ORDER BY started_at, rowid').all() as JobRecord[]).map(toJob);
  }

  closeLostJobs(owner: string, end: JobEnd): JobRow[] {
    return this.transaction(() => {
      const ids = this.stmt('SELECT id FROM jobs WHERE finished_at IS NULL AND (owner = ? OR owner IS NULL) ORDER BY started_at, rowid').pluck().all(owner) as string[];
      return ids.flatMap((id) => this.finishJob(id, end) ?? []);
    });
  }

  listRecentJobs(limit: number, workerId?: string): JobRow[] {
    // `LIMIT CAST(? AS INTEGER)`: a bare `LIMIT ?` is prepared again at every run (src/hub/tasks/sqlite-task-tables.ts).
    const rows = (
      workerId === undefined
        ? this.stmt('SELECT * FROM jobs ORDER BY started_at DESC, rowid DESC LIMIT CAST(? AS INTEGER)').all(limit)
        : this.stmt('SELECT * FROM jobs WHERE worker_id = ? ORDER BY started_at DESC, rowid DESC LIMIT CAST(? AS INTEGER)').all(workerId, limit)
    ) as JobRecord[];
    return rows.map(toJob);
  }

  setSetting(key: string, value: string): void {
    this.stmt('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  setSettingIfAbsent(key: string, value: string): boolean {
    return this.stmt('INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)').run(key, value).changes === 1;
  }

  getSetting(key: string): string | undefined {
    return this.stmt('SELECT value FROM settings WHERE key = ?').pluck().get(key) as string | undefined;
  }

  deleteSetting(key: string): boolean {
    return this.stmt('DELETE FROM settings WHERE key = ?').run(key).changes === 1;
  }

  private applySettings(settings: SettingsPatch): void {
    for (const [key, value] of Object.entries(settings)) {
      if (value === null) this.deleteSetting(key);
      else this.setSetting(key, value);
    }
  }
}

/** The values of the UPDATE that ends a job, in its placeholders' order. */
function endJobValues(id: string, end: JobEnd): unknown[] {
  return [end.finishedAt, end.exitCode, end.signal, end.outcome, end.errorCode, end.output ? Buffer.from(end.output) : null, end.outputBytes ?? 0, id];
}
