/**
 * The registry of a hub on an engine (issue 10): everything on the shared store (JetStream) except a few
 * settings that belong to one hub, kept in its own data file. Those are the admin token's hash (each hub
 * has its own admin token file beside its data file, and a hub starting without that file would otherwise
 * rotate the token every other hub's admins use) and `hub.id` (hubs on one engine must not share an id:
 * presence and job owners tell them apart by it).
 *
 * Order: each backend runs its calls in call order; a call on a local setting and one on the shared
 * registry touch different data, so running them on two queues changes nothing a caller can observe.
 */
import type { InsertJobOptions, JobEnd, JobRow, NewJob, NewMembership, NewWorker, ProjectRow, RegistryStore, SettingsPatch, WorkerPatch, WorkerRow } from '../store/store.ts';

/** A {@link RegistryStore} on `shared`, with the settings named in `localKeys` on `local`. */
export class LocalSettingsStore implements RegistryStore {
  private readonly localKeys: ReadonlySet<string>;

  constructor(
    private readonly shared: RegistryStore,
    private readonly local: RegistryStore,
    localKeys: Iterable<string>,
  ) {
    this.localKeys = new Set(localKeys);
  }

  private on(key: string): RegistryStore {
    return this.localKeys.has(key) ? this.local : this.shared;
  }

  createProject = (row: ProjectRow) => this.shared.createProject(row);
  getProject = (name: string) => this.shared.getProject(name);
  listProjects = () => this.shared.listProjects();
  findProjectByPasskeyHash = (passkeyHash: string) => this.shared.findProjectByPasskeyHash(passkeyHash);
  setProjectPasskey = (name: string, passkey: string | null, passkeyHash: string | null) => this.shared.setProjectPasskey(name, passkey, passkeyHash);
  addEnv = (name: string) => this.shared.addEnv(name);
  listEnvs = () => this.shared.listEnvs();
  missingEnvs = (names: readonly string[]) => this.shared.missingEnvs(names);

  async createWorker(row: NewWorker, membership?: NewMembership, settings?: SettingsPatch): Promise<boolean> {
    const entries = Object.entries(settings ?? {});
    const local = entries.filter(([key]) => this.localKeys.has(key));
    const shared = entries.filter(([key]) => !this.localKeys.has(key));
    if (!(await this.shared.createWorker(row, membership, shared.length > 0 ? Object.fromEntries(shared) : undefined))) return false;
    for (const [key, value] of local) await (value === null ? this.local.deleteSetting(key) : this.local.setSetting(key, value));
    return true;
  }

  getWorker = (id: string) => this.shared.getWorker(id);
  getWorkers = (ids: readonly string[]): Promise<Array<WorkerRow | undefined>> => this.shared.getWorkers(ids);
  listWorkers = (project?: string) => this.shared.listWorkers(project);
  updateWorker = (id: string, patch: WorkerPatch) => this.shared.updateWorker(id, patch);
  clearConnections = () => this.shared.clearConnections();
  deleteWorker = (id: string) => this.shared.deleteWorker(id);
  addWorkerProject = (id: string, project: string, at: number, patch?: WorkerPatch) => this.shared.addWorkerProject(id, project, at, patch);
  leaveProject = (id: string, project: string) => this.shared.leaveProject(id, project);
  insertJob = (job: NewJob, options?: InsertJobOptions) => this.shared.insertJob(job, options);
  finishJob = (id: string, end: JobEnd): Promise<JobRow | undefined> => this.shared.finishJob(id, end);
  getJob = (id: string) => this.shared.getJob(id);
  listUnfinishedJobs = () => this.shared.listUnfinishedJobs();
  closeLostJobs = (owner: string, end: JobEnd) => this.shared.closeLostJobs(owner, end);
  listRecentJobs = (limit: number, workerId?: string) => this.shared.listRecentJobs(limit, workerId);

  setSetting = (key: string, value: string) => this.on(key).setSetting(key, value);
  setSettingIfAbsent = (key: string, value: string) => this.on(key).setSettingIfAbsent(key, value);
  getSetting = (key: string) => this.on(key).getSetting(key);
  deleteSetting = (key: string) => this.on(key).deleteSetting(key);

  async close(): Promise<void> {
    await Promise.all([this.shared.close(), this.local.close()]);
  }
}
