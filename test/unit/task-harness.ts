/**
 * An in-process hub with the task dispatcher, on a SimulatedClock, with workers joined through in-memory
 * transport pairs: real `WorkerAgent`s with a `TaskExtension`, or raw connections whose frames a test
 * sends by hand. Nothing listens on a socket but the hub's own (idle) websocket server.
 */
import os from 'node:os';
import { SimulatedClock } from 'xstate';
import { Hub } from '../../src/hub/hub.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { SqliteTaskStore } from '../../src/hub/tasks/sqlite-task-store.ts';
import { TaskHub } from '../../src/hub/tasks/task-hub.ts';
import type { TaskHubOptions } from '../../src/hub/tasks/task-spec.ts';
import { proofMessage, prove } from '../../src/protocol/auth-proof.ts';
import { frame, type Frame, type FrameOf } from '../../src/protocol/frames.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.ts';
import { createMemoryPair } from '../../src/transport/memory.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { WorkerAgent, type AgentExit } from '../../src/worker/agent.ts';
import { SubscribeExtension, SubscriptionRegistry } from '../../src/worker/subscriptions.ts';
import { TaskExtension, type TaskExtensionOptions } from '../../src/worker/tasks/task-extension.ts';

/** Lets microtasks and `setImmediate` callbacks (the dispatcher's coalesced pump) run. */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Flushes until `check()` is true (bounded by rounds, not by time). */
export async function until(check: () => boolean | Promise<boolean>, what: string, rounds = 500): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await check()) return;
    await flush(1);
  }
  throw new Error(`never: ${what}`);
}

export interface TaskHarness {
  clock: SimulatedClock;
  mainStore: SqliteStore;
  store: SqliteTaskStore;
  registry: Registry;
  hub: Hub;
  tasks: TaskHub;
  /** Registers and connects a WorkerAgent with a TaskExtension; resolves once it subscribed. */
  worker(id: string, setup: (tasks: TaskExtension) => void, options?: TaskExtensionOptions): Promise<AgentWorker>;
  /** Registers and connects a raw worker: hello, then the frames a test sends. */
  raw(id: string): Promise<RawWorker>;
  /** Stops the hub as a crash would: every connection drops; the stores stay open. */
  stopHub(): Promise<void>;
  close(): Promise<void>;
}

export interface AgentWorker {
  agent: WorkerAgent;
  tasks: TaskExtension;
  exit: Promise<AgentExit>;
  /** The worker end of its current connection. */
  transport(): Transport;
}

export interface RawWorker {
  transport: Transport;
  frames: Frame[];
  send(f: Frame): void;
  /** Frames of type `t` received so far. */
  of<T extends Frame['t']>(t: T): Array<FrameOf<T>>;
}

/** Starts the harness; `store` lets a test restart the dispatcher on the same tasks. */
export async function startTaskHarness(options: TaskHubOptions = {}, shared?: { mainStore: SqliteStore; clock: SimulatedClock }): Promise<TaskHarness> {
  const clock = shared?.clock ?? new SimulatedClock();
  if (!shared) clock.set(1_000_000);
  const mainStore = shared?.mainStore ?? openSqliteStore(':memory:');
  const registry = new Registry(mainStore, clock);
  const passkey = shared ? (await registry.passkey('tasks'))! : (await registry.createProject('tasks')).passkey;
  const store = new SqliteTaskStore(mainStore.db);
  let n = 0;
  const tasks = new TaskHub({ store, newId: () => `task-${++n}` }, options);
  const hub = new Hub({ host: '127.0.0.1', port: 0 }, { registry, clock, extensions: [tasks], metrics: new HubMetrics({ processMetrics: false }) });
  await hub.start();
  const agents: AgentWorker[] = [];
  const raws: RawWorker[] = [];
  const hubEnds: Transport[] = [];
  let hubStopped = false;

  const register = async (id: string) => (await registry.register({ passkey, id })).token;
  const dial = () => {
    const [hubEnd, workerEnd] = createMemoryPair();
    hubEnds.push(hubEnd);
    hub.accept(hubEnd);
    return workerEnd;
  };

  return {
    clock,
    mainStore,
    store,
    registry,
    hub,
    tasks,
    async worker(id, setup, extensionOptions) {
      const token = await register(id);
      const subscriptions = new SubscriptionRegistry(id);
      const extension = new TaskExtension(subscriptions, extensionOptions);
      setup(extension);
      let current: Transport | undefined;
      const agent = new WorkerAgent({
        id,
        token,
        url: 'memory://hub',
        clock,
        graceMs: 1000,
        connect: async () => (current = dial()),
        extensions: [new SubscribeExtension(subscriptions), extension],
      });
      const worker: AgentWorker = { agent, tasks: extension, exit: agent.run(), transport: () => current! };
      agents.push(worker);
      await until(() => hub.session(id) !== undefined, `${id} connected`);
      await flush();
      return worker;
    },
    async raw(id) {
      const token = await register(id);
      const transport = dial();
      const frames: Frame[] = [];
      transport.frames$.subscribe((f) => frames.push(f));
      const raw: RawWorker = {
        transport,
        frames,
        send: (f) => void transport.send(f).catch(() => undefined),
        of: (t) => frames.filter((f) => f.t === t) as never,
      };
      await until(() => frames.some((f) => f.t === 'challenge'), `${id} challenged`);
      const challenge = frames.find((f) => f.t === 'challenge') as FrameOf<'challenge'>;
      raw.send(
        frame('hello', {
          id,
          auth: 'token',
          proof: prove(token, proofMessage('hello', id, challenge.nonce)),
          tags: [],
          envs: [],
          caps: [],
          capacity: 1,
          agent: { version: '0', pid: process.pid, user: 'test', host: os.hostname(), platform: process.platform },
        }),
      );
      await until(() => frames.some((f) => f.t === 'welcome'), `${id} welcomed`);
      raws.push(raw);
      return raw;
    },
    async stopHub() {
      hubStopped = true;
      await hub.stop();
      for (const end of hubEnds) end.terminate();
      await flush();
    },
    async close() {
      for (const worker of agents) worker.agent.stop('test over');
      for (const raw of raws) raw.transport.close(1000, 'test over');
      // Agents drain within graceMs on the simulated clock.
      await flush();
      clock.increment(2000);
      await Promise.all(agents.map((worker) => worker.exit));
      if (!hubStopped) await hub.stop();
      await flush();
      if (!shared) mainStore.close();
    },
  };
}
