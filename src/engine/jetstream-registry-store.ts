/**
 * {@link RegistryStore} on NATS JetStream (issue 10): the registry (projects, passkeys, environments,
 * workers, jobs, settings) every hub on one engine shares, so a worker registered through one hub
 * authenticates on any other.
 *
 * Layout (nats-server 2.9: no per-key TTL, no atomic batch). Two KV buckets, history 1, values JSON:
 * - `<prefix>_registry`: `p.<name>` a project row; `ph.<passkeyHash>` the name of the project holding that
 *   hash (the unique index SQLite has on the column); `e.<name>` an environment; `w.<id>` a worker row with
 *   its projects and counters; `s.<key>` a setting. Names that are not plain `[A-Za-z0-9_-]` go base64url
 *   under `x.` (so `s.x.aHViLmlk` is the setting `hub.id`).
 * - `<prefix>_jobs`: `<id>` a job row (output tail base64). Jobs have their own bucket because their
 *   history grows; `seq` (insertion order, the tie-break of the lists) is the revision of the job's
 *   first write, kept in the row from its second write on (the first stores 0).
 * Each store follows both buckets with a watch ({@link KvFollower}): the registry's values and a slim
 * index of the jobs (id, worker, start, owner, finished) stay in memory, and the lists wait until the watch
 * has caught up with the bucket first, so they see every acknowledged write. Point reads go to the bucket.
 *
 * Every conditional change is a compare-and-set: `kv.create` (the key must not exist) or `kv.update` at
 * the revision read, read again and decided again when another hub wrote meanwhile.
 *
 * Two keys, no atomic batch: the writes are ordered so that a crash between them leaves a state the next
 * call repairs or that is harmless.
 * - Project and passkey index: the index key is claimed first, the project written second. An index key
 *   whose project is missing or holds another hash is stale: `findProjectByPasskeyHash` ignores it, and
 *   the next project claiming that hash takes it over (compare-and-set). An old hash's key is dropped
 *   after the project changed, so a crash there leaves only such a stale key.
 * - `createWorker` with settings (the registry's per-worker markers, `psk_worker:<id>`,
 *   `legacy_worker:<id>`): the worker is checked absent, the settings written, the worker created last. A
 *   crash between leaves markers of a worker that does not exist, which is harmless: every creation of
 *   that id writes its markers again. (Worker first would leave a PSK worker without its marker, locked
 *   out.) Two hubs creating one id at the same instant: one worker is created, and the markers are the
 *   ones written last; they differ only if one registration is legacy and the other is not.
 * - `finishJob` and the worker's counters: the job is finished first (compare-and-set: once), the counters
 *   then; a crash between loses one count on `jobsRun`/`failures`, never counts twice.
 *
 * Ordering: calls on one store run one after the other, in call order (the hub fires connection marks and
 * job starts/ends without awaiting each). Across hubs, each write is one compare-and-set.
 *
 * Durability: a single nats-server fsyncs lazily (nats-server#7564); production runs 3 nodes and
 * `replicas: 3`, so an acknowledged write is on a majority.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { openRetryingBucket } from './jetstream-buckets.ts';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import { isFailure, startedJobRow, unknownWorkerError } from '../store/store.ts';
import type { InsertJobOptions, JobEnd, JobRow, NewJob, NewMembership, NewWorker, ProjectRow, RegistryStore, SettingsPatch, WorkerPatch, WorkerRow } from '../store/store.ts';
import { KvFollower } from './jetstream-kv-follower.ts';

/** Options of {@link JetStreamRegistryStore}. */
export interface JetStreamRegistryStoreOptions {
  /** Bucket name prefix, `[A-Za-z0-9_-]`; every hub sharing the registry uses the same one. @default 'cla' */
  prefix?: string;
  /** Replicas of the buckets' streams when this store creates them: 3 on a 3-node cluster. @default 1 */
  replicas?: number;
}

/** Compare-and-set retries on one key before the store gives up (another hub writing it all along). */
const MAX_CAS_RETRIES = 32;

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;
const enc = (name: string) => (PLAIN_KEY.test(name) ? name : `x.${Buffer.from(name).toString('base64url')}`);
const dec = (key: string) => (key.startsWith('x.') ? Buffer.from(key.slice(2), 'base64url').toString() : key);

const projectKey = (name: string) => `p.${enc(name)}`;
const hashKey = (passkeyHash: string) => `ph.${enc(passkeyHash)}`;
const envKey = (name: string) => `e.${enc(name)}`;
const workerKey = (id: string) => `w.${enc(id)}`;
const settingKey = (key: string) => `s.${enc(key)}`;

const isWrongRevision = (error: unknown) =>
  error instanceof JetStreamApiError && (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

const byBinary = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const noop = () => undefined;

/** A job as stored: output as base64, `seq` 0 on the first write (then the revision of that write). */
type JobRecord = Omit<JobRow, 'output'> & { output: string | null; seq: number };

/** What the store keeps in memory of each job, for the lists. */
interface JobEntry {
  workerId: string;
  startedAt: number;
  owner: string | null;
  finished: boolean;
  seq: number;
}

interface Opened {
  registry: KV;
  jobs: KV;
  registryFollower: KvFollower;
  jobsFollower: KvFollower;
}

/** A value read with the revision to compare-and-set against. */
interface Read<T> {
  value: T;
  revision: number;
}

/** A {@link RegistryStore} on JetStream KV buckets shared by every hub on the engine. */
export class JetStreamRegistryStore implements RegistryStore {
  readonly registryBucket: string;
  readonly jobsBucket: string;
  private readonly connection: () => Promise<NatsConnection>;
  private readonly replicas: number;
  /** The registry bucket's values by key, as the watch delivered them. */
  private readonly values = new Map<string, string>();
  private readonly jobIndex = new Map<string, JobEntry>();
  private ready: Promise<Opened> | undefined;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  /**
   * A store on the buckets reached through `nc` (a connection, or a function giving one: then nothing is
   * opened before the first call or {@link opened}). The buckets are created when missing.
   */
  constructor(nc: NatsConnection | (() => Promise<NatsConnection>), options: JetStreamRegistryStoreOptions = {}) {
    const prefix = options.prefix ?? 'cla';
    if (!PLAIN_KEY.test(prefix)) throw new InvalidArgumentError(`Expected \`prefix\` to be letters, digits, _ or -, got \`${prefix}\``);
    const replicas = options.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new InvalidArgumentError(`Expected \`replicas\` to be an integer 1-5, got \`${replicas}\``);
    this.registryBucket = `${prefix}_registry`;
    this.jobsBucket = `${prefix}_jobs`;
    this.connection = typeof nc === 'function' ? nc : () => Promise.resolve(nc);
    this.replicas = replicas;
  }

  /** Resolves once both buckets are open and loaded; rejects when they cannot be. */
  async opened(): Promise<this> {
    await this.open();
    return this;
  }

  private open(): Promise<Opened> {
    if (this.closed) return Promise.reject(new ClaError(ErrorCode.Internal, `The registry store on bucket ${this.registryBucket} is closed`));
    return (this.ready ??= this.start());
  }

  private async start(): Promise<Opened> {
    const nc = await this.connection();
    const [registry, jobs] = await Promise.all([openRetryingBucket(nc, this.registryBucket, this.replicas), openRetryingBucket(nc, this.jobsBucket, this.replicas)]);
    const [registryFollower, jobsFollower] = await Promise.all([
      KvFollower.start(
        registry,
        (key, value) => {
          if (value === undefined) this.values.delete(key);
          else this.values.set(key, value);
        },
        { nc, bucket: this.registryBucket },
      ),
      KvFollower.start(
        jobs,
        (key, value, revision) => {
          if (value === undefined) return void this.jobIndex.delete(key);
          const row = JSON.parse(value) as JobRecord;
          this.jobIndex.set(key, { workerId: row.workerId, startedAt: row.startedAt, owner: row.owner, finished: row.finishedAt !== null, seq: row.seq || revision });
        },
        { nc, bucket: this.jobsBucket },
      ),
    ]);
    return { registry, jobs, registryFollower, jobsFollower };
  }

  /** Runs `fn` after every earlier call of this store. */
  private run<T>(fn: (o: Opened) => Promise<T>): Promise<T> {
    const result = this.tail.then(() => this.open()).then(fn);
    this.tail = result.then(noop, noop);
    return result;
  }

  // ---- bucket helpers ----------------------------------------------------------------------------

  private async read<T>(kv: KV, key: string): Promise<Read<T> | undefined> {
    const entry = await kv.get(key);
    if (!entry || entry.operation !== 'PUT') return undefined;
    return { value: JSON.parse(entry.string()) as T, revision: entry.revision };
  }

  /** `kv.create`: `false` when the key exists. */
  private async create(kv: KV, key: string, value: unknown): Promise<number | false> {
    try {
      return await kv.create(key, JSON.stringify(value));
    } catch (error) {
      if (isWrongRevision(error)) return false;
      throw error;
    }
  }

  /**
   * The conditional write: `decide` maps the current value (undefined: none) to the new one, to `null` to
   * delete the key, or to `undefined` when its condition fails (nothing written). A compare-and-set on the
   * revision `decide` saw; when another hub wrote meanwhile, read and decided again.
   */
  private async change<T>(kv: KV, key: string, decide: (current: T | undefined) => T | null | undefined): Promise<boolean> {
    for (let attempt = 0; attempt <= MAX_CAS_RETRIES; attempt++) {
      const current = await this.read<T>(kv, key);
      const next = decide(current?.value);
      if (next === undefined) return false;
      try {
        if (next === null) {
          if (current) await kv.delete(key, { previousSeq: current.revision });
        } else if (current) await kv.update(key, JSON.stringify(next), current.revision);
        else if ((await this.create(kv, key, next)) === false) continue;
        return true;
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
      }
    }
    throw casExhausted(key);
  }

  private async applySettings(kv: KV, settings: SettingsPatch): Promise<void> {
    for (const [key, value] of Object.entries(settings)) {
      if (value === null) await kv.delete(settingKey(key));
      else await kv.put(settingKey(key), JSON.stringify(value));
    }
  }

  /** The registry's values under `prefix` (after the watch caught up). */
  private async scan<T>(o: Opened, prefix: string): Promise<T[]> {
    await o.registryFollower.sync();
    const out: T[] = [];
    for (const [key, value] of this.values) if (key.startsWith(prefix)) out.push(JSON.parse(value) as T);
    return out;
  }

  // ---- projects ----------------------------------------------------------------------------------

  /**
   * The project's row first, then its passkey hash's index key. In this order an index key always points
   * at a row that already exists, so {@link claimHash} can tell a key left by a crash (its project gone or
   * holding another hash) from a project being created by another hub this moment. The other order let
   * two hubs both win one hash: B took A's fresh key over as stale before A had written its row.
   */
  createProject(row: ProjectRow): Promise<boolean> {
    return this.run(async ({ registry }) => {
      const key = projectKey(row.name);
      if (await this.read(registry, key)) return false;
      if ((await this.create(registry, key, row)) === false) return false;
      if (row.passkeyHash === null || (await this.claimHash(registry, row.passkeyHash, row.name))) return true;
      // Another project holds the hash: take this row back (only the one written here).
      await this.change<ProjectRow>(registry, key, (current) => (current?.createdAt === row.createdAt && current.passkeyHash === row.passkeyHash ? null : undefined));
      return false;
    });
  }

  getProject(name: string): Promise<ProjectRow | undefined> {
    return this.run(async ({ registry }) => (await this.read<ProjectRow>(registry, projectKey(name)))?.value);
  }

  listProjects(): Promise<ProjectRow[]> {
    return this.run(async (o) => (await this.scan<ProjectRow>(o, 'p.')).sort((a, b) => a.createdAt - b.createdAt || byBinary(a.name, b.name)));
  }

  findProjectByPasskeyHash(passkeyHash: string): Promise<ProjectRow | undefined> {
    return this.run(async ({ registry }) => {
      const holder = await this.read<string>(registry, hashKey(passkeyHash));
      if (!holder) return undefined;
      const project = await this.read<ProjectRow>(registry, projectKey(holder.value));
      return project?.value.passkeyHash === passkeyHash ? project.value : undefined;
    });
  }

  setProjectPasskey(name: string, passkey: string | null, passkeyHash: string | null): Promise<boolean> {
    return this.run(async ({ registry }) => {
      const before = await this.read<ProjectRow>(registry, projectKey(name));
      if (!before) return false;
      if (passkeyHash !== null && passkeyHash !== before.value.passkeyHash && !(await this.claimHash(registry, passkeyHash, name))) {
        // The SQLite column is UNIQUE: another project's hash is refused the same way.
        throw new ClaError(ErrorCode.Internal, 'Passkey hash already in use', { data: { project: name } });
      }
      let old: string | null = null;
      const changed = await this.change<ProjectRow>(registry, projectKey(name), (row) => {
        if (!row) return undefined;
        old = row.passkeyHash;
        return { ...row, passkey, passkeyHash };
      });
      if (old !== null && old !== passkeyHash) await this.releaseHash(registry, old, name);
      return changed;
    });
  }

  /**
   * Takes the index key of `passkeyHash` for `name`: `false` when another project really holds it. A
   * stale key (left by a crash, or by a project that changed hash since) is taken over.
   */
  private async claimHash(kv: KV, passkeyHash: string, name: string): Promise<boolean> {
    const key = hashKey(passkeyHash);
    for (let attempt = 0; attempt <= MAX_CAS_RETRIES; attempt++) {
      const holder = await this.read<string>(kv, key);
      if (!holder) {
        if ((await this.create(kv, key, name)) !== false) return true;
        continue;
      }
      if (holder.value === name) return true;
      const project = await this.read<ProjectRow>(kv, projectKey(holder.value));
      if (project?.value.passkeyHash === passkeyHash) return false;
      try {
        await kv.update(key, JSON.stringify(name), holder.revision);
        return true;
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
      }
    }
    throw casExhausted(key);
  }

  /** Drops the index key of `passkeyHash` if `name` still holds it. */
  private async releaseHash(kv: KV, passkeyHash: string, name: string): Promise<void> {
    await this.change<string>(kv, hashKey(passkeyHash), (holder) => (holder === name ? null : undefined));
  }

  // ---- environments ------------------------------------------------------------------------------

  addEnv(name: string): Promise<boolean> {
    return this.run(async ({ registry }) => (await this.create(registry, envKey(name), name)) !== false);
  }

  listEnvs(): Promise<string[]> {
    return this.run(async (o) => (await this.scan<string>(o, 'e.')).sort(byBinary));
  }

  missingEnvs(names: readonly string[]): Promise<string[]> {
    return this.run(async ({ registry }) => {
      const unique = [...new Set(names)];
      const found = await Promise.all(unique.map((name) => this.read(registry, envKey(name))));
      return unique.filter((_, i) => !found[i]);
    });
  }

  // ---- workers -----------------------------------------------------------------------------------

  createWorker(row: NewWorker, membership?: NewMembership, settings?: SettingsPatch): Promise<boolean> {
    return this.run(async ({ registry }) => {
      if (await this.read(registry, workerKey(row.id))) return false;
      // Projects are never deleted, so one that exists now still does at the create below.
      if (membership && !(await this.read(registry, projectKey(membership.project)))) throw unknownProject(membership.project);
      const worker: WorkerRow = {
        id: row.id,
        tokenHash: row.tokenHash,
        createdAt: row.createdAt,
        projects: membership ? [membership.project] : [],
        agent: row.agent ?? null,
        lastSeen: null,
        connectedSince: null,
        disabled: false,
        jobsRun: 0,
        failures: 0,
      };
      // Settings first: see the file header.
      if (settings) await this.applySettings(registry, settings);
      return (await this.create(registry, workerKey(row.id), worker)) !== false;
    });
  }

  getWorker(id: string): Promise<WorkerRow | undefined> {
    return this.run(async ({ registry }) => (await this.read<WorkerRow>(registry, workerKey(id)))?.value);
  }

  getWorkers(ids: readonly string[]): Promise<Array<WorkerRow | undefined>> {
    return this.run(({ registry }) => Promise.all(ids.map(async (id) => (await this.read<WorkerRow>(registry, workerKey(id)))?.value)));
  }

  listWorkers(project?: string): Promise<WorkerRow[]> {
    return this.run(async (o) =>
      (await this.scan<WorkerRow>(o, 'w.')).filter((w) => project === undefined || w.projects.includes(project)).sort((a, b) => byBinary(a.id, b.id)),
    );
  }

  updateWorker(id: string, patch: WorkerPatch): Promise<boolean> {
    return this.run(({ registry }) => this.patchWorker(registry, id, patch));
  }

  private patchWorker(kv: KV, id: string, patch: WorkerPatch): Promise<boolean> {
    const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as WorkerPatch;
    return this.change<WorkerRow>(kv, workerKey(id), (row) => row && { ...row, ...defined });
  }

  clearConnections(): Promise<number> {
    return this.run(async (o) => {
      const connected = (await this.scan<WorkerRow>(o, 'w.')).filter((w) => w.connectedSince !== null);
      const changed = await Promise.all(
        connected.map((w) => this.change<WorkerRow>(o.registry, workerKey(w.id), (row) => (row && row.connectedSince !== null ? { ...row, connectedSince: null } : undefined))),
      );
      return changed.filter(Boolean).length;
    });
  }

  deleteWorker(id: string): Promise<boolean> {
    return this.run(({ registry }) => this.change<WorkerRow>(registry, workerKey(id), (row) => (row ? null : undefined)));
  }

  addWorkerProject(id: string, project: string, _at: number, patch?: WorkerPatch): Promise<boolean> {
    return this.run(async ({ registry }) => {
      if (!(await this.read(registry, workerKey(id)))) throw unknownWorkerError(id);
      if (!(await this.read(registry, projectKey(project)))) throw unknownProject(project);
      const defined = Object.fromEntries(Object.entries(patch ?? {}).filter(([, value]) => value !== undefined)) as WorkerPatch;
      return this.change<WorkerRow>(registry, workerKey(id), (row) =>
        row && !row.projects.includes(project) ? { ...row, ...defined, projects: [...row.projects, project].sort(byBinary) } : undefined,
      );
    });
  }

  leaveProject(id: string, project: string): Promise<string[] | undefined> {
    return this.run(async ({ registry }) => {
      let remaining: string[] | undefined;
      await this.change<WorkerRow>(registry, workerKey(id), (row) => {
        remaining = undefined;
        if (!row?.projects.includes(project)) return undefined;
        remaining = row.projects.filter((p) => p !== project);
        return remaining.length === 0 ? null : { ...row, projects: remaining };
      });
      return remaining;
    });
  }

  // ---- jobs --------------------------------------------------------------------------------------

  insertJob(job: NewJob, options: InsertJobOptions = {}): Promise<boolean> {
    return this.run(async ({ jobs, registry }) => {
      // A worker deleted between this read and the create keeps its job, as one deleted after it would.
      if (options.requireWorker && !(await this.read(registry, workerKey(job.workerId)))) throw unknownWorkerError(job.workerId);
      // JSON, as the SQLite backend stores it (undefined becomes null).
      const record: JobRecord = { ...startedJobRow(job), output: null, seq: 0 };
      return (await this.create(jobs, enc(job.id), record)) !== false;
    });
  }

  finishJob(id: string, end: JobEnd): Promise<JobRow | undefined> {
    return this.run((o) => this.finish(o, id, end));
  }

  private async finish(o: Opened, id: string, end: JobEnd): Promise<JobRow | undefined> {
    let finished: JobRecord | undefined;
    for (let attempt = 0; ; attempt++) {
      const entry = await o.jobs.get(enc(id));
      if (attempt > MAX_CAS_RETRIES) throw casExhausted(enc(id));
      if (!entry || entry.operation !== 'PUT') return undefined;
      const job = JSON.parse(entry.string()) as JobRecord;
      if (job.finishedAt !== null) return undefined;
      const output = end.output ? Buffer.from(end.output).toString('base64') : null;
      finished = { ...job, seq: job.seq || entry.revision, finishedAt: end.finishedAt, exitCode: end.exitCode, signal: end.signal, outcome: end.outcome, errorCode: end.errorCode, output, outputBytes: end.outputBytes ?? 0 };
      try {
        await o.jobs.update(enc(id), JSON.stringify(finished), entry.revision);
        break;
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
      }
    }
    // The job is finished (once) before it is counted: a crash in between loses a count, never doubles one.
    const failed = isFailure(end.outcome) ? 1 : 0;
    await this.change<WorkerRow>(o.registry, workerKey(finished.workerId), (row) => row && { ...row, jobsRun: row.jobsRun + 1, failures: row.failures + failed });
    return toJobRow(finished);
  }

  getJob(id: string): Promise<JobRow | undefined> {
    return this.run(async ({ jobs }) => this.fetchJob(jobs, id));
  }

  private async fetchJob(kv: KV, id: string): Promise<JobRow | undefined> {
    const record = await this.read<JobRecord>(kv, enc(id));
    return record && toJobRow(record.value);
  }

  /** Job ids (after the watch caught up) matching `filter`, oldest start first, ties in insertion order. */
  private async jobIds(o: Opened, filter: (job: JobEntry) => boolean): Promise<string[]> {
    await o.jobsFollower.sync();
    return [...this.jobIndex]
      .filter(([, job]) => filter(job))
      .sort(([, a], [, b]) => a.startedAt - b.startedAt || a.seq - b.seq)
      .map(([key]) => dec(key));
  }

  private async fetchJobs(kv: KV, ids: string[]): Promise<JobRow[]> {
    const rows = await Promise.all(ids.map((id) => this.fetchJob(kv, id)));
    return rows.filter((row): row is JobRow => row !== undefined);
  }

  listUnfinishedJobs(): Promise<JobRow[]> {
    return this.run(async (o) => this.fetchJobs(o.jobs, await this.jobIds(o, (job) => !job.finished)));
  }

  closeLostJobs(owner: string, end: JobEnd): Promise<JobRow[]> {
    return this.run(async (o) => {
      const ids = await this.jobIds(o, (job) => !job.finished && (job.owner === owner || job.owner === null));
      // One after the other: at once, the jobs of one worker would race each other on its counters.
      const rows: JobRow[] = [];
      for (const id of ids) {
        const row = await this.finish(o, id, end);
        if (row) rows.push(row);
      }
      return rows;
    });
  }

  listRecentJobs(limit: number, workerId?: string): Promise<JobRow[]> {
    return this.run(async (o) => {
      const ids = await this.jobIds(o, (job) => workerId === undefined || job.workerId === workerId);
      return this.fetchJobs(o.jobs, ids.reverse().slice(0, Math.max(0, limit)));
    });
  }

  // ---- settings ----------------------------------------------------------------------------------

  setSetting(key: string, value: string): Promise<void> {
    return this.run(async ({ registry }) => {
      await registry.put(settingKey(key), JSON.stringify(value));
    });
  }

  setSettingIfAbsent(key: string, value: string): Promise<boolean> {
    return this.run(async ({ registry }) => (await this.create(registry, settingKey(key), value)) !== false);
  }

  getSetting(key: string): Promise<string | undefined> {
    return this.run(async ({ registry }) => (await this.read<string>(registry, settingKey(key)))?.value);
  }

  deleteSetting(key: string): Promise<boolean> {
    return this.run(({ registry }) => this.change<string>(registry, settingKey(key), (value) => (value === undefined ? undefined : null)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.tail;
    this.closed = true;
    const opened = await this.ready?.catch(noop);
    await Promise.all([opened?.registryFollower.stop(), opened?.jobsFollower.stop()]);
  }
}

function toJobRow(record: JobRecord): JobRow {
  const { seq: _seq, output, ...row } = record;
  return { ...row, output: output === null ? null : new Uint8Array(Buffer.from(output, 'base64')) };
}

function casExhausted(key: string): ClaError {
  return new ClaError(ErrorCode.Internal, `Gave up writing registry key ${key} after ${MAX_CAS_RETRIES} compare-and-set retries: other hubs kept changing it`, { data: { key } });
}

function unknownProject(project: string): ClaError {
  return new ClaError(ErrorCode.UnknownProject, `No project named \`${project}\`.`, { data: { project } });
}

/** Opens a {@link JetStreamRegistryStore} and waits until its buckets are loaded. */
export function openJetStreamRegistryStore(nc: NatsConnection, options: JetStreamRegistryStoreOptions = {}): Promise<JetStreamRegistryStore> {
  return new JetStreamRegistryStore(nc, options).opened();
}
