/**
 * The action bus, workflows and resource graphs as one hub extension: `new Hub(options, { extensions:
 * [new ActionsExtension({ db, ... })] })`. It owns its tables in the hub's SQLite file (pass a
 * connection of its own: better-sqlite3 is synchronous, so two connections of one process never write
 * at once), resumes unfinished runs on start, runs cron triggers, and adds the workflow and resource
 * methods to the hub's method table (workflow-methods.ts).
 */
import type Database from 'better-sqlite3';
import { systemClock, type Clock } from '../../clock.ts';
import { silentLogger, type Logger } from '../../logger.ts';
import type { Frame } from '../../protocol/frames.ts';
import type { MethodDefinition } from '../methods/method-table.ts';
import type { HubExtension } from '../hub-extension.ts';
import type { WorkerSession } from '../worker-session.ts';
import { ActionBus } from './action-bus.ts';
import { ResourceStore } from './resource-store.ts';
import { SubscriberDirectory } from './subscriber-directory.ts';
import { loadWorkflows, type WorkflowDefinition } from './workflow-definitions.ts';
import { WorkflowEngine, type TaskSubmitter, type WorkflowEngineOptions } from './workflow-engine.ts';
import { CronScheduler } from './workflow-scheduler.ts';
import { workflowMethods } from './workflow-methods.ts';
import { WorkflowStore } from './workflow-store.ts';

export interface ActionsExtensionOptions extends WorkflowEngineOptions {
  /** A connection to the hub's SQLite file (`openSqliteStore(file).db`). */
  db: Database.Database;
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

  constructor(private readonly options: ActionsExtensionOptions) {
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    this.log = options.log ?? silentLogger();
    const workflows = options.workflows ?? loadWorkflows(options.workflowsDir).workflows;
    this.bus = new ActionBus(clock, this.log, options.graceMs ?? 10_000);
    this.store = new WorkflowStore(options.db);
    this.resources = new ResourceStore(options.db);
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

  start(): void {
    const resumed = this.engine.resume();
    if (resumed > 0) this.log.info({ runs: resumed }, 'resumed unfinished workflow runs');
    if (this.options.cron !== false) this.scheduler.start(this.engine.workflows.values());
    this.prune();
  }

  stop(): void {
    this.clock.clearTimeout(this.pruneTimer);
    this.scheduler.stop();
    this.engine.stop();
  }

  sessionClosed(session: WorkerSession): void {
    this.subscribers.sessionClosed(session);
    this.bus.sessionClosed(session);
  }

  readonly workerFrames = ['subscribe', 'action_done', 'action_error', 'action_info', 'action_progress', 'resources', 'resources_flag'] as const;

  workerFrame(session: WorkerSession, f: Frame): void {
    if (f.t === 'subscribe') this.subscribers.subscribed(session, f, this.clock.now());
    this.bus.workerFrame(session, f);
  }

  methods(): MethodDefinition[] {
    return workflowMethods({ engine: this.engine, store: this.store, resources: this.resources, subscribers: this.subscribers });
  }

  /** Deletes the runs past `keepRunsDays`, then again in a day. */
  private prune(): void {
    const days = this.options.keepRunsDays ?? 30;
    if (days <= 0) return;
    const pruned = this.store.pruneRuns(this.clock.now() - days * 86_400_000);
    if (pruned > 0) this.log.info({ runs: pruned, days }, 'old workflow runs deleted');
    this.pruneTimer = this.clock.setTimeout(() => this.prune(), 86_400_000);
  }
}
