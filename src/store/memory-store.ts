/**
 * {@link RegistryStore} in memory: for tests, and for a hub that keeps nothing between runs
 * (`createHub({ store: 'memory' })`, `cla-hub start --store memory`). Each call is applied at once, in
 * call order, as one atomic step (checks before any write), like one SQLite operation in its group
 * commit; its promise resolves after that. Rows handed out are copies, so callers never alias the
 * stored ones.
 */
import { ClaError, ErrorCode } from '../errors.ts';
import { isFailure, startedJobRow, unknownWorkerError } from './store.ts';
import type { InsertJobOptions, JobEnd, JobRow, NewJob, NewMembership, NewWorker, ProjectRow, RegistryStore, SettingsPatch, WorkerPatch, WorkerRow } from './store.ts';

/** A stored worker: its row without the projects, which live in {@link MemoryStore.memberships}. */
type WorkerRecord = Omit<WorkerRow, 'projects'>;

const byBinary = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const copy = <T>(value: T): T => structuredClone(value);

/** A {@link RegistryStore} on plain maps. */
export class MemoryStore implements RegistryStore {
  private readonly projects = new Map<string, ProjectRow>();
  private readonly envs = new Set<string>();
  private readonly workers = new Map<string, WorkerRecord>();
  /** Projects of each worker. */
  private readonly memberships = new Map<string, Set<string>>();
  /** Jobs in insertion order (the tie-break of the job lists). */
  private readonly jobs = new Map<string, JobRow>();
  private readonly settings = new Map<string, string>();
  private closed = false;

  async createProject(row: ProjectRow): Promise<boolean> {
    this.open();
    if (this.projects.has(row.name)) return false;
    if (row.passkeyHash !== null && this.findByHash(row.passkeyHash)) return false;
    this.projects.set(row.name, copy(row));
    return true;
  }

  async getProject(name: string): Promise<ProjectRow | undefined> {
    this.open();
    const row = this.projects.get(name);
    return row && copy(row);
  }

  async listProjects(): Promise<ProjectRow[]> {
    this.open();
    return [...this.projects.values()].sort((a, b) => a.createdAt - b.createdAt || byBinary(a.name, b.name)).map(copy);
  }

  async findProjectByPasskeyHash(passkeyHash: string): Promise<ProjectRow | undefined> {
    this.open();
    const row = this.findByHash(passkeyHash);
    return row && copy(row);
  }

  async setProjectPasskey(name: string, passkey: string | null, passkeyHash: string | null): Promise<boolean> {
    this.open();
    const row = this.projects.get(name);
    if (!row) return false;
    const holder = passkeyHash === null ? undefined : this.findByHash(passkeyHash);
    // The SQLite column is UNIQUE: another project's hash is refused the same way.
    if (holder && holder.name !== name) throw new ClaError(ErrorCode.Internal, 'Passkey hash already in use', { data: { project: name } });
    this.projects.set(name, { ...row, passkey, passkeyHash });
    return true;
  }

  async addEnv(name: string): Promise<boolean> {
    this.open();
    if (this.envs.has(name)) return false;
    this.envs.add(name);
    return true;
  }

  async listEnvs(): Promise<string[]> {
    this.open();
    return [...this.envs].sort(byBinary);
  }

  async missingEnvs(names: readonly string[]): Promise<string[]> {
    this.open();
    return [...new Set(names)].filter((name) => !this.envs.has(name));
  }

  async createWorker(row: NewWorker, membership?: NewMembership, settings?: SettingsPatch): Promise<boolean> {
    this.open();
    if (this.workers.has(row.id)) return false;
    if (membership && !this.projects.has(membership.project)) throw unknownProject(membership.project);
    this.workers.set(row.id, {
      id: row.id,
      tokenHash: row.tokenHash,
      createdAt: row.createdAt,
      agent: row.agent == null ? null : copy(row.agent),
      lastSeen: null,
      connectedSince: null,
      disabled: false,
      jobsRun: 0,
      failures: 0,
    });
    this.memberships.set(row.id, new Set(membership ? [membership.project] : []));
    if (settings) this.applySettings(settings);
    return true;
  }

  async getWorker(id: string): Promise<WorkerRow | undefined> {
    this.open();
    return this.worker(id);
  }

  async getWorkers(ids: readonly string[]): Promise<Array<WorkerRow | undefined>> {
    this.open();
    return ids.map((id) => this.worker(id));
  }

  async listWorkers(project?: string): Promise<WorkerRow[]> {
    this.open();
    const ids = [...this.workers.keys()].sort(byBinary);
    return ids.filter((id) => project === undefined || this.memberships.get(id)!.has(project)).map((id) => this.worker(id)!);
  }

  async updateWorker(id: string, patch: WorkerPatch): Promise<boolean> {
    this.open();
    return this.patchWorker(id, patch);
  }

  async clearConnections(): Promise<number> {
    this.open();
    let changed = 0;
    for (const [id, row] of this.workers) {
      if (row.connectedSince === null) continue;
      this.workers.set(id, { ...row, connectedSince: null });
      changed++;
    }
    return changed;
  }

  async deleteWorker(id: string): Promise<boolean> {
    this.open();
    this.memberships.delete(id);
    return this.workers.delete(id);
  }

  async addWorkerProject(id: string, project: string, _at: number, patch?: WorkerPatch): Promise<boolean> {
    this.open();
    if (!this.workers.has(id)) throw unknownWorkerError(id);
    if (!this.projects.has(project)) throw unknownProject(project);
    const projects = this.memberships.get(id)!;
    if (projects.has(project)) return false;
    projects.add(project);
    if (patch) this.patchWorker(id, patch);
    return true;
  }

  async leaveProject(id: string, project: string): Promise<string[] | undefined> {
    this.open();
    const projects = this.memberships.get(id);
    if (!projects?.delete(project)) return undefined;
    if (projects.size === 0) {
      this.workers.delete(id);
      this.memberships.delete(id);
    }
    return [...projects].sort(byBinary);
  }

  async insertJob(job: NewJob, options: InsertJobOptions = {}): Promise<boolean> {
    this.open();
    if (options.requireWorker && !this.workers.has(job.workerId)) throw unknownWorkerError(job.workerId);
    if (this.jobs.has(job.id)) return false;
    // Stored as JSON by the SQLite backend: the same round trip here (undefined becomes null).
    this.jobs.set(job.id, startedJobRow({ ...job, command: JSON.parse(JSON.stringify(job.command ?? null)) as unknown }));
    return true;
  }

  async finishJob(id: string, end: JobEnd): Promise<JobRow | undefined> {
    this.open();
    return this.finish(id, end);
  }

  async endJob(id: string, end: JobEnd): Promise<boolean> {
    this.open();
    return this.finish(id, end) !== undefined;
  }

  async getJob(id: string): Promise<JobRow | undefined> {
    this.open();
    const row = this.jobs.get(id);
    return row && copy(row);
  }

  async listUnfinishedJobs(): Promise<JobRow[]> {
    this.open();
    return this.byStart([...this.jobs.values()].filter((job) => job.finishedAt === null)).map(copy);
  }

  async closeLostJobs(owner: string, end: JobEnd): Promise<JobRow[]> {
    this.open();
    const lost = this.byStart([...this.jobs.values()].filter((job) => job.finishedAt === null && (job.owner === owner || job.owner === null)));
    return lost.map((job) => this.finish(job.id, end)!);
  }

  async listRecentJobs(limit: number, workerId?: string): Promise<JobRow[]> {
    this.open();
    const jobs = [...this.jobs.values()].filter((job) => workerId === undefined || job.workerId === workerId);
    return this.byStart(jobs).reverse().slice(0, limit).map(copy);
  }

  async setSetting(key: string, value: string): Promise<void> {
    this.open();
    this.settings.set(key, value);
  }

  async setSettingIfAbsent(key: string, value: string): Promise<boolean> {
    this.open();
    if (this.settings.has(key)) return false;
    this.settings.set(key, value);
    return true;
  }

  async getSetting(key: string): Promise<string | undefined> {
    this.open();
    return this.settings.get(key);
  }

  async deleteSetting(key: string): Promise<boolean> {
    this.open();
    return this.settings.delete(key);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private open(): void {
    if (this.closed) throw new ClaError(ErrorCode.Internal, 'The store is closed');
  }

  private findByHash(passkeyHash: string): ProjectRow | undefined {
    for (const row of this.projects.values()) if (row.passkeyHash === passkeyHash) return row;
    return undefined;
  }

  private worker(id: string): WorkerRow | undefined {
    const row = this.workers.get(id);
    return row && { ...copy(row), projects: [...this.memberships.get(id)!].sort(byBinary) };
  }

  private patchWorker(id: string, patch: WorkerPatch): boolean {
    const row = this.workers.get(id);
    if (!row) return false;
    const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as WorkerPatch;
    this.workers.set(id, { ...row, ...copy(defined) });
    return true;
  }

  private finish(id: string, end: JobEnd): JobRow | undefined {
    const job = this.jobs.get(id);
    if (!job || job.finishedAt !== null) return undefined;
    const output = end.output ? new Uint8Array(end.output) : null;
    const row: JobRow = { ...job, finishedAt: end.finishedAt, exitCode: end.exitCode, signal: end.signal, outcome: end.outcome, errorCode: end.errorCode, output, outputBytes: end.outputBytes ?? 0 };
    this.jobs.set(id, row);
    const worker = this.workers.get(job.workerId);
    if (worker) this.workers.set(job.workerId, { ...worker, jobsRun: worker.jobsRun + 1, failures: worker.failures + (isFailure(end.outcome) ? 1 : 0) });
    return copy(row);
  }

  /** Oldest start first, ties in insertion order (a stable sort of the insertion-ordered map). */
  private byStart(jobs: JobRow[]): JobRow[] {
    return jobs.sort((a, b) => a.startedAt - b.startedAt);
  }

  private applySettings(settings: SettingsPatch): void {
    for (const [key, value] of Object.entries(settings)) {
      if (value === null) this.settings.delete(key);
      else this.settings.set(key, value);
    }
  }
}

function unknownProject(project: string): ClaError {
  return new ClaError(ErrorCode.UnknownProject, `No project named \`${project}\`.`, { data: { project } });
}
