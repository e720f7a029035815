/**
 * The hub's persistent state, behind one backend-neutral interface (../../shared/STYLE.md, BullMQ model):
 * every implementation must pass `test/unit/store-conformance.ts`. The store holds data, not rules: it
 * never reads the clock (callers pass times in ms since the epoch), never hashes or compares secrets, and
 * reports "already there" / "not there" as booleans or `undefined`; the registry turns those into errors.
 */
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
  /** Output bytes the job produced in all, kept or not. @default 0 */
  outputBytes?: number;
}

/** A recorded job; the end fields are `null` while it runs. */
export interface JobRow {
  id: string;
  workerId: string;
  kind: JobKind;
  command: unknown;
  startedAt: number;
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

/** The hub's persistent store. All methods are synchronous. */
export interface Store {
  /**
   * Runs `fn` as one atomic step: if it throws, nothing it wrote is kept. Nested calls join the outer one.
   */
  transaction<T>(fn: () => T): T;

  // ---- projects ---------------------------------------------------------------------------------------
  /** Stores a new project; `false` (and nothing written) if the name is taken. */
  createProject(row: ProjectRow): boolean;
  getProject(name: string): ProjectRow | undefined;
  /** All projects, oldest first (ties by name). */
  listProjects(): ProjectRow[];
  /** The project whose passkey hash is exactly `passkeyHash`. */
  findProjectByPasskeyHash(passkeyHash: string): ProjectRow | undefined;
  /** Replaces (or with `null`s, removes) a project's passkey; `false` if there is no such project. */
  setProjectPasskey(name: string, passkey: string | null, passkeyHash: string | null): boolean;

  // ---- environments (global, case-sensitive) ------------------------------------------------------------
  /** Adds an environment; `false` if it already exists. */
  addEnv(name: string): boolean;
  /** All environments, sorted by name (binary order). */
  listEnvs(): string[];
  hasEnv(name: string): boolean;

  // ---- workers ----------------------------------------------------------------------------------------
  /** Stores a new worker with no projects; `false` (and nothing written) if the id is taken. */
  createWorker(row: NewWorker): boolean;
  getWorker(id: string): WorkerRow | undefined;
  /** Workers sorted by id; with `project`, only that project's members. */
  listWorkers(project?: string): WorkerRow[];
  /** Changes the given fields; `false` if there is no such worker. */
  updateWorker(id: string, patch: WorkerPatch): boolean;
  /** Adds to a worker's counters; `false` if there is no such worker. */
  bumpWorkerCounters(id: string, jobsRun: number, failures: number): boolean;
  /** Sets `connectedSince` to `null` on every worker (after a hub restart); returns how many changed. */
  clearConnections(): number;
  /** Deletes a worker and its memberships (its jobs are kept); `false` if there was none. */
  deleteWorker(id: string): boolean;
  /**
   * Makes a worker a member of a project; `false` if it already was. Throws `ClaError` `UNKNOWN_WORKER`
   * or `UNKNOWN_PROJECT` if either does not exist.
   */
  addWorkerProject(id: string, project: string, at: number): boolean;
  /** Removes a membership; `false` if there was none. The worker itself is kept. */
  removeWorkerProject(id: string, project: string): boolean;

  // ---- jobs -------------------------------------------------------------------------------------------
  /** Records a started job; `false` (and nothing written) if the id is taken. */
  insertJob(job: NewJob): boolean;
  /** Records how a job ended; `false` if there is no such job or it has already finished. */
  finishJob(id: string, end: JobEnd): boolean;
  getJob(id: string): JobRow | undefined;
  /** Jobs with no end recorded, oldest start first (a hub that starts closes them: their hub died). */
  listUnfinishedJobs(): JobRow[];
  /** Up to `limit` jobs, newest start first (ties: last inserted first); optionally of one worker only. */
  listRecentJobs(limit: number, workerId?: string): JobRow[];

  // ---- settings ---------------------------------------------------------------------------------------
  /** Sets (or replaces) a setting. */
  setSetting(key: string, value: string): void;
  getSetting(key: string): string | undefined;
  /** Removes a setting; `false` if there was none. */
  deleteSetting(key: string): boolean;

  /** Releases the backend; the store must not be used afterwards. Calling it again does nothing. */
  close(): void;
}
