/**
 * The workflow engine: starts runs for triggers (manual, cron, event) under each workflow's conflict
 * policy, routes the bus's events to the runs waiting on them, stores collected graphs and cleanup
 * plans, and resumes the runs a previous hub process left unfinished.
 */
import { randomUUID } from 'node:crypto';
import { Subject, type Observable } from 'rxjs';
import type { Clock } from '../../clock.ts';
import { ClaError, ErrorCode } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { FrameOf } from '../../protocol/frames.ts';
import type { ActionBus, AnswerFrame, BusListener, Subscriber } from './action-bus.ts';
import { PendingWrites } from './pending-writes.ts';
import { ResourceGraphIntake } from './resource-graph-intake.ts';
import { parseResourceQuery } from './resource-query.ts';
import { tagResources } from './resource-tagging.ts';
import type { ResourceStore } from './resource-store.ts';
import type { WorkflowDefinition } from './workflow-definitions.ts';
import { WorkflowRunRuntime, type RunRuntimeDeps } from './workflow-run-runtime.ts';
import { ACTIVE_RUN_STATES, type RunState, type StoredRun, type WorkflowStore } from './workflow-store.ts';

/** The part of the task dispatcher (src/hub/tasks `TaskHub`) the engine uses for `tag` tasks. */
export interface TaskSubmitter {
  /** `deadlineMs`: how long the task may wait for a worker. */
  submit(task: { name: string; attrs: Record<string, string>; data: unknown; deadlineMs?: number }): string | Promise<string>;
  /** The task's final row; when given, a done `tag` task's returned `tags` update the stored resource. */
  wait?(id: string): Promise<{ state: string; result: unknown; worker?: string | null; error?: { code: string; message: string } | null }>;
}

/**
 * The runs of the other hubs sharing the store (issue 10; src/engine/cluster-workflows.ts on NATS): set
 * when there are any, so that `abort` and `on_conflict` see every hub's runs.
 */
export interface FleetRuns {
  /** Aborts run `runId` on its owner hub `owner`; `undefined` when no such hub answers (it is not on the engine). */
  abort(owner: string, runId: string, reason: string): Promise<TriggerResult | undefined>;
  /** Tells the other hubs that a run of `workflow` ended (committed), so that a run waiting for it may start. */
  ended(workflow: string): void;
}

export interface WorkflowEngineOptions {
  /** Grace period of a disconnected subscriber, in ms. @default 10000 */
  graceMs?: number;
  /** Grace period of every pending subscriber after a hub restart, in ms. @default 30000 */
  resumeGraceMs?: number;
  /**
   * Flagged ids sent with a `cleanup` action, at most this many characters of ids per subscriber;
   * above it the plugin uses the plan it made itself. @default 512000
   */
  maxCleanupIdChars?: number;
  /** How long a `tag` task may wait for its worker, in ms. @default 600000 */
  tagDeadlineMs?: number;
}

export interface WorkflowEngineDeps {
  store: WorkflowStore;
  resources: ResourceStore;
  bus: ActionBus;
  clock: Clock;
  log: Logger;
  workflows: Map<string, WorkflowDefinition>;
  tasks?: TaskSubmitter;
  /** Run id generator. @default randomUUID */
  newId?: () => string;
}

/** What a trigger did. */
export interface TriggerResult {
  run: string;
  workflow: string;
  state: RunState;
}

export class WorkflowEngine implements BusListener {
  private readonly runs = new Map<string, WorkflowRunRuntime>();
  private readonly byMessage = new Map<string, WorkflowRunRuntime>();
  private readonly runDeps: RunRuntimeDeps;
  private readonly newId: () => string;
  private readonly idle = new Set<() => void>();
  private readonly runChanges = new Subject<string>();
  private readonly writes: PendingWrites;
  private readonly intake: ResourceGraphIntake;
  /** The id of a run whose step started or ended, or that finished (watchers re-read it from the store). */
  readonly runChanged$: Observable<string> = this.runChanges.asObservable();
  /** Where `tag` tasks go; settable because the task dispatcher may be created after the engine. */
  tasks: TaskSubmitter | undefined;
  /** The other hubs' runs, set by the cluster when the hub shares an engine; none: this hub's runs are all there are. */
  fleet: FleetRuns | undefined;

  constructor(
    private readonly deps: WorkflowEngineDeps,
    private readonly options: WorkflowEngineOptions = {},
  ) {
    this.newId = deps.newId ?? randomUUID;
    this.tasks = deps.tasks;
    this.writes = new PendingWrites(deps.log);
    this.intake = new ResourceGraphIntake(deps.resources);
    this.runDeps = {
      store: deps.store,
      writes: this.writes,
      bus: deps.bus,
      clock: deps.clock,
      log: deps.log,
      graceMs: options.graceMs ?? 10_000,
      resumeGraceMs: options.resumeGraceMs ?? 30_000,
      dataFor: (action, workerId) => this.dataFor(action, workerId),
      stepChanged: (run, messageId, active) => {
        if (active) this.byMessage.set(messageId, run);
        else this.byMessage.delete(messageId);
        this.runChanges.next(run.id);
      },
      finished: (run) => this.onRunFinished(run),
      lost: (run) => this.onRunLost(run),
    };
    deps.bus.listener = this;
  }

  get workflows(): Map<string, WorkflowDefinition> {
    return this.deps.workflows;
  }

  /** Restores the runs a previous process of this hub left pending or running (its own runs only). */
  async resume(): Promise<number> {
    return this.restore(await this.deps.store.activeRuns());
  }

  /**
   * Takes over the unfinished runs of a hub that is gone (issue 10: another hub on the engine saw it stop
   * or die) and resumes them here; of several hubs adopting at once, each run goes to exactly one.
   */
  async adopt(fromHub: string): Promise<number> {
    const ids = await this.deps.store.adoptRuns(fromHub);
    const stored = await Promise.all(ids.map((id) => this.deps.store.getStoredRun(id)));
    return this.restore(stored.filter((run): run is StoredRun => run !== undefined));
  }

  private async restore(runs: readonly StoredRun[]): Promise<number> {
    let n = 0;
    for (const stored of runs) {
      try {
        const run = await WorkflowRunRuntime.restore(this.runDeps, stored);
        if (run.isActive()) this.runs.set(run.id, run);
        n += 1;
        this.deps.log.info({ run: run.id, workflow: run.workflow, state: run.state() }, 'workflow run resumed');
      } catch (error) {
        this.deps.log.error({ err: error, run: stored.id }, 'could not resume a workflow run');
      }
    }
    // A pending run whose predecessor is gone starts now.
    for (const workflow of new Set([...this.runs.values()].map((r) => r.workflow))) this.startWaiting(workflow);
    return n;
  }

  /** Stops every actor; runs stay stored as they are, for the next start to resume. Resolves once their last writes are committed. */
  async stop(): Promise<void> {
    for (const run of this.runs.values()) run.stop();
    this.runs.clear();
    this.byMessage.clear();
    await this.writes.drained();
  }

  /** Resolves once every store write issued so far has settled. */
  settled(): Promise<void> {
    return this.writes.settled();
  }

  /** Active (pending or running) runs. */
  activeRuns(): WorkflowRunRuntime[] {
    return [...this.runs.values()];
  }

  /** Resolves once no run is active (tests and the benchmark). */
  whenIdle(): Promise<void> {
    if (this.runs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.add(resolve));
  }

  /** `cla-hub workflow run NAME`; resolves once the new run is stored. */
  async runManual(name: string): Promise<TriggerResult> {
    const definition = this.definition(name);
    if (!definition.triggers.some((t) => t.kind === 'manual')) {
      throw new ClaError(ErrorCode.InvalidArgument, `Workflow ${name} has no \`manual\` trigger (${definition.source})`, { data: { workflow: name } });
    }
    return this.stored(await this.trigger(definition, 'manual'));
  }

  /** `cla-hub workflow event NAME`: every workflow with that event trigger; resolves once the runs are stored. */
  async emitEvent(event: string): Promise<TriggerResult[]> {
    const listening = [...this.deps.workflows.values()].filter((w) => w.triggers.some((t) => t.kind === 'event' && t.event === event));
    return this.stored(await Promise.all(listening.map((w) => this.trigger(w, `event:${event}`))));
  }

  /** A cron trigger fired. */
  async cron(name: string, expression: string): Promise<TriggerResult | undefined> {
    const definition = this.deps.workflows.get(name);
    return definition && this.trigger(definition, `cron:${expression}`);
  }

  /**
   * Aborts an active run (id or unique prefix), on whichever hub owns it; resolves once the abort is stored.
   * A run whose owner is not on the engine any more (stopped, dead or cut off) is adopted here and aborted:
   * its old owner is fenced from it (RUN_NOT_OWNED).
   */
  async abort(idOrPrefix: string, reason = 'aborted by an admin'): Promise<TriggerResult> {
    const { store } = this.deps;
    const id = await store.resolveRunId(idOrPrefix);
    let run = this.runs.get(id);
    const stored = run ? undefined : await store.getStoredRun(id);
    if (!run && stored && this.fleet && ACTIVE_RUN_STATES.includes(stored.state) && stored.owner !== null && stored.owner !== store.hubId) {
      const done = await this.fleet.abort(stored.owner, id, reason);
      if (done) return done;
      this.deps.log.warn({ run: id, hub: stored.owner }, 'the hub owning the run to abort is not on the engine: adopting its runs');
      await this.adopt(stored.owner);
      run = this.runs.get(id);
    }
    if (!run) {
      const now = stored && (await store.getStoredRun(id));
      throw new ClaError(ErrorCode.InvalidArgument, `Run ${id} is not active (${now?.state ?? 'not found'})`, { data: { run: id } });
    }
    run.abort(reason);
    return this.stored({ run: id, workflow: run.workflow, state: run.state() });
  }

  /** `result` once the writes issued so far are committed: an admin is answered only then. */
  private async stored<T>(result: T): Promise<T> {
    await this.writes.settled();
    return result;
  }

  /**
   * Starts a run of a workflow, under its conflict policy: `parallel` starts it beside the active ones,
   * `skip` stores it as skipped, `wait` leaves it pending until they end, `replace` aborts them first.
   * With a {@link fleet}, the active runs of every hub count (read from the store), and `replace` aborts
   * them on their hubs. The run's writes are issued, not awaited (see {@link settled}).
   */
  async trigger(definition: WorkflowDefinition, trigger: string): Promise<TriggerResult> {
    const others = this.fleet && definition.onConflict !== 'parallel' ? await this.othersActive(definition.name) : [];
    if (definition.onConflict === 'replace') {
      for (const old of others) {
        await this.fleet!.abort(old.owner!, old.id, `replaced by a new run (${trigger})`).catch((error: unknown) =>
          this.deps.log.warn({ err: error, run: old.id, hub: old.owner }, 'could not abort the run being replaced on its hub'),
        );
      }
    }
    const active = [...this.runs.values()].filter((r) => r.workflow === definition.name);
    const blocking = [...active.map((r) => ({ id: r.id, state: r.state() as RunState })), ...(definition.onConflict === 'replace' ? [] : others)];
    // The aborted runs report their end in a microtask, after the new run is running: they do not
    // start a waiting run in its place (startWaiting sees the new one running).
    if (definition.onConflict === 'replace') for (const old of active) old.abort(`replaced by a new run (${trigger})`);
    const run = WorkflowRunRuntime.create(this.runDeps, definition, this.newId(), trigger);
    this.runs.set(run.id, run);
    this.deps.log.info({ run: run.id, workflow: definition.name, trigger }, 'workflow run created');
    if (blocking.length === 0 || definition.onConflict === 'parallel' || definition.onConflict === 'replace') run.start();
    else if (definition.onConflict === 'skip') run.skip(`run ${blocking[0]!.id} of ${definition.name} is ${blocking[0]!.state}`);
    // wait: stays pending until the runs before it end (onRunFinished)
    return { run: run.id, workflow: definition.name, state: run.state() };
  }

  /**
   * `cla-hub resources tag QUERY key=value`: one `tag` task per matching resource, routed to the worker
   * and plugin that collected it (attrs `plugin`, `worker`, and `host` when the resource has one).
   */
  async tag(query: string, set: Record<string, string>, remove: string[]): Promise<Array<{ task: string; worker: string; plugin: string; id: string }>> {
    const summary = await tagResources(this.taggingDeps(), parseResourceQuery(query), query, { set, remove }, { deadlineMs: this.tagDeadlineMs });
    return summary.tasks.map((t) => ({ task: t.task, worker: t.worker, plugin: t.plugin, id: t.id }));
  }

  /** What resource-tagging.ts needs (`cla-hub search 'QUERY | tag update KEY VALUE'`). */
  taggingDeps(): Parameters<typeof tagResources>[0] {
    return { resources: this.deps.resources, tasks: this.tasks, clock: this.deps.clock, log: this.deps.log };
  }

  /** How long a `tag` task may wait for its worker, in ms. */
  get tagDeadlineMs(): number {
    return this.options.tagDeadlineMs ?? 600_000;
  }

  // ---- bus events --------------------------------------------------------------------------------

  subscribed(subscriber: Subscriber, newSession: boolean, dropped: string[]): void {
    for (const run of this.runs.values()) {
      for (const action of dropped) run.unsubscribed(subscriber.workerId, action);
      if (newSession) run.reconnected(subscriber.workerId);
    }
  }

  disconnected(subscriber: Subscriber): void {
    for (const run of this.runs.values()) run.disconnected(subscriber.workerId);
  }

  answer(workerId: string, f: AnswerFrame): void {
    const run = this.byMessage.get(f.re);
    if (!run) {
      this.deps.log.debug({ worker: workerId, re: f.re, type: f.t }, 'answer for no waiting step (late or unknown)');
      return;
    }
    const { store, clock } = this.deps;
    switch (f.t) {
      case 'action_done':
        run.answer(workerId, true);
        return;
      case 'action_error':
        run.write(store.recordError(f.re, workerId, f.error), 'an action error');
        run.answer(workerId, false);
        return;
      case 'action_info':
        run.write(store.addMessage(f.re, workerId, clock.now(), f.level, f.message), 'an action message');
        return;
      case 'action_progress':
        run.write(store.recordProgress(f.re, workerId, f.current, f.total, f.message ?? null), 'action progress');
    }
  }

  resources(workerId: string, f: FrameOf<'resources'>): void {
    const runId = this.byMessage.get(f.re)?.id ?? null;
    const stored = this.intake.addBatch(workerId, f.plugin, f.re, f.batch, f.last, f.resources, this.deps.clock.now(), runId).then((outcome) => {
      if ('error' in outcome) this.deps.log.warn({ worker: workerId, plugin: f.plugin }, outcome.error);
      else if (outcome.complete) this.deps.log.info({ worker: workerId, plugin: f.plugin, resources: outcome.count, run: runId }, 'resource graph stored');
    });
    this.writes.track(stored, 'a resource graph', { worker: workerId, plugin: f.plugin });
  }

  flag(workerId: string, f: FrameOf<'resources_flag'>): void {
    const stored = this.deps.resources.setFlags(workerId, f.plugin, f.clean).then((n) => {
      this.deps.log.info({ worker: workerId, plugin: f.plugin, flagged: n, listed: f.clean.length }, 'cleanup plan stored');
      if (n < f.clean.length) this.deps.log.warn({ worker: workerId, plugin: f.plugin }, `${f.clean.length - n} flagged id(s) are not in the stored graph`);
    });
    this.writes.track(stored, 'a cleanup plan', { worker: workerId, plugin: f.plugin });
  }

  // ---- internals ---------------------------------------------------------------------------------

  private definition(name: string): WorkflowDefinition {
    const definition = this.deps.workflows.get(name);
    if (!definition) {
      throw new ClaError(ErrorCode.UnknownWorkflow, `No workflow named ${name} (known: ${[...this.deps.workflows.keys()].sort().join(', ')})`, {
        data: { workflow: name },
      });
    }
    return definition;
  }

  /** `cleanup` carries the subscriber's flagged ids by plugin (null past the size limit); other actions nothing, at once. */
  private dataFor(action: string, workerId: string): Record<string, unknown> | undefined | Promise<Record<string, unknown>> {
    if (action !== 'cleanup') return undefined;
    return this.deps.resources.flagged(workerId).then((flagged) => this.cleanupData(flagged));
  }

  private cleanupData(flagged: Record<string, string[]>): Record<string, unknown> {
    let chars = 0;
    for (const ids of Object.values(flagged)) for (const id of ids) chars += id.length + 3;
    return { clean: chars <= (this.options.maxCleanupIdChars ?? 512_000) ? flagged : null };
  }

  /** The active runs of `workflow` that other hubs own (from the store). */
  private async othersActive(workflow: string): Promise<StoredRun[]> {
    const runs = await this.deps.store.activeRunsOf(workflow);
    return runs.filter((r) => !this.runs.has(r.id) && r.owner !== null && r.owner !== this.deps.store.hubId);
  }

  private onRunFinished(run: WorkflowRunRuntime): void {
    if (this.runs.get(run.id) !== run) return;
    this.runs.delete(run.id);
    this.deps.log.info({ run: run.id, workflow: run.workflow, state: run.state() }, 'workflow run finished');
    this.runChanges.next(run.id);
    this.startWaiting(run.workflow);
    // Told once the end is committed, so that the other hubs read it from the store.
    if (this.fleet) void this.writes.settled().then(() => this.fleet?.ended(run.workflow));
    this.notifyIfIdle();
  }

  /** A run of `workflow` on another hub ended: a run of it waiting here may start. */
  otherEnded(workflow: string): void {
    this.startWaiting(workflow);
  }

  private onRunLost(run: WorkflowRunRuntime): void {
    if (this.runs.get(run.id) !== run) return;
    this.runs.delete(run.id);
    this.runChanges.next(run.id);
    this.notifyIfIdle();
  }

  private notifyIfIdle(): void {
    if (this.runs.size > 0) return;
    const waiters = [...this.idle];
    this.idle.clear();
    waiters.forEach((resolve) => resolve());
  }

  /**
   * Starts the oldest pending run of a workflow when none of it is running. With a {@link fleet}: when
   * none runs on any hub and the oldest pending one of every hub is this hub's (each hub reads the same
   * store, so only that run's owner starts it).
   */
  private startWaiting(workflow: string): void {
    const runs = [...this.runs.values()].filter((r) => r.workflow === workflow);
    if (runs.some((r) => r.state() === 'running')) return;
    const pending = runs.find((r) => r.state() === 'pending');
    if (!pending) return;
    if (!this.fleet) return pending.start();
    this.deps.store.activeRunsOf(workflow).then(
      (fleetRuns) => {
        if (fleetRuns.some((r) => r.state === 'running' && !this.runs.has(r.id))) return;
        const oldest = this.runs.get(fleetRuns.find((r) => r.state === 'pending')?.id ?? '');
        const runningHere = [...this.runs.values()].some((r) => r.workflow === workflow && r.state() === 'running');
        if (oldest && oldest.state() === 'pending' && !runningHere) oldest.start();
      },
      (error: unknown) => this.deps.log.error({ err: error, workflow }, 'could not read the runs of the other hubs'),
    );
  }
}
