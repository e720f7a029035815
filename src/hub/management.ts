/**
 * Worker management, the operations behind `cla-hub workers ...` and the admin HTTP API (the seed's
 * "Deploy -> Workers" page, ../../shared/seeds/clarive-worker.txt): list workers with their live state,
 * disable / enable, shut down, unregister from one project, project passkeys and recent jobs.
 *
 * The seed's caveats for a worker shared by several projects hold: disabling or shutting it down
 * affects every project it belongs to (results name them in `affectedProjects` and a warning), each
 * listing shows the other projects in `sharedWith`, and unregistering from one project keeps the others.
 */
import { ClaError, ErrorCode } from '../errors.ts';
import type { JobRow } from '../store/store.ts';
import type { Logger } from '../logger.ts';
import type { HubChange } from './hub-change.ts';
import type { Registry, WorkerInfo } from './registry.ts';
import type { WorkerSession } from './worker-session.ts';
import type { LiveWorker, ManageOrder, RemoteHolder } from './hub-cluster.ts';

/** The seed's warning, shown before and after a shutdown. */
export const SHUTDOWN_WARNING =
  'Shutting down workers will kill the server process. After a shut down, restarting the worker requires manually logging into the server and starting the process.';

/** Recent jobs shown with a worker's detail. */
const DETAIL_JOBS = 20;

/** A worker as management views show it: the registry row merged with its live session. */
export interface ManagedWorker {
  id: string;
  /** All its projects, sorted. */
  projects: string[];
  /**
   * The other projects that share this worker: with a project filter, every project but that one;
   * without, all of them when there are several, else none.
   */
  sharedWith: string[];
  /** Tags and envs the worker declared when it connected; empty while offline. */
  tags: string[];
  envs: string[];
  /** `user@host` of the worker process (last known), or `null` if it never connected. */
  origin: string | null;
  /** Pid of the worker process (last known). */
  pid: number | null;
  platform: string | null;
  version: string | null;
  connected: boolean;
  /** ms since the epoch; `null` when not connected. */
  connectedSince: number | null;
  /** ms since the epoch the hub last heard from it. */
  lastSeen: number | null;
  createdAt: number;
  /** The worker machine's state as the worker reported it (e.g. `connected.idle`), or `offline`. */
  state: string;
  /** The hub's session machine state (e.g. `active.idle`, `disabled`, `shuttingDown`), `null` offline. */
  session: string | null;
  /** The hub holding its connection when several hubs share an engine (issue 10); `null` offline or with one hub. */
  hub: string | null;
  disabled: boolean;
  jobsRun: number;
  runningJobs: number;
  failures: number;
}

/** The answer to disable / enable / shutdown. */
export interface ManageResult {
  worker: ManagedWorker;
  /** Every project that loses (or regains) the worker. */
  affectedProjects: string[];
  /** Things the operator should know (shared worker, shutdown). */
  warnings: string[];
}

/** A job as management views show it. */
export interface JobView {
  id: string;
  workerId: string;
  kind: string;
  command: unknown;
  startedAt: number;
  finishedAt: number | null;
  outcome: string | null;
  exitCode: number | null;
  signal: string | null;
  errorCode: string | null;
  outputBytes: number;
  /** The stored tail of the output as UTF-8 text (when asked for). */
  output?: string | null;
}

/** A project with its worker counts; never its passkey. */
export interface ProjectView {
  name: string;
  hasPasskey: boolean;
  createdAt: number;
  workers: number;
  connected: number;
}

/** A flat name for a state value: `{ active: 'idle' }` -> `active.idle`. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [key, inner] = Object.entries(value as Record<string, unknown>)[0] ?? [];
    return key === undefined ? '' : `${key}.${stateName(inner)}`;
  }
  return String(value);
}

/** A job row for JSON: the output tail as text. */
export function jobView(row: JobRow, withOutput: boolean): JobView {
  const { output, ...rest } = row;
  return withOutput ? { ...rest, output: output === null ? null : Buffer.from(output).toString('utf8') } : rest;
}

const notConnected = (id: string) =>
  new ClaError(ErrorCode.NoWorker, `Worker ${id} is not connected: there is no process to shut down.`, { data: { id } });

/** What management needs from the hub: the registry, the live sessions, and a way to tell about changes. */
export interface ManagementDeps {
  registry: Registry;
  log: Logger;
  /** The connected session of a worker. */
  session(id: string): WorkerSession | undefined;
  /** Sends an order to the hub holding a worker this hub does not hold (issue 10); false when none does. @default none */
  remote?: (id: string, order: ManageOrder) => boolean;
  /** Where another hub holds the worker (issue 10), so views show the whole fleet. @default none */
  elsewhere?: (id: string) => RemoteHolder | undefined;
  /** The live state of workers other hubs hold (issue 10). @default none */
  liveElsewhere?: (ids: readonly string[]) => Promise<Map<string, LiveWorker>>;
  /** This hub's id, shown as the holder of its own workers when there are other hubs. */
  hubId?: () => string | undefined;
  /** Ids of the connected workers. */
  connectedWorkerIds(): string[];
  notifyChange(change: HubChange): void;
  /** A worker left projects (`remaining` empty: it is gone): drop or update its session. */
  onUnregistered(id: string, remaining: string[]): void;
}

/** The management operations of one hub. */
export class WorkerManagement {
  constructor(private readonly hub: ManagementDeps) {}

  /** Workers sorted by id; with `project`, only its members (`UNKNOWN_PROJECT` if it does not exist). */
  async listWorkers(project?: string): Promise<ManagedWorker[]> {
    const rows = await this.hub.registry.listWorkers(project);
    const live = await this.liveElsewhere(rows);
    return rows.map((row) => this.view(row, project, live));
  }

  /** One worker; `UNKNOWN_WORKER` if there is none. */
  async worker(id: string): Promise<ManagedWorker> {
    const row = await this.require(id);
    return this.view(row, undefined, await this.liveElsewhere([row]));
  }

  /** What the hubs holding some of `rows` (not this one) say of them. */
  private async liveElsewhere(rows: readonly WorkerInfo[]): Promise<Map<string, LiveWorker>> {
    const ids = rows.filter((row) => !this.liveSession(row.id) && this.hub.elsewhere?.(row.id)).map((row) => row.id);
    return ids.length === 0 || !this.hub.liveElsewhere ? new Map() : this.hub.liveElsewhere(ids);
  }

  /** One worker with its recent jobs (output tails as text). */
  async workerDetail(id: string, jobs = DETAIL_JOBS): Promise<ManagedWorker & { recentJobs: JobView[] }> {
    const worker = await this.worker(id);
    return { ...worker, recentJobs: (await this.hub.registry.recentJobs(jobs, id)).map((job) => jobView(job, true)) };
  }

  /** Stops sending new jobs to the worker (persisted, so it stays disabled when it reconnects); the process keeps running. */
  async disable(id: string): Promise<ManageResult> {
    await this.require(id);
    await this.hub.registry.setDisabled(id, true);
    const session = this.hub.session(id);
    if (session) session.disable();
    else this.hub.remote?.(id, { op: 'disable' });
    this.hub.log.info({ worker: id }, 'worker disabled by an admin');
    this.hub.notifyChange({ type: 'disabled', worker: id });
    return await this.result(id, 'disabling it');
  }

  /** Lets the worker take jobs again. */
  async enable(id: string): Promise<ManageResult> {
    await this.require(id);
    await this.hub.registry.setDisabled(id, false);
    const session = this.hub.session(id);
    if (session) session.enable();
    else this.hub.remote?.(id, { op: 'enable' });
    this.hub.log.info({ worker: id }, 'worker enabled by an admin');
    this.hub.notifyChange({ type: 'enabled', worker: id });
    return await this.result(id, 'enabling it');
  }

  /**
   * Asks the worker process to exit: it finishes, says `bye` and exits without reconnecting. `NO_WORKER`
   * when it is not connected. See {@link SHUTDOWN_WARNING}.
   */
  async shutdown(id: string): Promise<ManageResult> {
    await this.require(id);
    const session = this.hub.session(id);
    if (session && !session.isClosed()) session.shutdown();
    else if (session || this.hub.remote?.(id, { op: 'shutdown' }) !== true) throw notConnected(id);
    this.hub.log.warn({ worker: id }, 'worker shut down by an admin');
    this.hub.notifyChange({ type: 'shutdown', worker: id });
    const result = await this.result(id, 'shutting it down');
    return { ...result, warnings: [SHUTDOWN_WARNING, ...result.warnings] };
  }

  /**
   * Removes the worker from one project; its other projects keep it. A worker left with none is deleted
   * and its connection closed (4007), as when it unregisters itself.
   */
  async unregisterFromProject(id: string, project: string): Promise<{ id: string; removed: string; projects: string[]; deleted: boolean }> {
    const { projects } = await this.hub.registry.adminUnregister(id, project);
    this.hub.log.info({ worker: id, project }, 'worker unregistered from a project by an admin');
    this.hub.onUnregistered(id, projects);
    return { id, removed: project, projects, deleted: projects.length === 0 };
  }

  /** Projects with their worker counts. */
  async projects(): Promise<ProjectView[]> {
    const projects = await this.hub.registry.listProjects();
    const members = await Promise.all(projects.map((project) => this.hub.registry.listWorkers(project.name)));
    const connected = new Set(this.hub.connectedWorkerIds());
    return projects.map((project, i) => {
      const workers = members[i]!;
      return { ...project, workers: workers.length, connected: workers.filter((w) => connected.has(w.id)).length };
    });
  }

  /** The project's passkey, `null` if invalidated. */
  async passkey(project: string): Promise<{ project: string; passkey: string | null }> {
    return { project, passkey: await this.hub.registry.passkey(project) };
  }

  /** A new passkey; the old one stops working. Registered workers are unaffected. */
  async rotatePasskey(project: string): Promise<{ project: string; passkey: string }> {
    const passkey = await this.hub.registry.rotatePasskey(project);
    this.hub.log.info({ project }, 'project passkey rotated by an admin');
    return { project, passkey };
  }

  /** Removes the passkey: no registrations with it until rotated. */
  async invalidatePasskey(project: string): Promise<{ project: string; passkey: null }> {
    await this.hub.registry.invalidatePasskey(project);
    this.hub.log.info({ project }, 'project passkey invalidated by an admin');
    return { project, passkey: null };
  }

  /** Recent jobs, newest first; of one worker when `workerId` is given (`UNKNOWN_WORKER` if none). */
  async recentJobs(limit: number, workerId?: string, withOutput = false): Promise<JobView[]> {
    if (workerId !== undefined) await this.require(workerId);
    return (await this.hub.registry.recentJobs(limit, workerId)).map((job) => jobView(job, withOutput));
  }

  private async require(id: string): Promise<WorkerInfo> {
    const row = await this.hub.registry.getWorker(id);
    if (!row) throw new ClaError(ErrorCode.UnknownWorker, `No worker with id \`${id}\`.`, { data: { id } });
    return row;
  }

  /** `doing` names the action for the shared-worker warning, e.g. `disabling it`. */
  private async result(id: string, doing: string): Promise<ManageResult> {
    const worker = await this.worker(id);
    const warnings =
      worker.projects.length > 1
        ? [`Worker ${id} is shared by projects ${worker.projects.join(', ')}: ${doing} affects all of them.`]
        : [];
    return { worker, affectedProjects: worker.projects, warnings };
  }

  private view(row: WorkerInfo, project?: string, elsewhere: ReadonlyMap<string, LiveWorker> = new Map()): ManagedWorker {
    const session = this.liveSession(row.id);
    const remote = session ? undefined : this.hub.elsewhere?.(row.id);
    const live = remote && elsewhere.get(row.id);
    const sharedWith = project !== undefined ? row.projects.filter((p) => p !== project) : row.projects.length > 1 ? row.projects : [];
    return {
      id: row.id,
      projects: row.projects,
      sharedWith,
      tags: session?.info.tags ?? remote?.tags ?? [],
      envs: session?.info.envs ?? remote?.envs ?? [],
      origin: row.agent ? `${row.agent.user}@${row.agent.host}` : null,
      pid: row.agent?.pid ?? null,
      platform: row.agent?.platform ?? null,
      version: row.agent?.version ?? null,
      connected: session !== undefined || remote !== undefined,
      connectedSince: session ? row.connectedSince ?? session.info.connectedAt : remote?.since ?? null,
      lastSeen: row.lastSeen,
      createdAt: row.createdAt,
      state: session ? session.info.workerState ?? 'connected' : remote ? live?.state ?? `connected to hub ${remote.hub}` : 'offline',
      session: session ? stateName(session.state()) : live?.session ?? null,
      hub: session ? (this.hub.elsewhere ? this.hub.hubId?.() ?? null : null) : remote?.hub ?? null,
      disabled: row.disabled,
      jobsRun: row.jobsRun,
      runningJobs: session?.runningJobs() ?? live?.runningJobs ?? 0,
      failures: row.failures,
    };
  }

  private liveSession(id: string): WorkerSession | undefined {
    const session = this.hub.session(id);
    return session && !session.isClosed() ? session : undefined;
  }
}
