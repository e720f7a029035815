/**
 * The hub's rules for projects, passkeys, environments and workers, on top of a {@link RegistryStore}
 * (asynchronous: every method that reads or writes the store returns a promise, settled after the
 * store's commit). Secrets
 * (passkeys, worker tokens, the admin token) are compared as sha256 hashes with `timingSafeEqual`, and are
 * never put into error messages or `data`: errors name ids and projects, not keys.
 * Rules follow the product description: a worker id may belong to many projects but only once to each,
 * and adding a project to an existing id needs that worker's token (../../shared/seeds/clarive-worker.txt).
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { ClaError, ErrorCode, InvalidArgumentError, describeValue } from '../errors.ts';
import { JOB_KINDS, JOB_OUTCOMES, unknownWorkerError } from '../store/store.ts';
import type { AgentInfo, JobKind, JobOutcome, JobRow, RegistryStore, WorkerRow } from '../store/store.ts';

/** Setting that holds this hub's id, made on first start (see {@link Registry.hubId}). */
export const HUB_ID_SETTING = 'hub.id';

/** Setting that holds sha256 hex of the admin token. */
export const ADMIN_TOKEN_HASH_SETTING = 'hub.admin_token_sha256';

/** Bytes of randomness in passkeys, worker tokens and the admin token (shown as twice as many hex chars). */
const SECRET_BYTES = 16;
const GENERATED_ID_LENGTH = 9;
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,100}$/;
/**
 * Ids of the Clarive legacy workers (issue 14): `user@host/shortid` (1.x), `user@hostname` (2.x) or a plain
 * name. `@` and `/` are not in NAME_PATTERN, so a new-style id can never equal a legacy id that has them;
 * a plain legacy id is told apart by the `legacy_worker:<id>` setting (see `register`).
 */
export const LEGACY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,100}(@[A-Za-z0-9_.-]{1,100}(\/[A-Za-z0-9_.-]{1,100})?)?$/;
const MAX_RECENT_JOBS = 10_000;

export const BAD_PASSKEY_MESSAGE =
  'The passkey is not valid for any project. Get the current passkey with `cla-hub project passkey NAME`.';
const BAD_TOKEN_MESSAGE = 'Worker id or token is not valid. Register again with `cla-worker register --passkey KEY`.';

/** A worker as the hub shows it: everything stored except the token hash. */
export interface WorkerInfo {
  id: string;
  projects: string[];
  agent: AgentInfo | null;
  createdAt: number;
  lastSeen: number | null;
  connectedSince: number | null;
  disabled: boolean;
  jobsRun: number;
  failures: number;
}

/** A project as listed: whether it has a passkey, never the passkey itself. */
export interface ProjectInfo {
  name: string;
  hasPasskey: boolean;
  createdAt: number;
}

/** What a worker sends to register. */
export interface RegisterRequest {
  passkey: string;
  /** Wanted id; a random 9-character base62 id when omitted. */
  id?: string;
  /** The worker's current token: required to add a project to an id that already has others. */
  token?: string;
  agent?: AgentInfo;
  /** A Clarive legacy worker (HTTP + SSE pubsub): its id may take the legacy forms (LEGACY_ID_PATTERN). */
  legacy?: boolean;
}

/** The outcome of {@link Registry.register}. */
export interface RegisterResult {
  id: string;
  /** The worker's token: new for a new worker, the same one when a project is added. */
  token: string;
  /** All the worker's projects, sorted. */
  projects: string[];
  /** The project just added. */
  added: string;
}

/** A job as it starts. */
export interface JobStart {
  id: string;
  workerId: string;
  kind: JobKind;
  command: unknown;
  /** ms since the epoch. */
  at: number;
}

/** How a job ended. */
export interface JobFinish {
  /** ms since the epoch. */
  at: number;
  exitCode: number | null;
  signal: string | null;
  outcome: JobOutcome;
  errorCode?: string | null;
  /** Tail of the output to keep. */
  output?: Uint8Array | null;
  /** Output bytes produced in all. */
  outputBytes?: number;
}

/** sha256 hex of a secret. */
export function sha256Hex(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares two sha256 hex digests in constant time. */
function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}

// Compared against when a worker id is unknown, so that case takes as long as a wrong token.
const NO_HASH = sha256Hex('no such worker');

function checkName(what: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new InvalidArgumentError(
      `Expected ${what} to be 1-100 characters of A-Z, a-z, 0-9, '_', '.' or '-', got ${describeValue(value)}`,
    );
  }
  return value;
}

function checkWorkerId(value: unknown, legacy: boolean): string {
  if (!legacy) return checkName('worker id', value);
  if (typeof value !== 'string' || !LEGACY_ID_PATTERN.test(value)) {
    throw new InvalidArgumentError(`Expected a legacy worker id such as \`user@host/abc123\`, \`user@host\` or \`name\` (A-Z, a-z, 0-9, '_', '.', '-' around one '@' and one '/'), got ${describeValue(value)}`);
  }
  return value;
}

/** Checks a secret's type without ever echoing its value. */
function checkSecret(what: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 500) {
    throw new InvalidArgumentError(`Expected \`${what}\` to be a string of 1-500 characters`);
  }
  return value;
}

const toInfo = ({ tokenHash: _hidden, ...info }: WorkerRow): WorkerInfo => info;

const unknownProject = (project: string) =>
  new ClaError(ErrorCode.UnknownProject, `No project named \`${project}\`.`, { data: { project } });
const unknownWorker = unknownWorkerError;

/** Projects, passkeys, environments, workers, jobs and the admin token. */
export class Registry {
  private readonly store: RegistryStore;
  private readonly clock: Clock;
  private readonly random: (bytes: number) => Buffer;
  private owner: Promise<string> | undefined;

  /** @param random source of secrets and generated ids; injectable so tests are deterministic. */
  constructor(store: RegistryStore, clock: Clock, random: (bytes: number) => Buffer = randomBytes) {
    this.store = store;
    this.clock = clock;
    this.random = random;
  }

  /**
   * This hub's id, the owner written on the jobs it runs: `given` when passed (the hub's `hubId` option;
   * it then sticks), otherwise the id kept in the store ({@link HUB_ID_SETTING}), made on first use.
   */
  hubId(given?: string): Promise<string> {
    if (given !== undefined) this.owner = Promise.resolve(given);
    this.owner ??= (async () => {
      await this.store.setSettingIfAbsent(HUB_ID_SETTING, randomUUID());
      return (await this.store.getSetting(HUB_ID_SETTING))!;
    })().catch((error: unknown) => {
      this.owner = undefined; // a store failure is not remembered: the next call reads again
      throw error;
    });
    return this.owner;
  }

  // ---- projects and passkeys ----------------------------------------------------------------------------
  /**
   * Creates project `name` with a fresh passkey if there is no project at all. Otherwise reports project
   * `name` (or the oldest one if `name` does not exist) with its passkey, `null` if invalidated.
   */
  async ensureDefaultProject(name = 'default'): Promise<{ project: string; passkey: string | null; created: boolean }> {
    for (;;) {
      const all = await this.store.listProjects();
      if (all.length > 0) {
        const found = all.find((p) => p.name === name) ?? all[0]!;
        return { project: found.name, passkey: found.passkey, created: false };
      }
      // Another writer may create a project meanwhile: then the list is read again.
      const created = await this.tryCreateProject(name);
      if (created) return { ...created, created: true };
    }
  }

  /** Creates a project with a fresh passkey; `PROJECT_EXISTS` if the name is taken. */
  async createProject(name: string): Promise<{ project: string; passkey: string }> {
    checkName('project name', name);
    const created = await this.tryCreateProject(name);
    if (!created) {
      throw new ClaError(ErrorCode.ProjectExists, `Project \`${name}\` already exists.`, { data: { project: name } });
    }
    return created;
  }

  private async tryCreateProject(name: string): Promise<{ project: string; passkey: string } | undefined> {
    const passkey = this.secret();
    const row = { name, passkey, passkeyHash: sha256Hex(passkey), createdAt: this.clock.now() };
    return (await this.store.createProject(row)) ? { project: name, passkey } : undefined;
  }

  async listProjects(): Promise<ProjectInfo[]> {
    const rows = await this.store.listProjects();
    return rows.map((p) => ({ name: p.name, hasPasskey: p.passkey !== null, createdAt: p.createdAt }));
  }

  /** The project's passkey in plaintext, `null` if invalidated. */
  async passkey(project: string): Promise<string | null> {
    const row = await this.store.getProject(project);
    if (!row) throw unknownProject(project);
    return row.passkey;
  }

  /** Replaces the project's passkey; the old one stops working at once. Registered workers are unaffected. */
  async rotatePasskey(project: string): Promise<string> {
    const passkey = this.secret();
    if (!await this.store.setProjectPasskey(project, passkey, sha256Hex(passkey))) throw unknownProject(project);
    return passkey;
  }

  /** Removes the project's passkey, so no worker can register with it until it is rotated. */
  async invalidatePasskey(project: string): Promise<void> {
    if (!await this.store.setProjectPasskey(project, null, null)) throw unknownProject(project);
  }

  // ---- environments -----------------------------------------------------------------------------------
  /** Adds an environment (case-sensitive); `false` if it already existed. */
  async addEnv(name: string): Promise<boolean> {
    return this.store.addEnv(checkName('environment name', name));
  }

  listEnvs(): Promise<string[]> {
    return this.store.listEnvs();
  }

  /** The names that are not known environments, in the order given, without repeats. */
  async missingEnvs(names: string[]): Promise<string[]> {
    return this.store.missingEnvs(names);
  }

  // ---- registration -----------------------------------------------------------------------------------
  /** Registers a worker with the project whose passkey is given (see {@link RegisterRequest}). */
  async register(req: RegisterRequest): Promise<RegisterResult> {
    const passkeyHash = sha256Hex(checkSecret('passkey', req.passkey));
    const token = req.token === undefined ? undefined : checkSecret('token', req.token);
    if (req.id !== undefined) checkWorkerId(req.id, req.legacy === true);
    // The index lookup compares hashes, which reveal nothing about the passkey; the timing-safe check
    // guards against a backend that matches loosely.
    const project = await this.store.findProjectByPasskeyHash(passkeyHash);
    if (!project?.passkeyHash || !sameHash(project.passkeyHash, passkeyHash)) {
      throw new ClaError(ErrorCode.BadPasskey, BAD_PASSKEY_MESSAGE);
    }
    const added = project.name;
    const now = this.clock.now();
    const id = req.id ?? (await this.freshWorkerId());
    const legacyMarker = `legacy_worker:${id}`;
    const existing = await this.store.getWorker(id);
    if (!existing) {
      const newToken = this.secret();
      const row = { id, tokenHash: sha256Hex(newToken), createdAt: now, agent: req.agent ?? null };
      // Worker, membership and marker in one step; if the id was taken meanwhile, the taken-id rules apply.
      if (await this.store.createWorker(row, { project: added, at: now }, { [legacyMarker]: req.legacy ? '1' : null })) {
        return { id, token: newToken, projects: [added], added };
      }
      return this.registerExisting(req, token, id, added, now);
    }
    return this.registerExisting(req, token, id, added, now, existing);
  }

  /** {@link register} for an id that is taken: adds a project with the worker's token. */
  private async registerExisting(req: RegisterRequest, token: string | undefined, id: string, added: string, now: number, known?: WorkerRow): Promise<RegisterResult> {
    const existing = known ?? (await this.store.getWorker(id));
    if (!existing) throw unknownWorker(id);
    if (((await this.store.getSetting(`legacy_worker:${id}`)) === '1') !== (req.legacy === true)) {
      const owner = req.legacy ? 'a cla-worker' : 'a legacy Clarive worker (--legacy-pubsub)';
      throw new ClaError(ErrorCode.DuplicateWorker, `Worker id \`${id}\` belongs to ${owner}; register with another id.`, { data: { id } });
    }
    const alreadyIn = () =>
      new ClaError(
        ErrorCode.DuplicateWorker,
        `Worker \`${id}\` is already registered in project \`${added}\`. Unregister it first with ` +
          `\`cla-worker unregister --id ${id} --token TOKEN\`, or register with another --id.`,
        { data: { id, project: added } },
      );
    if (existing.projects.includes(added)) throw alreadyIn();
    if (token === undefined || !sameHash(existing.tokenHash, sha256Hex(token))) {
      throw new ClaError(
        ErrorCode.DuplicateWorker,
        `Worker \`${id}\` is already registered in projects ${JSON.stringify(existing.projects)}; to add ` +
          `project \`${added}\` re-run register with --token <that worker's token>.`,
        { data: { id, projects: existing.projects, project: added } },
      );
    }
    if (!(await this.store.addWorkerProject(id, added, now, req.agent ? { agent: req.agent } : undefined))) throw alreadyIn();
    return { id, token, projects: [...existing.projects, added].sort(), added };
  }

  /**
   * A worker that authenticated with the hub-wide pre-shared key (`--psk`, the Resoto way) instead of a
   * registration: created on first contact in `project` with an unusable token, so only the PSK admits it.
   */
  async pskWorker(id: string, project: string, agent?: AgentInfo): Promise<WorkerInfo> {
    checkName('worker id', id);
    const now = this.clock.now();
    const marker = `psk_worker:${id}`;
    const existing = await this.store.getWorker(id);
    if (!existing) {
      if (!(await this.store.getProject(project))) throw new ClaError(ErrorCode.UnknownProject, `Project \`${project}\` does not exist`);
      const row = { id, tokenHash: sha256Hex(this.secret()), createdAt: now, agent: agent ?? null };
      if (await this.store.createWorker(row, { project, at: now }, { [marker]: '1' })) return toInfo((await this.store.getWorker(id))!);
    }
    if ((await this.store.getSetting(marker)) === undefined) {
      // The PSK admits new ids only: it must not let its holder take over a registered worker.
      throw new ClaError(ErrorCode.DuplicateWorker, `Worker id \`${id}\` is registered with a token; connect with its token, or use another --subscriber-id with the pre-shared key`);
    }
    const worker = await this.store.getWorker(id);
    if (!worker) throw unknownWorker(id);
    if (!worker.projects.includes(project)) {
      if (!(await this.store.getProject(project))) throw new ClaError(ErrorCode.UnknownProject, `Project \`${project}\` does not exist`);
      await this.store.addWorkerProject(id, project, now);
    }
    return toInfo((await this.store.getWorker(id))!);
  }

  // ---- what handshake proofs are checked against (src/protocol/auth-proof.ts) -------------------------
  /** The stored token hash of worker `id`, or a hash no token has when there is no such worker. */
  async workerTokenHash(id: string): Promise<string> {
    return (await this.store.getWorker(id))?.tokenHash ?? NO_HASH;
  }

  /** The stored admin token hash, or a hash no token has before the first start. */
  async adminTokenHash(): Promise<string> {
    return (await this.store.getSetting(ADMIN_TOKEN_HASH_SETTING)) ?? NO_HASH;
  }

  /** The passkey hash of every project that has a passkey. */
  async passkeyHashes(): Promise<string[]> {
    return (await this.store.listProjects()).flatMap((p) => (p.passkeyHash ? [p.passkeyHash] : []));
  }

  /** The worker with this id and token; `BAD_TOKEN`, with one message, whichever of the two is wrong. */
  async authenticate(id: string, token: string): Promise<WorkerInfo> {
    const worker = typeof id === 'string' ? await this.store.getWorker(id) : undefined;
    const given = sha256Hex(typeof token === 'string' ? token : '');
    const match = sameHash(worker?.tokenHash ?? NO_HASH, given);
    if (!worker || !match || typeof token !== 'string' || token.length === 0) {
      throw new ClaError(ErrorCode.BadToken, BAD_TOKEN_MESSAGE);
    }
    return toInfo(worker);
  }

  /**
   * Removes a worker from `project`, or from every project when omitted; a worker left with no project is
   * deleted. Returns the projects it remains in.
   */
  async unregister(id: string, token: string, project?: string): Promise<{ id: string; projects: string[] }> {
    const worker = await this.authenticate(id, token);
    if (project === undefined) {
      await this.store.deleteWorker(id);
      return { id, projects: [] };
    }
    return this.leave(worker, project);
  }

  /**
   * An admin removes a worker from one project, no worker token needed (management API). A worker left
   * with no project is deleted. `UNKNOWN_WORKER` / `UNKNOWN_PROJECT` (also when it is not a member).
   */
  async adminUnregister(id: string, project: string): Promise<{ id: string; projects: string[] }> {
    const [worker, known] = await Promise.all([this.store.getWorker(id), this.store.getProject(project)]);
    if (!worker) throw unknownWorker(id);
    if (!known) throw unknownProject(project);
    return this.leave(worker, project);
  }

  private async leave(worker: WorkerInfo, project: string): Promise<{ id: string; projects: string[] }> {
    const { id } = worker;
    const projects = worker.projects.includes(project) ? await this.store.leaveProject(id, project) : undefined;
    if (!projects) {
      throw new ClaError(ErrorCode.UnknownProject, `Worker \`${id}\` is not registered in project \`${project}\`.`, {
        data: { id, project },
      });
    }
    return { id, projects };
  }

  // ---- admin token ------------------------------------------------------------------------------------
  /** Creates the admin token the first time and returns it, once, in plaintext; `null` if it exists. */
  async ensureAdminToken(): Promise<{ token: string | null }> {
    const token = this.secret();
    return { token: (await this.store.setSettingIfAbsent(ADMIN_TOKEN_HASH_SETTING, sha256Hex(token))) ? token : null };
  }

  async checkAdminToken(token: string): Promise<boolean> {
    const stored = await this.store.getSetting(ADMIN_TOKEN_HASH_SETTING);
    const match = sameHash(stored ?? NO_HASH, sha256Hex(typeof token === 'string' ? token : ''));
    return stored !== undefined && match && typeof token === 'string' && token.length > 0;
  }

  /** Replaces the admin token and returns the new one; the old one stops working at once. */
  async rotateAdminToken(): Promise<string> {
    const token = this.secret();
    await this.store.setSetting(ADMIN_TOKEN_HASH_SETTING, sha256Hex(token));
    return token;
  }

  // ---- worker bookkeeping -----------------------------------------------------------------------------
  /** Records a new connection (and what the worker says about itself); `UNKNOWN_WORKER` if missing. */
  async markConnected(id: string, agent: AgentInfo, at: number): Promise<void> {
    if (!(await this.store.updateWorker(id, { agent, lastSeen: at, connectedSince: at }))) throw unknownWorker(id);
  }

  /** Records traffic from a worker; `false` if it no longer exists. */
  markSeen(id: string, at: number): Promise<boolean> {
    return this.store.updateWorker(id, { lastSeen: at });
  }

  /** Records the end of a connection; `false` if the worker no longer exists (unregistered meanwhile). */
  markDisconnected(id: string, at: number): Promise<boolean> {
    return this.store.updateWorker(id, { connectedSince: null, lastSeen: at });
  }

  /** Marks every worker disconnected, for a hub that starts after a crash; returns how many were. */
  resetConnections(): Promise<number> {
    return this.store.clearConnections();
  }

  /**
   * Closes every job of this hub ({@link hubId}) still open in the store as `lost` (WORKER_LOST): at
   * start, none of them can be running, since the connections that carried them died with the previous
   * hub process (issue 11). Jobs of other hubs on a shared store are left alone (issue 9). Counted on
   * their workers like any end. Returns the closed jobs.
   */
  async closeJobsOfPreviousLife(at: number): Promise<JobRow[]> {
    return this.closeJobsOf(await this.hubId(), at);
  }

  /**
   * Closes the jobs another hub sharing this store left open when it died (issue 10) as `lost`
   * (WORKER_LOST): their connections died with it, and a hub started on an engine takes a new id, so no
   * later process of that hub would close them. Several hubs may close the same jobs at once: each job
   * ends (and is counted) once. Returns the jobs this call closed.
   */
  closeJobsOfDeadHub(hubId: string, at: number): Promise<JobRow[]> {
    return this.closeJobsOf(hubId, at);
  }

  private closeJobsOf(owner: string, at: number): Promise<JobRow[]> {
    return this.store.closeLostJobs(owner, { finishedAt: at, exitCode: null, signal: null, outcome: 'lost', errorCode: ErrorCode.WorkerLost });
  }

  async setDisabled(id: string, disabled: boolean): Promise<void> {
    if (!(await this.store.updateWorker(id, { disabled }))) throw unknownWorker(id);
  }

  /** True when the worker registered through the legacy pubsub routes. */
  async isLegacyWorker(id: string): Promise<boolean> {
    return (await this.store.getSetting(`legacy_worker:${id}`)) === '1';
  }

  async getWorker(id: string): Promise<WorkerInfo | undefined> {
    const row = await this.store.getWorker(id);
    return row && toInfo(row);
  }

  /** Workers sorted by id; with `project`, only its members (`UNKNOWN_PROJECT` if there is no such project). */
  async listWorkers(project?: string): Promise<WorkerInfo[]> {
    if (project !== undefined && !(await this.store.getProject(project))) throw unknownProject(project);
    return (await this.store.listWorkers(project)).map(toInfo);
  }

  // ---- jobs -------------------------------------------------------------------------------------------
  /** Records a started job, owned by this hub ({@link hubId}). */
  async recordJobStart(job: JobStart): Promise<void> {
    if (!JOB_KINDS.includes(job.kind)) {
      throw new InvalidArgumentError(`Expected job kind to be one of ${JOB_KINDS.join(', ')}, got ${describeValue(job.kind)}`);
    }
    const owner = await this.hubId();
    const row = { id: job.id, workerId: job.workerId, kind: job.kind, command: job.command, startedAt: job.at, owner };
    // The worker check and the insert in one store step (one transaction on SQLite, issue 13).
    if (!(await this.store.insertJob(row, { requireWorker: true }))) {
      throw new InvalidArgumentError(`Job \`${job.id}\` is already recorded`, { data: { job: job.id } });
    }
  }

  /**
   * Records how a job ended and counts it on its worker (see `isFailure`). Returns `false`, changing
   * nothing, if the job is unknown or already ended, so a late duplicate report is not counted twice.
   */
  async recordJobEnd(id: string, end: JobFinish): Promise<boolean> {
    if (!JOB_OUTCOMES.includes(end.outcome)) {
      const allowed = JOB_OUTCOMES.join(', ');
      throw new InvalidArgumentError(`Expected outcome to be one of ${allowed}, got ${describeValue(end.outcome)}`);
    }
    const finish = { finishedAt: end.at, exitCode: end.exitCode, signal: end.signal, outcome: end.outcome, errorCode: end.errorCode ?? null, output: end.output ?? null, outputBytes: end.outputBytes ?? 0 };
    if (this.store.endJob) return this.store.endJob(id, finish);
    return (await this.store.finishJob(id, finish)) !== undefined;
  }

  /** Up to `limit` jobs, newest first; optionally of one worker only. */
  async recentJobs(limit: number, workerId?: string): Promise<JobRow[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RECENT_JOBS) {
      throw new InvalidArgumentError(
        `Expected \`limit\` to be an integer from 1 to ${MAX_RECENT_JOBS}, got ${describeValue(limit)}`,
      );
    }
    return this.store.listRecentJobs(limit, workerId);
  }

  // ---- settings ---------------------------------------------------------------------------------------
  setSetting(key: string, value: string): Promise<void> {
    return this.store.setSetting(key, value);
  }

  getSetting(key: string): Promise<string | undefined> {
    return this.store.getSetting(key);
  }

  // ---- helpers ----------------------------------------------------------------------------------------
  private secret(): string {
    return this.random(SECRET_BYTES).toString('hex');
  }

  /** A random base62 id not yet taken. Bytes >= 248 are dropped so every character is equally likely. */
  private async freshWorkerId(): Promise<string> {
    for (;;) {
      let id = '';
      while (id.length < GENERATED_ID_LENGTH) {
        for (const byte of this.random(GENERATED_ID_LENGTH)) {
          if (byte < 248 && id.length < GENERATED_ID_LENGTH) id += BASE62[byte % 62];
        }
      }
      if (!(await this.store.getWorker(id))) return id;
    }
  }
}
