/**
 * The one description of the recorded scenarios, shared by record-fixtures.ts (which runs them for real)
 * and harness.ts (which replays them): the deterministic sources, how the registry is seeded, and what
 * each recorded worker is told. Change anything here and the fixtures must be regenerated.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock, type Clock } from '../../src/clock.ts';
import { ActionsExtension } from '../../src/hub/actions/actions-extension.ts';
import { loadWorkflows } from '../../src/hub/actions/workflow-definitions.ts';
import type { HubExtension } from '../../src/hub/hub-extension.ts';
import type { HubDeps, HubOptions } from '../../src/hub/hub.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.ts';
import type { FrameTap } from '../../src/transport/transport.ts';
import type { AgentExtension } from '../../src/worker/agent-extension.ts';
import type { AgentOptions } from '../../src/worker/agent.ts';
import type { ExecRunnerOptions } from '../../src/worker/exec-runner.ts';
import { createPluginWorker } from '../../src/worker/plugins/setup.ts';
import { SubscribeExtension, SubscriptionRegistry, type TaskHandler } from '../../src/worker/subscriptions.ts';
import { TaskExtension } from '../../src/worker/tasks/task-extension.ts';
import { SqliteTaskStore } from '../../src/hub/tasks/sqlite-task-store.ts';
import { TaskHub } from '../../src/hub/tasks/task-hub.ts';
import type { TaskHubOptions } from '../../src/hub/tasks/task-spec.ts';
import { ClaError, ErrorCode } from '../../src/errors.ts';
import { REPLAY_TREE, SCENARIO_EPOCH, createReplayTree } from './replay-tree.ts';

export const FIXTURE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** Every recorded scenario; each has `NAME.hub.rec` and, where a worker took part, `NAME.worker.rec`. */
export const FIXTURES = ['register-and-exec', 'refusals', 'disconnect-mid-job', 'collect-and-cleanup', 'task-push', 'task-lease-lost', 'task-stale-lease'] as const;
export type FixtureName = (typeof FIXTURES)[number];

export const hubRecording = (name: string): string => path.join(FIXTURE_DIR, `${name}.hub.rec`);
export const workerRecording = (name: string): string => path.join(FIXTURE_DIR, `${name}.worker.rec`);

/** The same for every scenario; a short hello timeout so the `refusals` recording does not wait 10 s. */
export const HUB_OPTIONS: HubOptions = { helloTimeoutMs: 300 };

export const PROJECT = 'replay';
export const ENV = 'prod';
export const WORKER_ID = 'w-replay';
export const TAGS = ['replay'];
/** Output on both streams, one chunk each, and a non-zero exit. */
export const EXEC_COMMAND = "printf 'hello\\n'; printf 'oops\\n' >&2; exit 3";
/** Runs long enough for the recording to drop the connection under it (it is killed then). */
export const LONG_COMMAND = 'sleep 5';
/** Sent by a raw websocket client: not one msgpack value. */
export const GARBAGE = Buffer.from('this is not msgpack');

/**
 * The worker holds output back until the command exits (a batch window far longer than any command
 * here), so stdout is always flushed before stderr and `seq` does not depend on which pipe the OS
 * delivered first. The replay's simulated clock never reaches the window either.
 */
export const EXEC_OPTIONS: ExecRunnerOptions = { batchMs: 60_000 };

/** Backoff jitter: always the middle of the window, so a reconnect waits `backoffBaseMs / 2`. */
export const agentRandom = (): number => 0.5;

/**
 * A counter-based stand-in for `crypto.randomBytes`: call `n` returns the first bytes of
 * sha256(`seed:n:block`), so every token, passkey and generated id is the same in every run.
 */
export function seededBytes(seed = 'cla-worker replay'): (size: number) => Buffer {
  let calls = 0;
  return (size) => {
    calls += 1;
    const blocks: Buffer[] = [];
    for (let block = 0; blocks.length * 32 < size; block += 1) {
      blocks.push(createHash('sha256').update(`${seed}:${calls}:${block}`).digest());
    }
    return Buffer.concat(blocks).subarray(0, size);
  };
}

/** Challenge nonces from a counter, in place of random bytes, so a replayed hub asks what the recording answered. */
export function nonces(): () => string {
  let n = 0;
  return () => {
    n += 1;
    return n.toString(16).padStart(32, '0');
  };
}

/** Ids `PREFIX-1`, `PREFIX-2`, ... in place of random UUIDs or bytes. */
function counter(prefix: string): () => string {
  let next = 0;
  return () => `${prefix}-${(next += 1)}`;
}

/** Job ids `job-1`, `job-2`, ... */
export const jobIds = (): (() => string) => counter('job');

/** Workflow run ids `run-1`, `run-2`, ... (step message ids are `run-1.0`, ...). */
export const runIds = (): (() => string) => counter('run');

/** Task ids `task-1`, `task-2`, ... */
export const taskIds = (): (() => string) => counter('task');

/** Lease tokens `lease-1`, `lease-2`, ... */
export const leaseTokens = (): (() => string) => counter('lease');

/**
 * The clock a scenario is recorded on. `collect-and-cleanup` puts ages (now minus mtime) in its frames,
 * so its recording runs on the wall clock shifted to start at {@link SCENARIO_EPOCH}: the tree's fixed
 * mtimes then give the same ages in every recording, and a replay (on a `SimulatedClock` set to the
 * recorded times) computes them again. The other scenarios keep the wall clock.
 */
export function recordingClock(name: FixtureName): Clock {
  if (name !== 'collect-and-cleanup') return systemClock;
  const offset = SCENARIO_EPOCH - Date.now();
  return { ...systemClock, now: () => Date.now() + offset };
}

/** The workflow `collect-and-cleanup` runs: the built-in one from workflows/, collect -> plan_cleanup -> cleanup. */
export const WORKFLOW = 'collect_and_cleanup';

/**
 * The fs plugin's settings (`--override fs.KEY=VALUE`) in `collect-and-cleanup`: the tree of
 * replay-tree.ts, entries older than 7 days whose relative path matches the pattern, really deleted;
 * a fixed `host`, which would otherwise be the machine's name.
 */
export const FS_OVERRIDES: Readonly<Record<string, string>> = {
  'fs.roots': REPLAY_TREE,
  'fs.older_than': '7d',
  'fs.pattern': 're:^build(/|$)|\\.(log|tmp)$',
  'fs.dry_run': 'false',
  'fs.host': 'replay-host',
};

/** A registry with what every scenario starts from. */
export interface SeededRegistry {
  store: SqliteStore;
  registry: Registry;
  passkey: string;
  adminToken: string;
}

/** An in-memory registry seeded in a fixed order: project (passkey), admin token, environment. */
export async function seedRegistry(clock: Clock): Promise<SeededRegistry> {
  const store = openSqliteStore(':memory:');
  const registry = new Registry(store, clock, seededBytes());
  const { passkey } = await registry.createProject(PROJECT);
  const { token } = await registry.ensureAdminToken();
  if (token === null) throw new Error('a fresh store already had an admin token');
  await registry.addEnv(ENV);
  return { store, registry, passkey, adminToken: token };
}

/** A scenario's hub extensions; `actions` when the scenario runs workflows, `tasks` when it pushes tasks. */
export interface ScenarioHub {
  extensions: HubExtension[];
  actions: ActionsExtension | undefined;
  tasks?: TaskHub;
}

/** The task scenarios: the hub pushes leases of `tag` tasks to workers with a TaskExtension. */
export const TASK_FIXTURES: readonly FixtureName[] = ['task-push', 'task-lease-lost', 'task-stale-lease'];

/** The second worker of `task-lease-lost` and `task-stale-lease` (only in the hub recording). */
export const OTHER_WORKER_ID = 'w-replay-b';

/**
 * The task dispatcher's options in the task scenarios: a short lease (renewals every 300 ms; every
 * handler here ends sooner, so no recording has a renewal) and a sweep every 25 ms, so an expired lease
 * is revoked within a few ms of its expiry in the recording and at the next line's time in the replay.
 */
export const TASK_HUB_OPTIONS: TaskHubOptions = { leaseTtlMs: 900, pollMs: 25 };

/**
 * The hub extensions of a scenario, in recording and replay alike. `collect-and-cleanup` has the action
 * bus and workflows, as `cla-hub start` builds them, minus what would act on its own: no cron (the
 * built-in workflow's hourly trigger could fire mid-recording; the run is triggered through the engine,
 * see {@link applyHubMark}), no pruning timer (a fresh store has nothing to prune). No task dispatcher:
 * nothing in this workflow submits tasks. Its tables go in the seeded in-memory store.
 */
export function scenarioHub(name: FixtureName, seeded: SeededRegistry, clock: Clock): ScenarioHub {
  if (TASK_FIXTURES.includes(name)) {
    // As `cla-hub start` builds it (a SQLite task store beside the registry's tables), with fixed ids and tokens.
    const tasks = new TaskHub({ store: new SqliteTaskStore(seeded.store.db), newId: taskIds(), newToken: leaseTokens() }, TASK_HUB_OPTIONS);
    return { extensions: [tasks], actions: undefined, tasks };
  }
  if (name !== 'collect-and-cleanup') return { extensions: [], actions: undefined };
  const actions = new ActionsExtension({
    db: seeded.store.db,
    workflows: loadWorkflows().workflows,
    cron: false,
    keepRunsDays: 0,
    clock,
    newId: runIds(),
  });
  return { extensions: [actions], actions };
}

/** What the hub gets besides its options, in recording and replay alike. */
export function hubDeps(seeded: SeededRegistry, clock: Clock, tap?: FrameTap, extensions: HubExtension[] = []): HubDeps {
  // No process metrics: they are never in a frame, and a test process builds many hubs.
  return { registry: seeded.registry, clock, tap, newId: jobIds(), newNonce: nonces(), metrics: new HubMetrics({ processMetrics: false }), extensions };
}

/**
 * Something the recording script did to the hub through its library API, written into the hub
 * recording as a `meta` line at the moment it happened, so the hub replay does it again at the same
 * point (harness.ts). Only one kind: a manual workflow run (`WorkflowEngine.runManual`).
 */
export interface HubMark {
  trigger: 'workflow.run';
  workflow: string;
}

/** A meta line's detail as a mark; `{}` when it is not a JSON object (it then matches no trigger). */
function parseMark<T>(detail: string): Partial<T> {
  try {
    const value: unknown = JSON.parse(detail);
    return value !== null && typeof value === 'object' ? (value as Partial<T>) : {};
  } catch {
    return {};
  }
}

/** Does what a mark says, on the recording's hub or the replay's; false for other meta lines (the role line). */
export function applyHubMark(hub: ScenarioHub, detail: string): boolean {
  const mark = parseMark<HubMark>(detail);
  if (mark.trigger !== 'workflow.run' || typeof mark.workflow !== 'string') return false;
  if (!hub.actions) throw new Error(`The recording triggers workflow ${mark.workflow}, but this scenario's hub has no actions extension`);
  // The run starts now (the frames it sends belong at this point of the recording); its write settles later.
  hub.actions.engine.runManual(mark.workflow).catch((error: unknown) => console.error(`workflow ${mark.workflow} did not start`, error));
  return true;
}

/**
 * Something the recording script did to the recorded worker, written into the worker recording as a
 * `meta` line at that moment, so the worker replay does it again there (harness.ts). One kind: a local
 * stop (`WorkerAgent.stop`, what SIGTERM does in `cla-worker run`).
 */
export interface WorkerMark {
  trigger: 'worker.stop';
  reason: string;
}

/** Does what a worker mark says; false for other meta lines. */
export function applyWorkerMark(agent: { stop(reason?: string): void }, detail: string): boolean {
  const mark = parseMark<WorkerMark>(detail);
  if (mark.trigger !== 'worker.stop' || typeof mark.reason !== 'string') return false;
  agent.stop(mark.reason);
  return true;
}

/**
 * The token the seeded registry hands to `WORKER_ID` when it registers first: the worker replay needs it
 * without a hub. The recording script checks that the real registration returned the same one.
 */
export async function expectedWorkerToken(clock: Clock): Promise<string> {
  const seeded = await seedRegistry(clock);
  try {
    return (await seeded.registry.register({ passkey: seeded.passkey, id: WORKER_ID })).token;
  } finally {
    await seeded.store.close();
  }
}

/**
 * The options of the worker whose side is recorded in `name`: in `refusals` it says hello with a wrong
 * token (BAD_TOKEN), elsewhere with the token from its registration.
 */
export function recordedWorkerOptions(name: FixtureName, url: string, token: string): AgentOptions {
  return {
    id: WORKER_ID,
    token: name === 'refusals' ? 'not-the-token' : token,
    url,
    tags: TAGS,
    envs: [ENV],
    capacity: 1,
    random: agentRandom,
    exec: EXEC_OPTIONS,
  };
}

/**
 * The worker extensions of a scenario, on the agent's clock, as `cla-worker run --plugin fs` builds them:
 * one `subscribe` for every feature (SubscribeExtension) and the plugins' action handlers. No task
 * extension (the fs plugin's `tag` handler is then not registered): the workflow submits no tasks.
 * Built-in plugins only, so a `cla-worker-plugin-*` package installed nearby changes nothing.
 */
export async function workerExtensions(name: FixtureName, clock: Clock, treeRoot = REPLAY_TREE): Promise<AgentExtension[]> {
  if (TASK_FIXTURES.includes(name)) return taskWorkerExtensions(WORKER_ID, clock, true);
  if (name !== 'collect-and-cleanup') return [];
  const subscriptions = new SubscriptionRegistry(WORKER_ID);
  const overrides = { ...FS_OVERRIDES, 'fs.roots': treeRoot };
  const plugins = await createPluginWorker({ workerId: WORKER_ID, overrides, enabled: ['fs'], packages: false, subscriptions, clock });
  return [new SubscribeExtension(subscriptions), plugins.extension];
}

/** What must be on disk before a scenario's worker runs (recorded or replayed): the fs plugin's tree, at `treeRoot`. */
export function prepareWorkerSide(name: FixtureName, treeRoot = REPLAY_TREE): void {
  if (name === 'collect-and-cleanup') createReplayTree(treeRoot);
}

/**
 * A task worker's extensions, as `cla-worker run --task-concurrency 1` builds them with prefetch 1 (so
 * it holds two leases: one running, one queued): one `tag` handler for any attributes. With `wait`, the
 * handler takes `data.ms` on the worker's clock (the replay's SimulatedClock gives the recorded order of
 * renewals and ends); without, it answers at once. `data.fail` makes it throw. The result names the
 * worker, so a fixture shows who completed a task that moved. `filter` is the handler's attribute filter.
 */
export function taskWorkerExtensions(workerId: string, clock: Clock, wait: boolean, filter: Record<string, string[]> = {}): AgentExtension[] {
  const subscriptions = new SubscriptionRegistry(workerId);
  const handler: TaskHandler = async (task, { signal }) => {
    const data = (task.data ?? {}) as { n?: number; ms?: number; fail?: boolean };
    if (wait && data.ms) await clockDelay(clock, data.ms, signal);
    if (data.fail) throw new ClaError(ErrorCode.InvalidArgument, `Task ${data.n} asked to fail`);
    return { tagged: data.n ?? null, by: workerId };
  };
  const tasks = new TaskExtension(subscriptions, { concurrency: 1, prefetch: 1 }).handle('tag', filter, handler);
  return [new SubscribeExtension(subscriptions), tasks];
}

/** Resolves after `ms` on `clock`; rejects with the signal's reason when it aborts first. */
function clockDelay(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
