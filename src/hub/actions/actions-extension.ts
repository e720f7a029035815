/**
 * The action bus, workflows and resource graphs as one hub extension: `new Hub(options, { extensions:
 * [new ActionsExtension({ db, ... })] })`. It owns its tables in the hub's SQLite file (pass a
 * connection of its own: better-sqlite3 is synchronous, so two connections of one process never write
 * at once), resumes unfinished runs on start, runs cron triggers and the CLI's command table.
 */
import type Database from 'better-sqlite3';
import { systemClock, type Clock } from '../../clock.ts';
import { silentLogger, type Logger } from '../../logger.ts';
import type { Frame } from '../../protocol/frames.ts';
import type { HubExtension } from '../hub-extension.ts';
import type { WorkerSession } from '../worker-session.ts';
import { ActionBus } from './action-bus.ts';
import { CommandPoller, CommandTable, type HubCommand } from './hub-commands.ts';
import { ResourceStore } from './resource-store.ts';
import { runTagLine } from './resource-tagging.ts';
import { SubscriberDirectory } from './subscriber-directory.ts';
import { loadWorkflows, type WorkflowDefinition } from './workflow-definitions.ts';
import { WorkflowEngine, type TaskSubmitter, type WorkflowEngineOptions } from './workflow-engine.ts';
import { CronScheduler } from './workflow-scheduler.ts';
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
  /** How often the command table is read, in ms; 0 turns it off. @default 200 */
  commandPollMs?: number;
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
  readonly commands: CommandTable;
  readonly engine: WorkflowEngine;
  /** Who is subscribed to what, for `cla-hub subscribers`. */
  readonly subscribers = new SubscriberDirectory();
  private readonly scheduler: CronScheduler;
  private readonly poller: CommandPoller;
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
    this.commands = new CommandTable(options.db);
    this.engine = new WorkflowEngine(
      { store: this.store, resources: this.resources, bus: this.bus, clock, log: this.log, workflows, tasks: options.tasks, newId: options.newId },
      options,
    );
    this.scheduler = new CronScheduler(clock, this.log, (workflow, expression) => this.engine.cron(workflow, expression));
    this.poller = new CommandPoller(this.commands, (command) => this.runCommand(command), clock, this.log, options.commandPollMs || 200);
  }

  /** The task dispatcher, when it is created after this extension. */
  setTasks(tasks: TaskSubmitter): void {
    this.engine.tasks = tasks;
  }

  start(): void {
    const resumed = this.engine.resume();
    if (resumed > 0) this.log.info({ runs: resumed }, 'resumed unfinished workflow runs');
    if (this.options.cron !== false) this.scheduler.start(this.engine.workflows.values());
    if (this.options.commandPollMs !== 0) this.poller.start();
    this.prune();
  }

  stop(): void {
    this.clock.clearTimeout(this.pruneTimer);
    this.poller.stop();
    this.scheduler.stop();
    this.engine.stop();
  }

  sessionClosed(session: WorkerSession): void {
    this.subscribers.sessionClosed(session);
    this.bus.sessionClosed(session);
  }

  workerFrame(session: WorkerSession, f: Frame): boolean {
    if (f.t === 'subscribe') this.subscribers.subscribed(session, f, this.clock.now());
    return this.bus.workerFrame(session, f);
  }

  /** Deletes the runs past `keepRunsDays`, then again in a day. */
  private prune(): void {
    const days = this.options.keepRunsDays ?? 30;
    if (days <= 0) return;
    const pruned = this.store.pruneRuns(this.clock.now() - days * 86_400_000);
    if (pruned > 0) this.log.info({ runs: pruned, days }, 'old workflow runs deleted');
    this.pruneTimer = this.clock.setTimeout(() => this.prune(), 86_400_000);
  }

  /** Runs one command of the CLI's command table. */
  runCommand(command: HubCommand): unknown {
    switch (command.kind) {
      case 'workflow.run':
        return this.engine.runManual(command.args.workflow);
      case 'workflow.event':
        return this.engine.emitEvent(command.args.event);
      case 'workflow.abort':
        return this.engine.abort(command.args.run, command.args.reason);
      case 'resources.tag':
        return this.engine.tag(command.args.query, command.args.set, command.args.remove);
      case 'subscribers.list':
        return this.subscribers.list(command.args.action);
      case 'resources.tag-line':
        return runTagLine(this.engine.taggingDeps(), command.args.line, { deadlineMs: this.engine.tagDeadlineMs, waitMs: command.args.waitMs });
    }
  }
}
