/**
 * One workflow run on the hub: the run machine (machines/workflow-run.machine.ts) and its current step
 * machine (machines/workflow-step.machine.ts) given real actions. Every change of either is written to
 * the store (rows for `cla-hub workflow show`, snapshots for a restart); a restored run gets its step
 * back from the stored snapshot and sends it RESUME, which re-arms its deadline timer.
 */
import { createActor, type Actor } from 'xstate';
import { workflowRunMachine, type StepResult, type WorkflowRunInput } from '../../../machines/workflow-run.machine.ts';
import { packStepSnapshot, stepOutcome, unpackStepSnapshot, withStoredAnswers, type StepSubscriber, type WorkflowStepSnapshot } from '../../../machines/workflow-step.helpers.ts';
import { workflowStepContextFromInput, workflowStepMachine, type WorkflowStepEvent, type WorkflowStepInput } from '../../../machines/workflow-step.machine.ts';
import type { Clock } from '../../clock.ts';
import { ClaError, ErrorCode } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { encodeOnce, type EncodedFrame } from '../../protocol/codec.ts';
import { frame } from '../../protocol/frames.ts';
import type { ActionBus } from './action-bus.ts';
import type { PendingWrites } from './pending-writes.ts';
import type { StepDefinition, WorkflowDefinition } from './workflow-definitions.ts';
import type { AnswerRow, RunState, StepRow, StoredRun, WorkflowStore } from './workflow-store.ts';

/** What a run needs from the engine. */
export interface RunRuntimeDeps {
  store: WorkflowStore;
  /** Where the writes issued by the machines' actions are kept until they are committed. */
  writes: PendingWrites;
  bus: ActionBus;
  clock: Clock;
  log: Logger;
  /** Grace period of a disconnected subscriber, in ms. */
  graceMs: number;
  /** Grace period of every pending subscriber after a hub restart, in ms. */
  resumeGraceMs: number;
  /**
   * Extra `data` for one subscriber's copy of an action (the flagged ids for `cleanup`, read from the
   * store); undefined when it has none (every action but `cleanup`: no object per subscriber, issue 9).
   */
  dataFor(action: string, workerId: string): Record<string, unknown> | undefined | Promise<Record<string, unknown>>;
  /** A step started or ended (the engine routes answers by message id). */
  stepChanged(run: WorkflowRunRuntime, messageId: string, active: boolean): void;
  /** The run reached a final state. */
  finished(run: WorkflowRunRuntime): void;
  /** Another hub owns the run now (a write was refused with RUN_NOT_OWNED): this hub stopped driving it. */
  lost(run: WorkflowRunRuntime): void;
}

/** A step timer (see `attachStep`). */
interface StepTimer {
  id: unknown;
  cancelled: boolean;
}

/** The message id of a run's step: the `id` of its `action` frames. */
export const stepMessageId = (runId: string, index: number): string => `${runId}.${index}`;

/** What the step machine's actions do for one step: see {@link hubStepMachine}. */
interface StepEffects {
  /** The step's name, for the reason of a timeout's abort. */
  step: string;
  send(workerIds: readonly string[]): void;
  abort(workerId: string, reason: string): void;
}

/**
 * Values linked to actors, for machines given their actions once: an action finds the object it works
 * for by the actor it runs in (the `self` it gets). `provide` per actor built a whole machine per actor
 * (its state nodes and their transitions), ~4 % of the hub's own CPU per broadcast round (issue 9,
 * bench/broadcast-engine.ts).
 */
function actorLinks<T extends object>(): { link(actor: object, value: T): void; of(self: object): T | undefined } {
  const links = new WeakMap<object, T>();
  return { link: (actor, value) => void links.set(actor, value), of: (self) => links.get(self) };
}

/** Each step actor's effects (see {@link hubStepMachine}). */
const stepEffects = actorLinks<StepEffects>();

/** The step machine with the runtime's actions, made once (see {@link actorLinks}). */
const hubStepMachine = workflowStepMachine.provide({
  actions: {
    broadcastAction: ({ context, self }) => stepEffects.of(self)?.send(context.subscribers.map((s) => s.id)),
    resendAction: ({ event, self }) => {
      if (event.type === 'RECONNECTED') stepEffects.of(self)?.send([event.subscriber]);
    },
    abortExpired: ({ context, self }) => {
      const fx = stepEffects.of(self);
      if (fx) for (const id of context.expired) fx.abort(id, `timed out in step ${fx.step}`);
    },
    abortPending: ({ context, event, self }) => {
      const fx = stepEffects.of(self);
      if (!fx) return;
      for (const s of context.subscribers) if (s.status === 'pending') fx.abort(s.id, event.type === 'ABORT' ? event.reason : 'aborted');
    },
  },
});

export class WorkflowRunRuntime {
  /** Each run actor's runtime (see {@link runMachine}). */
  private static readonly runtimes = actorLinks<WorkflowRunRuntime>();
  /** The run machine with this class's actions, made once (see {@link actorLinks}). */
  private static readonly runMachine = workflowRunMachine.provide({
    actions: {
      startStep: ({ context, self }) => WorkflowRunRuntime.runtimes.of(self)?.startStep(context.index),
      abortStep: ({ event, self }) => {
        const runtime = WorkflowRunRuntime.runtimes.of(self);
        runtime?.sendStep({ type: 'ABORT', reason: event.type === 'ABORT' ? event.reason : 'aborted', now: runtime.deps.clock.now() });
      },
      runFinished: ({ self }) => {
        const runtime = WorkflowRunRuntime.runtimes.of(self);
        if (runtime) queueMicrotask(() => runtime.stopped || runtime.deps.finished(runtime));
      },
    },
  });

  private readonly run: Actor<typeof workflowRunMachine>;
  private step: Actor<typeof workflowStepMachine> | undefined;
  private stepIndex = -1;
  private stopped = false;
  /**
   * Each subscriber as last written, at its place in the step's `subscribers`, so a step's write touches
   * only the rows that changed: the machine keeps the object of a subscriber that did not change and
   * never reorders, adds or drops subscribers, so most are told apart by identity at their index (issue 9:
   * a Map lookup per subscriber per write was ~2 % of the hub's CPU in a 1,000-worker broadcast).
   */
  private written: Array<StepSubscriber | undefined> = [];
  /**
   * The step's stored snapshot misses more than answers: true from the step's start (or restore) and
   * after any event but ANSWERS, or a timer, until the next write. Answers alone are stored as answer
   * rows and put back into the snapshot on restore ({@link withStoredAnswers}): rewriting a snapshot of
   * 1,000 subscribers for every turn of answers was the largest store cost of a broadcast (issue 9).
   */
  private snapshotStale = true;
  /**
   * The waiting step was restored from its stored snapshot (a restart, or a run adopted from another
   * hub): its first write put every subscriber in an answer set again, so its end is written with its
   * snapshot, whose final answers replace the step's sets (the SQLite store drops them), instead of a
   * finished step keeping two sets or more of each subscriber until its run is pruned.
   */
  private stepRestored = false;
  /**
   * The waiting step's writes: at most one in flight (issue 9). A change while one is in flight is
   * written when it settles, with whatever else changed meanwhile, so a burst of answers over many turns
   * is never more than one write behind (measured: about as many commits per round as the two
   * `setImmediate` hops before, see bench/RESULTS.md). The step's end is written at once, whatever is in
   * flight (the store applies calls in order).
   */
  private stepWrites = { writing: false, due: false };
  /**
   * A new step until its first write, which holds its subscribers, its snapshot and, when the broadcast
   * went out in the same call as the start, the broadcast's `sent`: one store call instead of three (the
   * rows, `markSent` over the rows just inserted, the snapshot; issue 9). It is written `initial`: the
   * SQLite store keeps the subscribers in the snapshot alone and writes a row once one answers.
   */
  private startRows: { messageId: string; sent: readonly string[]; at: number } | undefined;
  /** Frames to subscribers wait here while an action's data is read from the store, so they keep their order. */
  private sendQueue: Promise<void> | undefined;
  /**
   * Answers of this turn of the event loop, given to the step as one ANSWERS event at its end (or before
   * any other event or timer of the step): one pass over the subscribers per turn instead of one per
   * answer (issue 9: 1,000 answers to one broadcast were O(n²)).
   */
  private answers: Array<{ subscriber: string; ok: boolean }> | undefined;

  private constructor(
    private readonly deps: RunRuntimeDeps,
    readonly id: string,
    readonly definition: WorkflowDefinition,
    snapshot: unknown,
  ) {
    const input: WorkflowRunInput = {
      runId: id,
      workflow: definition.name,
      steps: definition.steps.map((s) => ({ name: s.name, action: s.action, onError: s.onError })),
    };
    // `as never`: createActor's options type cannot express "input or snapshot" as one union.
    this.run = createActor(WorkflowRunRuntime.runMachine, (snapshot ? { snapshot, clock: deps.clock } : { input, clock: deps.clock }) as never);
    WorkflowRunRuntime.runtimes.link(this.run, this);
    this.run.subscribe(() => this.persistRun());
  }

  /** A new run, stored as `pending`; `start()` or `skip()` it. */
  static create(deps: RunRuntimeDeps, definition: WorkflowDefinition, id: string, trigger: string): WorkflowRunRuntime {
    const runtime = new WorkflowRunRuntime(deps, id, definition, undefined);
    runtime.write(deps.store.createRun({
      id,
      workflow: definition.name,
      trigger,
      state: 'pending',
      createdAt: deps.clock.now(),
      startedAt: null,
      finishedAt: null,
      reason: null,
      definition: JSON.stringify(definition),
    }), 'a new workflow run');
    runtime.run.start();
    runtime.persistRun();
    return runtime;
  }

  /** A run of a previous hub process, from its stored snapshots; its step gets RESUME. */
  static async restore(deps: RunRuntimeDeps, stored: StoredRun): Promise<WorkflowRunRuntime> {
    const definition = JSON.parse(stored.definition) as WorkflowDefinition;
    const runtime = new WorkflowRunRuntime(deps, stored.id, definition, stored.snapshot ? JSON.parse(stored.snapshot) : undefined);
    runtime.run.start();
    const snapshot = runtime.run.getSnapshot();
    if (snapshot.matches('running')) {
      const index = snapshot.context.index;
      const row = await deps.store.getStep(stored.id, index);
      const answers = row?.snapshot ? ((await deps.store.getRun(stored.id)).steps.find((s) => s.index === index)?.answers ?? []) : [];
      runtime.restoreStep(index, row, answers);
    }
    return runtime;
  }

  get workflow(): string {
    return this.definition.name;
  }

  state(): RunState {
    return this.run.getSnapshot().value as RunState;
  }

  isActive(): boolean {
    return this.run.getSnapshot().status === 'active';
  }

  /** The message id of the step waiting now, if any. */
  currentMessageId(): string | undefined {
    return this.step && this.step.getSnapshot().status === 'active' ? stepMessageId(this.id, this.stepIndex) : undefined;
  }

  start(): void {
    this.run.send({ type: 'START' });
  }

  skip(reason: string): void {
    this.run.send({ type: 'SKIP', reason });
  }

  abort(reason: string): void {
    this.run.send({ type: 'ABORT', reason });
  }

  /** Forwards a bus event to the waiting step (the machine ignores it for subscribers it does not wait for). */
  answer(workerId: string, ok: boolean): void {
    if (!this.answers) {
      this.answers = [];
      setImmediate(() => this.flushAnswers());
    }
    this.answers.push({ subscriber: workerId, ok });
  }

  private flushAnswers(): void {
    const answers = this.answers;
    if (!answers) return;
    this.answers = undefined;
    if (this.step?.getSnapshot().status === 'active') this.step.send({ type: 'ANSWERS', answers, now: this.deps.clock.now() });
  }

  disconnected(workerId: string): void {
    this.sendStep({ type: 'DISCONNECTED', subscriber: workerId, now: this.deps.clock.now() });
  }

  reconnected(workerId: string): void {
    this.sendStep({ type: 'RECONNECTED', subscriber: workerId, now: this.deps.clock.now() });
  }

  /** A subscriber dropped `action`: it is gone for this run's step if that step broadcasts it. */
  unsubscribed(workerId: string, action: string): void {
    if (this.step && this.definition.steps[this.stepIndex]?.action === action) {
      this.sendStep({ type: 'UNSUBSCRIBED', subscriber: workerId, now: this.deps.clock.now() });
    }
  }

  /** Stops the actors without changing the stored state (the hub is stopping; a restart resumes). */
  stop(): void {
    this.flushAnswers();
    if (this.step && !this.stopped) this.writeStep(this.step, this.stepIndex, this.step.getSnapshot());
    this.stopped = true;
    this.step?.stop();
    this.run.stop();
  }

  private sendStep(event: WorkflowStepEvent): void {
    this.flushAnswers();
    this.snapshotStale = true;
    if (this.step?.getSnapshot().status === 'active') this.step.send(event);
  }

  private startStep(index: number): void {
    const def = this.definition.steps[index]!;
    const now = this.deps.clock.now();
    const messageId = stepMessageId(this.id, index);
    const input: WorkflowStepInput = {
      runId: this.id,
      index,
      step: def.name,
      action: def.action,
      messageId,
      timeoutMs: def.timeoutMs,
      graceMs: this.deps.graceMs,
      now,
      subscribers: this.deps.bus.subscribersOf(def.action).map((t) => ({
        id: t.workerId,
        wait: t.subscription.waitForCompletion,
        timeoutMs: t.subscription.timeoutMs,
        graceUntil: t.connected ? null : (t.disconnectedAt ?? now) + this.deps.graceMs,
      })),
    };
    const initial = workflowStepContextFromInput({ input });
    this.write(this.deps.store.startStep({ runId: this.id, index, name: def.name, action: def.action, messageId, startedAt: now, deadline: initial.deadline }), 'a workflow step');
    this.startRows = { messageId, sent: [], at: now };
    if (this.deps.log.isLevelEnabled('info')) {
      this.deps.log.info({ run: this.id, workflow: this.workflow, step: def.name, subscribers: initial.subscribers.map((s) => s.id) }, 'workflow step started');
    }
    this.attachStep(index, { input });
    // The step's first write, at once (unless the step ended in its start and wrote its end).
    const step = this.step;
    if (this.startRows && step) this.writeStep(step, index, step.getSnapshot());
  }

  /** `answers`: the step's answer rows, newer than its snapshot where only answers changed since it was written. */
  private restoreStep(index: number, row: StepRow | undefined, answers: readonly AnswerRow[]): void {
    if (!row?.snapshot) {
      // The hub stopped between the run's startStep and the step's first write: start it again.
      this.startStep(index);
      return;
    }
    this.attachStep(index, { snapshot: withStoredAnswers(unpackStepSnapshot(JSON.parse(row.snapshot)), answers) });
    if (this.step?.getSnapshot().status === 'active') {
      this.deps.log.info({ run: this.id, step: row.name }, 'workflow step resumed');
      this.step.send({ type: 'RESUME', now: this.deps.clock.now(), graceMs: this.deps.resumeGraceMs });
      // Subscribers connected already will not reconnect: a hub adopting a dead hub's run (issue 10) finds
      // them moved to it or to another hub. They get the action again as on a reconnect, so an answer given
      // while no hub ran the step (or one the dead hub never stored) is repeated from the worker's cache,
      // instead of the subscriber counting as gone when its resume grace runs out.
      const pending = this.step.getSnapshot().context.subscribers.filter((s) => s.status === 'pending');
      for (const s of pending) if (this.deps.bus.isConnected(s.id)) this.reconnected(s.id);
    }
  }

  /** The step's first write then holds every subscriber's row (a new step's rows, a restored step's as it was restored). */
  private attachStep(index: number, from: { input: WorkflowStepInput } | { snapshot: unknown }): void {
    const def = this.definition.steps[index]!;
    const messageId = stepMessageId(this.id, index);
    const deliver = (workerIds: readonly string[], extra: ReadonlyArray<Record<string, unknown> | undefined> | undefined) => {
      // Subscribers whose data has no part of their own share one encoded frame (issue 9).
      let shared: EncodedFrame | undefined;
      const sent: string[] = [];
      for (let i = 0; i < workerIds.length; i++) {
        const workerId = workerIds[i]!;
        const own = extra?.[i];
        if (own === undefined || Object.keys(own).length === 0) {
          shared ??= encodeOnce(frame('action', { id: messageId, action: def.action, run: this.id, step: def.name, data: { ...def.data } }));
          if (this.deps.bus.sendEncoded(workerId, shared)) sent.push(workerId);
          continue;
        }
        const data = { ...def.data, ...own };
        if (this.deps.bus.send(workerId, frame('action', { id: messageId, action: def.action, run: this.id, step: def.name, data }))) sent.push(workerId);
      }
      if (sent.length === 0) return;
      // Sent in the step's start: written with its rows (see startRows); later (a resend, `cleanup`'s data read) on its own.
      if (this.startRows?.messageId === messageId) this.startRows = { messageId, sent, at: this.deps.clock.now() };
      else this.write(this.deps.store.markSent(messageId, sent, this.deps.clock.now()), 'when an action was sent');
    };
    const send = (workerIds: readonly string[]) =>
      this.inOrder(() => {
        // Nothing of their own (the usual case): no array of extras at all.
        let extra: Array<Record<string, unknown> | undefined | Promise<Record<string, unknown>>> | undefined;
        for (let i = 0; i < workerIds.length; i++) {
          const own = this.deps.dataFor(def.action, workerIds[i]!);
          if (own !== undefined) (extra ??= new Array<undefined>(workerIds.length))[i] = own;
        }
        if (!extra?.some((e) => e instanceof Promise)) return deliver(workerIds, extra as Array<Record<string, unknown> | undefined> | undefined);
        return Promise.all(extra).then((resolved) => deliver(workerIds, resolved));
      });
    const abort = (workerId: string, reason: string) => this.inOrder(() => void this.deps.bus.send(workerId, frame('abort', { re: messageId, reason })));
    this.stepIndex = index;
    this.written = [];
    this.snapshotStale = true;
    this.stepRestored = 'snapshot' in from;
    this.stepWrites = { writing: false, due: false };
    // The step's timers see every answer that came before them; an answer may re-arm (cancel) the one firing.
    const clock = this.deps.clock;
    const stepClock: Clock = {
      now: () => clock.now(),
      setTimeout: (fn, ms) => {
        const timer: StepTimer = { id: undefined, cancelled: false };
        timer.id = clock.setTimeout(() => {
          this.flushAnswers();
          this.snapshotStale = true;
          if (!timer.cancelled) fn();
        }, ms);
        return timer;
      },
      clearTimeout: (timer) => {
        (timer as StepTimer).cancelled = true;
        clock.clearTimeout((timer as StepTimer).id);
      },
    };
    const step = createActor(hubStepMachine, { ...from, clock: stepClock } as never);
    stepEffects.link(step, { step: def.name, send, abort });
    this.step = step;
    this.deps.stepChanged(this, messageId, true);
    step.subscribe((snapshot) => this.onStep(step, index, def, snapshot));
    step.start();
    this.onStep(step, index, def, step.getSnapshot());
  }

  /**
   * Every change of the waiting step is written once per turn of the event loop (answers arriving in
   * one burst make one write); the step's end is written at once, before the run moves on. An answer
   * lost to a crash before its write is not lost for good: the restarted hub resends the action and
   * the worker repeats its recorded answer.
   */
  private onStep(step: Actor<typeof workflowStepMachine>, index: number, def: StepDefinition, snapshot: WorkflowStepSnapshot): void {
    if (this.stopped || step !== this.step) return;
    const outcome = stepOutcome(snapshot);
    if (!outcome) {
      const writes = this.stepWrites;
      if (!writes.due) {
        writes.due = true;
        if (!writes.writing) setImmediate(() => this.flushStep(step, index, writes));
      }
      return;
    }
    this.writeStep(step, index, snapshot);
    const messageId = stepMessageId(this.id, index);
    this.step = undefined;
    this.deps.stepChanged(this, messageId, false);
    this.deps.log.info({ run: this.id, workflow: this.workflow, step: def.name, outcome }, 'workflow step ended');
    const result: StepResult = outcome;
    this.run.send({ type: 'STEP_DONE', index, result });
  }

  /** Writes the waiting step's changes (see {@link stepWrites}); then again if more changed meanwhile. */
  private flushStep(step: Actor<typeof workflowStepMachine>, index: number, writes: { writing: boolean; due: boolean }): void {
    writes.due = false;
    if (this.stopped || step !== this.step) return;
    const written = this.writeStep(step, index, step.getSnapshot(), false);
    if (!written) return;
    writes.writing = true;
    const settled = () => {
      writes.writing = false;
      if (writes.due) this.flushStep(step, index, writes);
    };
    written.then(settled, settled);
  }

  /**
   * Writes the changed answer rows, and the snapshot when more than answers changed (also when the hub
   * stops: a restart restores a step the same way after a stop and after a crash). `always` false: nothing
   * is written (undefined) when nothing changed.
   */
  private writeStep(step: Actor<typeof workflowStepMachine>, index: number, snapshot: WorkflowStepSnapshot, always = true): Promise<void> | undefined {
    const start = this.startRows;
    this.startRows = undefined;
    const messageId = stepMessageId(this.id, index);
    const outcome = stepOutcome(snapshot);
    const subscribers = snapshot.context.subscribers;
    const last = this.written;
    const changed: StepSubscriber[] = [];
    for (let i = 0; i < subscribers.length; i++) {
      const s = subscribers[i]!;
      const before = last[i];
      if (before === s) continue;
      last[i] = s;
      // Another subscriber at this place (never, see `written`) is written as changed: an upsert of its row.
      if (before?.id !== s.id || before.status !== s.status || before.answeredAt !== s.answeredAt) changed.push(s);
    }
    // The step's end too is written without a snapshot when only answers changed since the last one: the
    // stored snapshot and the answer rows restore the same state ({@link withStoredAnswers}), whose
    // `always` transitions reach the same outcome (issue 9: a second JSON of every subscriber per round);
    // not a restored step's end (see stepRestored).
    const withSnapshot = this.snapshotStale || (outcome !== null && this.stepRestored);
    if (!always && !withSnapshot && changed.length === 0) return undefined;
    if (withSnapshot) this.snapshotStale = false;
    const patch = {
      state: outcome ?? 'waiting',
      ...(withSnapshot ? { snapshot: JSON.stringify(packStepSnapshot(step.getPersistedSnapshot() as WorkflowStepSnapshot)) } : {}),
      finishedAt: outcome ? snapshot.context.now : null,
      subscribers: changed,
      ...(start && start.sent.length > 0 ? { sent: { subscribers: start.sent, at: start.at } } : {}),
      // A new step's first write: every subscriber is in `changed` and in the snapshot, which may hold them alone.
      ...(start && withSnapshot ? { initial: true } : {}),
    };
    const written = this.deps.store.updateStep(messageId, patch);
    this.write(written, 'a workflow step');
    return written;
  }

  private persistRun(): void {
    if (this.stopped) return;
    const snapshot = this.run.getSnapshot();
    const patch = { state: snapshot.value as RunState, snapshot: JSON.stringify(this.run.getPersistedSnapshot()), reason: snapshot.context.reason, at: this.deps.clock.now() };
    this.write(this.deps.store.updateRun(this.id, patch), 'a workflow run');
  }

  /**
   * Keeps a write of this run until it settles. A write refused because another hub adopted the run
   * (it took this one for dead) ends this hub's part: the actors stop, nothing more is written or sent.
   */
  write(write: Promise<unknown>, what: string): void {
    const fenced = write.catch((error: unknown) => {
      if (!(error instanceof ClaError && error.code === ErrorCode.RunNotOwned)) throw error;
      this.relinquish(error);
    });
    this.deps.writes.track(fenced, what, { run: this.id });
  }

  private relinquish(error: ClaError): void {
    if (this.stopped) return;
    this.stopped = true;
    this.deps.log.warn({ run: this.id, workflow: this.workflow, owner: error.data?.owner }, 'another hub adopted this workflow run: stopped driving it here');
    const messageId = this.currentMessageId();
    this.step?.stop();
    this.run.stop();
    if (messageId !== undefined) this.deps.stepChanged(this, messageId, false);
    this.deps.lost(this);
  }

  /**
   * Runs `send` now when nothing is queued before it, else after what is queued: frames to subscribers
   * keep the order the machines sent them in, even while a `cleanup` action waits for its flagged ids.
   */
  private inOrder(send: () => void | Promise<void>): void {
    const next = this.sendQueue ? this.sendQueue.then(send) : send();
    if (!next) return;
    const queued: Promise<void> = next.then(
      () => {
        if (this.sendQueue === queued) this.sendQueue = undefined;
      },
      (error: unknown) => {
        if (this.sendQueue === queued) this.sendQueue = undefined;
        this.deps.log.error({ err: error, run: this.id }, 'could not send a workflow action');
      },
    );
    this.sendQueue = queued;
  }
}
