/**
 * The hub's registry state, behind one backend-neutral asynchronous interface ({@link RegistryStore};
 * ../../shared/STYLE.md, BullMQ model): every implementation must pass `test/unit/store-conformance.ts`. The store holds data, not rules: it
 * never reads the clock (callers pass times in ms since the epoch), never hashes or compares secrets, and
 * reports "already there" / "not there" as booleans or `undefined`; the registry turns those into errors.
 */
import { ClaError, ErrorCode } from '../errors.ts';
import type { AgentInfo } from '../protocol/frames.ts';

export type { AgentInfo };

/** A project and its passkey. */
export interface ProjectRow {
  /** Unique, case-sensitive. */
  name: string;
  /** The passkey in plaintext, kept so `cla-hub project passkey NAME` can show it; `null` when invalidated. */
  passkey: string | null;
  /** sha256 hex of {@link passkey}, used to find the project a worker registers with; `null` with it. */
  passkeyHash: string | null;
  /** ms since the epoch. */
  createdAt: number;
}

/** A worker as stored: never its token, only the token's hash. */
export interface WorkerRow {
  /** Global id, unique across projects. */
  id: string;
  /** sha256 hex of the worker's token. */
  tokenHash: string;
  /** ms since the epoch. */
  createdAt: number;
  /** Projects this worker belongs to, sorted by name. */
  projects: string[];
  /** What the worker said about itself when it last connected or registered. */
  agent: AgentInfo | null;
  /** When the hub last heard from the worker (ms since the epoch). */
  lastSeen: number | null;
  /** Start of the current connection, `null` when not connected. */
  connectedSince: number | null;
  /** A disabled worker is not sent work. */
  disabled: boolean;
  /** Jobs finished by this worker, whatever their outcome. */
  jobsRun: number;
  /** Jobs finished with an outcome counted as a failure (see {@link isFailure}). */
  failures: number;
}

/** Fields given when a worker is first stored; counters start at 0, `disabled` at false. */
export interface NewWorker {
  id: string;
  tokenHash: string;
  createdAt: number;
  agent?: AgentInfo | null;
}

/** Fields of a worker that may change after it is created; omitted fields are left as they are. */
export interface WorkerPatch {
  tokenHash?: string;
  agent?: AgentInfo | null;
  lastSeen?: number | null;
  connectedSince?: number | null;
  disabled?: boolean;
}

/** Kinds of job the hub records. */
export type JobKind = 'exec' | 'eval' | 'ship' | 'fetch' | 'probe';

/** Every {@link JobKind}. */
export const JOB_KINDS: readonly JobKind[] = ['exec', 'eval', 'ship', 'fetch', 'probe'];

/** How a job ended. */
export type JobOutcome = 'ok' | 'failed' | 'timeout' | 'cancelled' | 'lost' | 'error';

/** Every {@link JobOutcome}, for validation. */
export const JOB_OUTCOMES: readonly JobOutcome[] = ['ok', 'failed', 'timeout', 'cancelled', 'lost', 'error'];

/**
 * Whether an outcome counts against the worker. A cancellation is someone's decision, not the worker's
 * fault, so it is not a failure.
 */
export function isFailure(outcome: JobOutcome): boolean {
  return outcome !== 'ok' && outcome !== 'cancelled';
}

/** A job as recorded when it starts. */
export interface NewJob {
  /** Unique job id (the request id). */
  id: string;
  workerId: string;
  kind: JobKind;
  /** Any JSON-serialisable value; stored as JSON text. */
  command: unknown;
  /** ms since the epoch. */
  startedAt: number;
  /**
   * The id of the hub that runs the job (the connection carrying it is that hub's), so that a hub
   * starting again closes only its own lost jobs ({@link RegistryStore.closeLostJobs}) and never another
   * hub's on a shared backend.
   */
  owner: string;
}

/** How a job ended. */
export interface JobEnd {
  /** ms since the epoch. */
  finishedAt: number;
  exitCode: number | null;
  signal: string | null;
  outcome: JobOutcome;
  /** The {@link ErrorCode} when the outcome is not `ok` because of an error. */
  errorCode: string | null;
  /** The last bytes of the job's output (stdout and stderr interleaved), capped by the hub. @default null */
  output?: Uint8Array | null;
  /** Output bytes the job produced in all. @default 0 */
  outputBytes?: number;
}

/** A recorded job; the end fields are `null` while it runs. */
export interface JobRow {
  id: string;
  workerId: string;
  kind: JobKind;
  command: unknown;
  startedAt: number;
  /** The hub that ran it; `null` for jobs recorded before owners were kept (they count as any hub's own). */
  owner: string | null;
  finishedAt: number | null;
  exitCode: number | null;
  signal: string | null;
  outcome: JobOutcome | null;
  errorCode: string | null;
  /** The stored tail of the output, or null. */
  output: Uint8Array | null;
  /** Output bytes the job produced in all. */
  outputBytes: number;
}

/** The row of a job that has just started: every end field empty. */
export function startedJobRow(job: NewJob): JobRow {
  return {
    id: job.id,
    workerId: job.workerId,
    kind: job.kind,
    command: job.command ?? null,
    startedAt: job.startedAt,
    owner: job.owner,
    finishedAt: null,
    exitCode: null,
    signal: null,
    outcome: null,
    errorCode: null,
    output: null,
    outputBytes: 0,
  };
}

/** Settings to write along with another change: a string sets the key, `null` removes it. */
export type SettingsPatch = Readonly<Record<string, string | null>>;

/** A membership to create along with a worker. */
export interface NewMembership {
  project: string;
  /** ms since the epoch. */
  at: number;
}

/**
 * The hub's registry state (projects, passkeys, environments, workers, jobs, settings), asynchronous and
 * backend-neutral (issue 9): every backend passes test/unit/store-conformance.ts. A returned promise
 * resolves once the change is durable on the backend (after the commit that holds it), never before, so
 * callers acknowledge to workers and admins only then; a write whose commit fails rejects. Calls take
 * effect in the order they are made. No transaction leaks out: every method is atomic on its own, and
 * steps that must happen together have one method each (`createWorker` with its membership and
 * settings, `leaveProject`, `finishJob` with the worker's counters, `closeLostJobs`, `setSettingIfAbsent`),
 * so that a multi-hub backend can implement each as one compare-and-set.
 */
export interface RegistryStore {
  // ---- projects ---------------------------------------------------------------------------------------
  /** Stores a new project; `false` (and nothing written) if the name is taken. */
  createProject(row: ProjectRow): Promise<boolean>;
  getProject(name: string): Promise<ProjectRow | undefined>;
  /** All projects, oldest first (ties by name). */
  listProjects(): Promise<ProjectRow[]>;
  /** The project whose passkey hash is exactly `passkeyHash`. */
  findProjectByPasskeyHash(passkeyHash: string): Promise<ProjectRow | undefined>;
  /** Replaces (or with `null`s, removes) a project's passkey; `false` if there is no such project. */
  setProjectPasskey(name: string, passkey: string | null, passkeyHash: string | null): Promise<boolean>;

  // ---- environments (global, case-sensitive) ------------------------------------------------------------
  /** Adds an environment; `false` if it already exists. */
  addEnv(name: string): Promise<boolean>;
  /** All environments, sorted by name (binary order). */
  listEnvs(): Promise<string[]>;
  /** Of `names`, those that are not environments, in the order given, without repeats. */
  missingEnvs(names: readonly string[]): Promise<string[]>;

  // ---- workers ----------------------------------------------------------------------------------------
  /**
   * Stores a new worker, with its first membership and `settings` when given, all or nothing; `false`
   * (and nothing written) if the id is taken. Throws `ClaError` `UNKNOWN_PROJECT` (nothing written) if
   * the membership's project does not exist.
   */
  createWorker(row: NewWorker, membership?: NewMembership, settings?: SettingsPatch): Promise<boolean>;
  getWorker(id: string): Promise<WorkerRow | undefined>;
  /** Many workers at once: one entry per id, in the order given, `undefined` where there is none. */
  getWorkers(ids: readonly string[]): Promise<Array<WorkerRow | undefined>>;
  /** Workers sorted by id; with `project`, only that project's members. */
  listWorkers(project?: string): Promise<WorkerRow[]>;
  /** Changes the given fields; `false` if there is no such worker. */
  updateWorker(id: string, patch: WorkerPatch): Promise<boolean>;
  /** Sets `connectedSince` to `null` on every worker (after a hub restart); returns how many changed. */
  clearConnections(): Promise<number>;
  /** Deletes a worker and its memberships (its jobs are kept); `false` if there was none. */
  deleteWorker(id: string): Promise<boolean>;
  /**
   * Makes a worker a member of a project, and applies `patch` to it in the same step; `false` (nothing
   * written) if it already was. Throws `ClaError` `UNKNOWN_WORKER` or `UNKNOWN_PROJECT` if either does
   * not exist.
   */
  addWorkerProject(id: string, project: string, at: number, patch?: WorkerPatch): Promise<boolean>;
  /**
   * Removes a worker from a project, and deletes the worker when that was its last project, in one step.
   * Returns the projects it remains in (sorted; empty when deleted), or `undefined` (nothing written)
   * when it was not a member or does not exist.
   */
  leaveProject(id: string, project: string): Promise<string[] | undefined>;

  // ---- jobs -------------------------------------------------------------------------------------------
  /**
   * Records a started job; `false` (and nothing written) if the id is taken. With `requireWorker`, throws
   * `ClaError` `UNKNOWN_WORKER` (nothing written) when the job's worker does not exist, checked in the same
   * step as the insert (the hub's job start: one transaction instead of a read, then a write, issue 13).
   */
  insertJob(job: NewJob, options?: InsertJobOptions): Promise<boolean>;
  /**
   * Records how a job ended and counts it on its worker (one more job run; one more failure when
   * {@link isFailure}) in the same step. Returns the finished row, or `undefined` (nothing written) if
   * there is no such job or it has already finished, so a late duplicate report is not counted twice.
   */
  finishJob(id: string, end: JobEnd): Promise<JobRow | undefined>;
  /**
   * {@link finishJob} without the row: `true` when the job was finished now, `false` (nothing written) when
   * there is no such job or it had finished already. Optional: the hub ends each job with it where the
   * backend has it (SQLite reads only the worker's id back, not the whole row; issue 13), else with
   * `finishJob`.
   */
  endJob?(id: string, end: JobEnd): Promise<boolean>;
  getJob(id: string): Promise<JobRow | undefined>;
  /** Jobs with no end recorded, oldest start first. */
  listUnfinishedJobs(): Promise<JobRow[]>;
  /**
   * Finishes, as {@link finishJob} does, every unfinished job whose owner is `owner` (or that has no
   * owner: recorded before owners were kept) with `end`, in one step: what a hub does when it starts,
   * since the connections that carried its jobs died with its previous process. Jobs of other hubs are
   * left alone. Returns the finished rows, oldest start first.
   */
  closeLostJobs(owner: string, end: JobEnd): Promise<JobRow[]>;
  /** Up to `limit` jobs, newest start first (ties: last inserted first); optionally of one worker only. */
  listRecentJobs(limit: number, workerId?: string): Promise<JobRow[]>;

  // ---- settings ---------------------------------------------------------------------------------------
  /** Sets (or replaces) a setting. */
  setSetting(key: string, value: string): Promise<void>;
  /** Sets a setting only if it has none; `false` (nothing written) if it had one. */
  setSettingIfAbsent(key: string, value: string): Promise<boolean>;
  getSetting(key: string): Promise<string | undefined>;
  /** Removes a setting; `false` if there was none. */
  deleteSetting(key: string): Promise<boolean>;

  /** Writes what is queued, then releases the backend; it must not be used afterwards. Calling it again does nothing. */
  close(): Promise<void>;
}

/** UNKNOWN_WORKER, as every backend and the registry throw it. */
export function unknownWorkerError(id: string): ClaError {
  return new ClaError(ErrorCode.UnknownWorker, `No worker with id \`${id}\`.`, { data: { id } });
}

/** Options of {@link RegistryStore.insertJob}. */
export interface InsertJobOptions {
  /** Refuse the job, with `UNKNOWN_WORKER`, when its worker does not exist. @default false */
  requireWorker?: boolean;
}

/** The name the registry's store had when it was synchronous; kept for imports. */
export type Store = RegistryStore;
