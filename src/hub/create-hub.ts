/**
 * The one place a hub is assembled: store, registry, task dispatcher, actions/workflows and the
 * listener, in the order they depend on each other. `cla-hub start`, tests, benchmarks and library users
 * call {@link createHub}; nobody else knows the extension order. The registry, task, workflow and resource
 * state live in the SQLite data file (the default) or in memory (`store: 'memory'`: nothing kept between
 * runs). With an engine, they live on its JetStream buckets, shared by every hub on it (issue 10); the data
 * file keeps this hub's own admin token hash and hub id.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { checkBoolean, checkInteger, checkKnownKeys, checkObject, checkString } from '../option-checks.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { tightenToOwnerOnly } from '../file-mode.ts';
import { FrameRecorder } from '../transport/recorder.ts';
import { ActionsExtension } from './actions/actions-extension.ts';
import { MemoryResourceStore } from './actions/memory-resource-store.ts';
import { MemoryWorkflowStore } from './actions/memory-workflow-store.ts';
import type { AdminHttpOptions } from './admin-http.ts';
import { adminTokenFile, DEFAULT_DATA_FILE, ensureAdminTokenFile, openRegistry } from './hub-files.ts';
import { parseHubOptions, type HubOptions } from './hub-options.ts';
import { Hub } from './hub.ts';
import type { JobRow, RegistryStore } from '../store/store.ts';
import { ADMIN_TOKEN_HASH_SETTING, HUB_ID_SETTING, Registry } from './registry.ts';
import { systemClock } from '../clock.ts';
import { MemoryTaskStore, SqliteTaskStore, TaskHub, type TaskHubOptions } from './tasks/index.ts';
import { recordingExtension } from './methods/recording-methods.ts';
import { JetStreamApiError } from '@nats-io/jetstream';
import { NatsCluster } from '../engine/cluster.ts';
import { CronSlots } from '../engine/cron-slots.ts';
import type { NatsEngine } from '../engine/nats-connect.ts';
import { JetStreamTaskStore } from '../engine/jetstream-task-store.ts';
import { JetStreamWorkflowStore } from '../engine/jetstream-workflow-store.ts';
import { JetStreamResourceStore } from '../engine/jetstream-resource-store.ts';
import { JetStreamRegistryStore } from '../engine/jetstream-registry-store.ts';
import { LocalSettingsStore } from '../engine/local-settings-store.ts';

/** Options for {@link createHub}: the listener's ({@link HubOptions}) plus where the hub keeps its state. */
export interface CreateHubOptions extends HubOptions {
  /** The SQLite data file (created when missing; `<data>.admin-token` is written beside it, mode 0600). With `store: 'memory'` no data file is opened, and the admin token file is written only when `data` is given. @default './cla-hub.sqlite' */
  data?: string;
  /**
   * Where the registry (projects, workers, jobs, settings), the tasks, the workflow runs and the resources
   * live: `'sqlite'`, the data file; `'memory'`, this process only (a new admin token and default project
   * at every start; for tests and throwaway hubs). An engine, when given, holds them instead. @default 'sqlite'
   */
  store?: HubStoreKind;
  /** Start the admin listener (JSON API, events, /metrics, dashboard) on this interface and port; `false` leaves it off. @default false */
  admin?: AdminHttpOptions | false;
  /** More workflow definitions (YAML/JSON files; one named like a built-in replaces it). @default undefined */
  workflowsDir?: string;
  /** Run the cron triggers of workflows. @default true */
  cron?: boolean;
  /** How long a disconnected action subscriber may take to come back before a workflow step stops waiting for it, in ms. @default 10000 */
  subscriberGraceMs?: number;
  /** Record every frame to this file (`cla-hub replay FILE` prints it). @default undefined */
  record?: string;
  /** The task dispatcher's lease time to live and sweep interval (see {@link TaskHubOptions}). @default its defaults */
  tasks?: TaskHubOptions;
  /** Where the hub logs (pino). @default a silent logger */
  log?: Logger;
  /**
   * A connected NATS engine shared with other hubs (`cla-hub start --engine`, issue 10): presence, routing
   * of runs and management to the hub holding a worker, cron once per slot, and one registry, task,
   * workflow and resource store on its JetStream buckets (a worker registered through one hub connects to
   * any; a run started on one hub is listed on all). The caller closes it after
   * `stop()`. Each hub of a cluster needs its own `hubId` (default: a new one per process with an engine).
   * @default undefined (one hub)
   */
  engine?: NatsEngine;
  /** Told about problems worth a person's attention (a data, token or recording file readable by others, tightened to 0600). @default log.warn */
  warn?: (message: string) => void;
}

/** The backends {@link createHub} can keep its state in. */
export type HubStoreKind = 'sqlite' | 'memory';

const STORE_KINDS: readonly HubStoreKind[] = ['sqlite', 'memory'];

const CREATE_KEYS = ['store', 'host', 'port', 'heartbeatMs', 'helloTimeoutMs', 'waitMs', 'tls', 'psk', 'storedOutputBytes', 'legacyPubsub', 'data', 'admin', 'workflowsDir', 'cron', 'subscriberGraceMs', 'record', 'tasks', 'log', 'warn', 'engine', 'hubId'] as const;

/** A hub built by {@link createHub}, not yet listening. */
export interface CreatedHub {
  /** The hub itself: `run()`, `management`, `changes$`, `metrics`. */
  readonly hub: Hub;
  /** Projects, passkeys, environments and workers in the data file. */
  readonly registry: Registry;
  /** Task dispatcher: `submit()` and `wait()`. */
  readonly tasks: TaskHub;
  /** Action bus and workflows. */
  readonly actions: ActionsExtension;
  /** The absolute path of the data file (with `store: 'memory'`, where it would be: nothing is opened there). */
  readonly dataFile: string;
  /** Which backend holds the state. */
  readonly store: HubStoreKind;
  /** The default project, created with a passkey on first use: `created` says whether it was this time. */
  readonly defaultProject: { project: string; passkey: string | null; created: boolean };
  /** The admin token (also in `<data>.admin-token`): what {@link AdminClient.connect} needs. */
  readonly adminToken: string;
  /** Jobs a previous hub process left running (it was killed), closed now as lost (`WORKER_LOST`). */
  readonly lostJobs: JobRow[];
  /** Listens; resolves with the websocket URL and, when `admin` was given, the admin API's URL. */
  start(): Promise<{ url: string; adminUrl: string | undefined }>;
  /** Closes every connection, the listeners and the data file (writing what is queued first). Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Assembles a hub on a SQLite data file (or in memory). Options are checked before anything is opened.
 *
 * @example
 * const { start, stop, adminToken } = await createHub({ data: 'hub.sqlite', port: 0 });
 * const { url } = await start();
 *
 * @throws InvalidArgumentError naming the option, its value and what was expected
 */
export async function createHub(options: CreateHubOptions = {}): Promise<CreatedHub> {
  const input = checkObject('options', options) as CreateHubOptions;
  checkKnownKeys('createHub', input as Record<string, unknown>, CREATE_KEYS);
  const { store: storeOption, data, admin, workflowsDir, cron, subscriberGraceMs, record, tasks: taskOptions, log: givenLog, warn: givenWarn, engine, ...listener } = input;
  // Workflow runs are owned by a hub id that must stay the same across restarts: only one given by the caller.
  const ownerId = listener.hubId;
  // Hubs sharing one store must not share the id kept in it: presence tells them apart by id.
  if (engine !== undefined && listener.hubId === undefined) listener.hubId = `${os.hostname()}-${randomUUID().slice(0, 8)}`;
  parseHubOptions(listener);
  const dataFile = path.resolve(checkString('data', data) ?? DEFAULT_DATA_FILE);
  const storeKind = checkString('store', storeOption) ?? 'sqlite';
  if (!STORE_KINDS.includes(storeKind as HubStoreKind)) {
    throw new InvalidArgumentError(`Expected \`store\` to be one of ${STORE_KINDS.map((k) => `'${k}'`).join(', ')}, got \`${storeKind}\``, { data: { option: 'store' } });
  }
  const inMemory = storeKind === 'memory';
  const graceMs = checkInteger('subscriberGraceMs', subscriberGraceMs, 10_000, 0);
  const runCron = checkBoolean('cron', cron, true);
  if (admin !== undefined && admin !== false) checkObject('admin', admin);
  if (workflowsDir !== undefined && !fs.existsSync(checkString('workflowsDir', workflowsDir)!)) {
    throw new InvalidArgumentError(`Expected \`workflowsDir\` to be an existing folder, got \`${workflowsDir}\` (missing)`, { data: { option: 'workflowsDir' } });
  }
  const log = givenLog ?? silentLogger();
  const warn = givenWarn ?? ((message: string) => log.warn(message));

  // SQLite gives its -wal and -shm files the data file's mode, so the three are checked together (issue 11, case 14).
  if (!inMemory) for (const file of [dataFile, `${dataFile}-wal`, `${dataFile}-shm`, adminTokenFile(dataFile)]) tightenToOwnerOnly(file, 'hub file', warn);
  const memoryStore = inMemory ? new MemoryStore() : undefined;
  const storeLog = log.child({ component: 'store' });
  // Without an engine, the registry's connection to the data file is the hub's only one: the task, workflow
  // and resource stores share it and its group commit, so the writes of one turn are one transaction
  // (issue 9). It closes last (`opened` closes in reverse), once the others have drained.
  const { registry, store: sqliteStore, close: closeRegistry } = engine
    ? { ...(await openEngineRegistry(engine, memoryStore ?? openSqliteStore(dataFile, { log: storeLog }))), store: undefined }
    : memoryStore
      ? { registry: new Registry(memoryStore, systemClock), store: undefined, close: () => memoryStore.close() }
      : openRegistry(dataFile, storeLog);
  const opened: Array<() => void | Promise<void>> = [closeRegistry];
  const closeAll = async () => {
    for (const close of opened.reverse()) await close();
  };
  try {
    await registry.hubId(listener.hubId);
    const defaultProject = await registry.ensureDefaultProject();
    const adminToken = inMemory && data === undefined ? (await registry.ensureAdminToken()).token! : await ensureAdminTokenFile(registry, dataFile);
    // On a shared registry the connection marks of workers on other hubs are theirs: not reset here.
    if (!engine) await registry.resetConnections();
    const lostJobs = await registry.closeJobsOfPreviousLife(Date.now());
    const recorder = record === undefined ? undefined : new FrameRecorder(checkString('record', record)!, undefined, 'hub', warn);
    if (recorder) opened.push(() => recorder.close());
    // With an engine, tasks live in its JetStream bucket, shared by every hub on it (issue 10); the leases
    // this hub grants carry its id, so recovery at its start releases only its own.
    const tasks = engine
      ? new TaskHub({ store: await openEngineTaskStore(engine, listener.hubId!), ownsStore: true }, taskOptions)
      : new TaskHub({ store: sqliteStore ? new SqliteTaskStore(sqliteStore.db, { commit: sqliteStore.groupCommit }) : new MemoryTaskStore(), ownsStore: true }, taskOptions);
    const cronSlots = engine ? new CronSlots(engine, listener.hubId!) : undefined;
    const claimCronSlot = cronSlots ? (slot: string) => cronSlots.claim(slot) : undefined;
    const actionsOptions = { workflowsDir, cron: runCron, graceMs, tasks, claimCronSlot, log: log.child({ component: 'workflows' }) };
    let actions: ActionsExtension;
    if (engine) {
      // Workflow runs and resource graphs in the engine's buckets too, so any hub shows them (issue 10).
      const stores = await openEngineActionStores(engine, listener.hubId!);
      opened.push(() => stores.workflows.close(), () => stores.resources.close());
      actions = new ActionsExtension({ ...actionsOptions, stores });
    } else if (sqliteStore) {
      actions = new ActionsExtension({ ...actionsOptions, db: sqliteStore.db, commit: sqliteStore.groupCommit, hubId: ownerId });
    } else {
      actions = new ActionsExtension({ ...actionsOptions, stores: { workflows: new MemoryWorkflowStore(undefined, { hubId: ownerId }), resources: new MemoryResourceStore() } });
    }
    // A hub gone leaves its unfinished runs in the shared store: the hubs that see it go adopt them (one
    // each). A dead one also leaves the jobs it was running open: they end as lost. (A hub that stops
    // ends its own jobs as it closes their connections; closing them here could race its real ends.)
    const hubGone = (gone: string, dead: boolean) => {
      void actions.engine.adopt(gone).then(
        (n) => n > 0 && log.info({ hub: gone, runs: n }, 'adopted the workflow runs of a hub that is gone'),
        (error: unknown) => log.error({ err: error, hub: gone }, 'could not adopt the workflow runs of a hub that is gone'),
      );
      if (!dead) return;
      void registry.closeJobsOfDeadHub(gone, Date.now()).then(
        (jobs) => jobs.length > 0 && log.warn({ hub: gone, jobs: jobs.map((j) => j.id) }, 'closed the jobs of a dead hub as lost'),
        (error: unknown) => log.error({ err: error, hub: gone }, 'could not close the jobs of a dead hub'),
      );
    };
    const cluster = engine ? new NatsCluster(engine, { log: log.child({ component: 'cluster' }), bus: actions.bus, workflows: actions.engine, onHubGone: hubGone }) : undefined;
    const hub = new Hub(listener, { registry, log, tap: recorder, cluster, extensions: [tasks, actions, recordingExtension(recorder?.path)] });
    let stopping: Promise<void> | undefined;
    return {
      hub,
      registry,
      tasks,
      actions,
      dataFile,
      store: storeKind as HubStoreKind,
      defaultProject,
      adminToken,
      lostJobs,
      async start() {
        const url = await hub.start();
        const adminUrl = admin === undefined || admin === false ? undefined : await hub.startAdmin(admin);
        return { url, adminUrl };
      },
      stop() {
        stopping ??= (async () => {
          try {
            await hub.stop();
          } finally {
            await closeAll();
          }
        })();
        return stopping;
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The workflow and resource stores on the engine, open and loaded. */
async function openEngineActionStores(engine: NatsEngine, hubId: string): Promise<{ workflows: JetStreamWorkflowStore; resources: JetStreamResourceStore }> {
  const workflows = new JetStreamWorkflowStore(engine.nc, { hubId, replicas: engine.replicas });
  const resources = new JetStreamResourceStore(engine.nc, { replicas: engine.replicas });
  await Promise.all([workflows.opened(), resources.opened()]);
  return { workflows, resources };
}

/**
 * The registry on the engine, shared by every hub on it (issue 10), with this hub's own settings (admin
 * token hash, hub id) in `local`: the hub's data file, or memory.
 */
async function openEngineRegistry(engine: NatsEngine, local: RegistryStore): Promise<{ registry: Registry; close: () => Promise<void> }> {
  const shared = new JetStreamRegistryStore(engine.nc, { replicas: engine.replicas });
  const store = new LocalSettingsStore(shared, local, [HUB_ID_SETTING, ADMIN_TOKEN_HASH_SETTING]);
  try {
    await shared.opened();
  } catch (cause) {
    // Already failing with the cause that matters (the engine refused the bucket): a second error from
    // releasing the half-opened stores would only hide it, and nothing was written through them.
    await store.close().catch(() => undefined);
    throw new ClaError(ErrorCode.ConnectionFailed, `The engine at ${engine.servers.join(', ')} refused the registry bucket ${shared.registryBucket} (${(cause as Error).message}): ${refusalHint(engine, cause)}`, { cause });
  }
  return { registry: new Registry(store, systemClock), close: () => store.close() };
}

/** What to do when the engine refused to create a bucket. */
function refusalHint(engine: NatsEngine, cause: unknown): string {
  // 10005: no suitable peers for placement (fewer servers up than replicas); 10074: replicas > 1 on a single server.
  if (cause instanceof JetStreamApiError && (cause.code === 10005 || cause.code === 10074)) {
    return `--engine-replicas ${engine.replicas} needs a cluster with that many JetStream servers up: start them, or lower --engine-replicas`;
  }
  // 10065 / 10058 after createBucket's retries: not a race between hubs, another stream holds the bucket's subjects or name.
  if (cause instanceof JetStreamApiError && (cause.code === 10065 || cause.code === 10058)) {
    return 'another stream on that server already takes the bucket\'s name or its subjects ($KV.<bucket>.>; `nats stream ls` lists them): remove it, or give the hubs a server of their own';
  }
  return 'is JetStream on (`nats-server -js`)?';
}

/** The task store on the engine, open and loaded; a server without JetStream is refused with what to do. */
async function openEngineTaskStore(engine: NatsEngine, hubId: string): Promise<JetStreamTaskStore> {
  const store = new JetStreamTaskStore(engine.nc, { hubId, replicas: engine.replicas });
  return store.opened().catch((cause: unknown) => {
    throw new ClaError(ErrorCode.ConnectionFailed, `The engine at ${engine.servers.join(', ')} refused the task bucket ${store.bucket} (${(cause as Error).message}): ${refusalHint(engine, cause)}`, { cause });
  });
}
