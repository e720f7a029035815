/**
 * An in-process hub with the actions extension and workers with action handlers, connected by
 * in-memory transports and driven by one SimulatedClock: grace periods, timeouts and cron triggers are
 * reached by advancing the clock, never by waiting.
 */
import { SimulatedClock } from 'xstate';
import type { Clock } from '../../src/clock.ts';
import { ClaError } from '../../src/errors.ts';
import { ActionsExtension, type ActionsExtensionOptions } from '../../src/hub/actions/actions-extension.ts';
import { toWorkflowDefinition, type WorkflowDefinition } from '../../src/hub/actions/workflow-definitions.ts';
import { Hub } from '../../src/hub/hub.ts';
import { Registry } from '../../src/hub/registry.ts';
import type { Frame } from '../../src/protocol/frames.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.ts';
import { createMemoryPair } from '../../src/transport/memory.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { ActionExtension, type ActionHandler, type ActionHandlerOptions } from '../../src/worker/actions/action-extension.ts';
import { WorkerAgent } from '../../src/worker/agent.ts';
import { SubscribeExtension, SubscriptionRegistry } from '../../src/worker/subscriptions.ts';

/** Lets queued microtasks and immediates run (memory transports deliver on microtasks). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** Definitions from plain objects, as a YAML file would hold them. */
export function workflows(...raw: unknown[]): Map<string, WorkflowDefinition> {
  return new Map(raw.map((r, i) => toWorkflowDefinition(r, `test-${i}.yml`)).map((w) => [w.name, w] as const));
}


export interface TestWorker {
  id: string;
  agent: WorkerAgent;
  actions: ActionExtension;
  /** Frames this worker received from the hub. */
  received: Frame[];
  /** Closes its current connection (it reconnects after its backoff). */
  drop(): void;
  /** Stops it for good (connection closed, no reconnect). */
  kill(): void;
  exited: Promise<unknown>;
}

/** A hub with the actions extension on an in-memory SQLite database. */
export class TestBed {
  readonly clock: SimulatedClock;
  readonly store: SqliteStore;
  readonly registry: Registry;
  readonly passkey: Promise<string>;
  hub!: Hub;
  ext!: ActionsExtension;
  private readonly workers: TestWorker[] = [];
  private runIds = 0;
  /** While the hub is stopped, workers cannot connect. */
  private down = false;

  constructor(private readonly options: Partial<ActionsExtensionOptions> = {}) {
    this.clock = new SimulatedClock();
    this.clock.set(1_700_000_000_000);
    this.store = openSqliteStore(':memory:');
    this.registry = new Registry(this.store, this.clock as Clock);
    this.passkey = this.registry.createProject('test').then((created) => created.passkey);
  }

  /** Starts (or restarts, after `stopHub()`) the hub and its extension on the same database. */
  async startHub(extra: Partial<ActionsExtensionOptions> = {}): Promise<void> {
    this.ext = new ActionsExtension({
      db: this.store.db,
      clock: this.clock as Clock,
      newId: () => `run-${(this.runIds += 1)}`,
      ...this.options,
      ...extra,
    });
    this.down = false;
    this.hub = new Hub({ heartbeatMs: 1_000_000, helloTimeoutMs: 1_000_000 }, { registry: this.registry, clock: this.clock as Clock, extensions: [this.ext] });
    // No listener: `accept()` takes memory transports. Extensions start as `Hub.start()` would start them.
    await this.ext.start();
  }

  /** Stops the extension and drops every worker connection, as a hub process exit would. */
  async stopHub(): Promise<void> {
    this.down = true;
    const stopped = this.ext.stop();
    for (const session of this.hub.connectedWorkers()) session.transport.terminate();
    await stopped;
  }

  /** A connected worker with handlers per action. */
  async worker(id: string, handlers: Record<string, ActionHandler>, options: ActionHandlerOptions = {}): Promise<TestWorker> {
    const { token } = await this.registry.register({ passkey: await this.passkey, id });
    const subscriptions = new SubscriptionRegistry(id);
    const actions = new ActionExtension(subscriptions);
    for (const [action, handler] of Object.entries(handlers)) actions.on(action, handler, options);
    const received: Frame[] = [];
    let current: Transport | undefined;
    const agent = new WorkerAgent({
      id,
      token,
      url: 'memory://hub',
      clock: this.clock as Clock,
      random: () => 0.5,
      backoffBaseMs: 100,
      extensions: [
        new SubscribeExtension(subscriptions),
        { frame: (f) => (received.push(f), false) },
        actions,
      ],
      connect: async () => {
        if (this.down) throw new ClaError('CONNECTION_FAILED', 'the hub is down', { retryable: true });
        const [workerEnd, hubEnd] = createMemoryPair();
        this.hub.accept(hubEnd);
        current = workerEnd;
        return workerEnd;
      },
    });
    const exited = agent.run();
    const worker: TestWorker = {
      id,
      agent,
      actions,
      received,
      exited,
      drop: () => current?.terminate(),
      kill: () => {
        agent.stop('killed');
        current?.terminate();
      },
    };
    this.workers.push(worker);
    await settle();
    return worker;
  }

  /** The run's stored detail. */
  show(run: string) {
    return this.ext.store.getRun(run);
  }

  /** Moves the simulated clock and lets the consequences run. */
  async advance(ms: number): Promise<void> {
    this.clock.increment(ms);
    await settle();
  }

  async close(): Promise<void> {
    for (const w of this.workers) w.kill();
    await settle();
    await this.ext.stop();
    this.store.close();
  }
}

/** A promise with its resolve/reject, for handlers that wait for the test. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
