/**
 * The action bus, workflows and resource graphs as one hub extension: `new Hub(options, { extensions:
 * [new ActionsExtension({ db, ... })] })`. Its state is in a {@link WorkflowStore} and a
 * {@link ResourceStore}: SQLite on the hub's file by default (`db`: pass a connection of its own), or
 * any backend given as `stores` (the memory ones for tests and benchmarks). It resumes this hub's
 * unfinished runs on start, runs cron triggers, and adds the workflow and resource methods to the hub's
 * method table (workflow-methods.ts).
 */
import type Database from 'better-sqlite3';
import { systemClock, type Clock } from '../../clock.ts';
import { InvalidArgumentError } from '../../errors.ts';
import { silentLogger, type Logger } from '../../logger.ts';
import type { Frame } from '../../protocol/frames.ts';
import type { MethodDefinition } from '../methods/method-table.ts';
import type { HubExtension } from '../hub-extension.ts';
import type { WorkerSession } from '../worker-session.ts';
import { ActionBus } from './action-bus.ts';
import type { ResourceStore } from './resource-store.ts';
import { SqliteResourceStore } from './sqlite-resource-store.ts';
import { SqliteWorkflowStore } from './sqlite-workflow-store.ts';
import { SubscriberDirectory } from './subscriber-directory.ts';
import { loadWorkflows, type WorkflowDefinition } from './workflow-definitions.ts';
import { WorkflowEngine, type TaskSubmitter, type WorkflowEngineOptions } from './workflow-engine.ts';
import { CronScheduler } from './workflow-scheduler.ts';
import { workflowMethods } from './workflow-methods.ts';
import type { WorkflowStore } from './workflow-store.ts';
import { groupCommitOn, type GroupCommit } from '../../store/group-commit.ts';

export interface ActionsExtensionOptions extends WorkflowEngineOptions {
  /** A connection to the hub's SQLite file (`openSqliteStore(file).db`): the SQLite stores are made on it. Either this or `stores`. */
  db?: Database.Database;
  /** The group commit of `db` the SQLite stores share (a hub passes its registry's, `SqliteStore.groupCommit`, so a turn's writes are one transaction). @default one of their own */
  commit?: GroupCommit;
  /** The stores to use instead of SQLite ones on `db` (e.g. `MemoryWorkflowStore`, `MemoryResourceStore`); the caller closes them. */
  stores?: { workflows: WorkflowStore; resources: ResourceStore };
  /** The id of this hub, kept as the owner of the runs it creates (SQLite stores on `db`; given `stores` carry their own). @default 'hub' */
  hubId?: string;
  /** More workflow definitions (`cla-hub start --workflows DIR`). */
  workflowsDir?: string;
  /** Definitions to use instead of loading files (tests). */
  workflows?: Map<string, WorkflowDefinition>;
  /** Run cron triggers. @default true */
  cron?: boolean;
  /** Several hubs: claims a cron slot so that one hub fires it (src/engine/cron-slots.ts). @default every slot is this hub's */
  claimCronSlot?: (slot: string) => Promise<boolean>;
  /** Finished runs older than this are deleted (checked at start and daily), in days; 0 keeps all. @default 30 */
  keepRunsDays?: number;
  /** `tag` tasks go here (the task dispatcher). */
  tasks?: TaskSubmitter;
  clock?: Clock;
  log?: Logger;
  newId?: () => string;
}

export class ActionsExtension implements HubExtension {
  readonly bus: ActionBus;
  readonly store: WorkflowStore;
  readonly resources: ResourceStore;
  readonly engine: WorkflowEngine;
  /** Who is subscribed to what, for `cla-hub subscribers`. */
  readonly subscribers = new SubscriberDirectory();
  private readonly scheduler: CronScheduler;
  private readonly log: Logger;
  private readonly clock: Clock;
  private pruneTimer: unknown;
  private stopped = false;
  /** The SQLite stores made here on `db` (given `stores` are the caller's to close). */
  private readonly ownsStores: boolean;

  constructor(private readonly options: ActionsExtensionOptions) {
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    this.log = options.log ?? silentLogger();
    const workflows = options.workflows ?? loadWorkflows(options.workflowsDir).workflows;
    this.bus = new ActionBus(clock, this.log, options.graceMs ?? 10_000);
    this.ownsStores = !options.stores;
    if (options.stores) {
      this.store = options.stores.workflows;
      this.resources = options.stores.resources;
    } else if (options.db) {
      const commit = groupCommitOn(options.db, options.commit);
      this.store = new SqliteWorkflowStore(options.db, { hubId: options.hubId, commit });
      this.resources = new SqliteResourceStore(options.db, { commit });
    } else {
      throw new InvalidArgumentError('Expected `db` (a connection to the hub data file) or `stores` in the ActionsExtension options, got neither', { data: { option: 'db' } });
    }
    this.engine = new WorkflowEngine(
      { store: this.store, resources: this.resources, bus: this.bus, clock, log: this.log, workflows, tasks: options.tasks, newId: options.newId },
      options,
    );
    this.scheduler = new CronScheduler(clock, this.log, (workflow, expression) => this.engine.cron(workflow, expression), options.claimCronSlot);
  }

  /** The task dispatcher, when it is created after this extension. */
  setTasks(tasks: TaskSubmitter): void {
    this.engine.tasks = tasks;
  }

  async start(): Promise<void> {
    const resumed = await this.engine.resume();
    if (resumed > 0) this.log.info({ runs: resumed }, 'resumed unfinished workflow runs');
    if (this.options.cron !== false) this.scheduler.start(this.engine.workflows.values());
    await this.prune();
  }

  /** Stops the runs and cron; resolves once their last writes are committed. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.pruneTimer);
    this.scheduler.stop();
    await this.engine.stop();
    if (this.ownsStores) await Promise.all([this.store.close(), this.resources.close()]);
  }

  sessionClosed(session: WorkerSession): void {
    this.subscribers.sessionClosed(session);
    this.bus.sessionClosed(session);
  }

  readonly workerFrames = ['subscribe', 'action_done', 'action_error', 'action_info', 'action_progress', 'resources', 'resources_flag'] as const;

  workerFrame(session: WorkerSession, f: Frame): void {
    const at = this.clock.now();
    if (f.t === 'subscribe') this.subscribers.subscribed(session, f, at);
    this.bus.workerFrame(session, f, at);
  }

  methods(): MethodDefinition[] {
    const subscribers = (action?: string) => {
      const remote = this.bus.remote;
      return this.subscribers.list(action, remote ? { hub: this.store.hubId, remote: remote.subscribers() } : undefined);
    };
    return workflowMethods({ engine: this.engine, store: this.store, resources: this.resources, subscribers });
  }

  /** Deletes the runs past `keepRunsDays`, then again in a day. */
  private async prune(): Promise<void> {
    const days = this.options.keepRunsDays ?? 30;
    if (days <= 0 || this.stopped) return;
    try {
      const pruned = await this.store.pruneRuns(this.clock.now() - days * 86_400_000);
      if (pruned > 0) this.log.info({ runs: pruned, days }, 'old workflow runs deleted');
    } catch (error) {
      this.log.error({ err: error }, 'could not delete old workflow runs');
    }
    if (!this.stopped) this.pruneTimer = this.clock.setTimeout(() => void this.prune(), 86_400_000);
  }
}
