/**
 * The worker's side of the action bus (an {@link AgentExtension}): handlers registered per action with
 * `on()`, run when the hub broadcasts that action, answered once per message with `action_done` or
 * `action_error` (plus `action_info`, `action_progress`, and the `resources` / `resources_flag` a
 * handler sends along the way). An `abort` frame aborts the handlers' `signal`.
 *
 * Several handlers of one action (one per plugin) run together and make one answer: done when all of
 * them succeed, an error naming each that failed.
 *
 * A resent action (same message id, after a reconnect or a hub restart) is never run twice: while it
 * runs, the frames already sent for it (graph batches, plan, final answer) are sent again and the rest
 * follow live; once it ended, its recorded answer is sent again from a small cache. Info and progress
 * messages are not repeated.
 */
import { ClaError, ErrorCode, toWireError } from '../../errors.ts';
import { frame, type Frame, type FrameOf } from '../../protocol/frames.ts';
import type { ActionSubscription, Resource } from '../../protocol/frames-bus.ts';
import type { AgentExtension, ExtensionContext } from '../agent-extension.ts';
import { GraphWriter } from './graph-writer.ts';

/** What a handler gets for one action message. */
export interface ActionContext {
  /** The message id (answers carry it as `re`). */
  readonly id: string;
  readonly action: string;
  readonly run: string;
  readonly step: string;
  /** The action's data from the workflow step (for `cleanup`: `clean`, the flagged ids by plugin). */
  readonly data: unknown;
  /** Aborted by the hub's `abort` (timeout, run aborted) or when the worker stops. */
  readonly signal: AbortSignal;
  readonly worker: ExtensionContext;
  /** Sends an `action_info`. */
  info(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** Sends an `action_progress`. */
  progress(current: number, total: number, message?: string): void;
  /** Starts a resource graph of `plugin` for this message: `add()` resources, then `end()`. */
  graph(plugin: string): { add(resource: Resource): void; end(): void };
  /** Sends the cleanup plan of `plugin`: the ids to flag with `desired.clean`. */
  flag(plugin: string, ids: readonly string[]): void;
}

/** Handles one action message; a throw (or rejection) becomes part of `action_error`. */
export type ActionHandler = (ctx: ActionContext) => Promise<void> | void;

/** Subscription settings of a handler. */
export interface ActionHandlerOptions {
  /** Name shown in errors (the plugin). @default the action */
  name?: string;
  /** The hub waits for this worker's answer. @default true */
  waitForCompletion?: boolean;
  /** Time the worker may take, in ms; the largest of an action's handlers is announced. @default 3600000 */
  timeoutMs?: number;
}

/** Where action subscriptions are announced (src/worker/subscriptions.ts `SubscriptionRegistry`). */
export interface ActionSubscriptions {
  addAction(subscription: ActionSubscription): void;
}

interface Registered {
  name: string;
  handler: ActionHandler;
  waitForCompletion: boolean;
  timeoutMs: number;
}

/**
 * One message being handled: the handlers' context itself, so an action costs one object, not a closure
 * per method and an AbortController it may never use (issue 9: a 1,000-worker broadcast).
 */
class Running implements ActionContext {
  /** Frames worth repeating on a resend: graph batches, plans, the final answer. */
  readonly sent: Frame[] = [];
  /**
   * What changes while the message runs, in one object that every view of this context shares: plugin
   * hosts hand handlers `Object.create(ctx)`, and a field assigned through such a view would land on it.
   */
  private readonly state: {
    /** While the handlers' synchronous part runs: frames are held, sent once it is known whether the action counts as work. */
    holding: boolean;
    /** The frames held (made on the first: a quick handler usually sends none before its answer). */
    held: Frame[] | undefined;
    batches: number;
    controller: AbortController | undefined;
  } = { holding: true, held: undefined, batches: 0, controller: undefined };
  readonly id: string;
  readonly action: string;
  readonly run: string;
  readonly step: string;
  readonly data: unknown;

  constructor(
    f: FrameOf<'action'>,
    readonly worker: ExtensionContext,
  ) {
    this.id = f.id;
    this.action = f.action;
    this.run = f.run;
    this.step = f.step;
    this.data = f.data ?? null;
  }

  get signal(): AbortSignal {
    return (this.state.controller ??= new AbortController()).signal;
  }

  get aborted(): boolean {
    return this.state.controller?.signal.aborted ?? false;
  }

  get batches(): number {
    return this.state.batches;
  }

  abort(reason: ClaError): void {
    (this.state.controller ??= new AbortController()).abort(reason);
  }

  info(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.out(frame('action_info', { re: this.id, level, message: message.slice(0, 10_000) }));
  }

  progress(current: number, total: number, message?: string): void {
    this.out(frame('action_progress', { re: this.id, current, total, ...(message === undefined ? {} : { message: message.slice(0, 10_000) }) }));
  }

  graph(plugin: string): { add(resource: Resource): void; end(): void } {
    this.state.batches += 1;
    return new GraphWriter((batch, last, resources) => this.out(frame('resources', { re: this.id, plugin, batch, last, resources })));
  }

  flag(plugin: string, ids: readonly string[]): void {
    this.out(frame('resources_flag', { re: this.id, plugin, clean: [...ids] }));
  }

  /** Sends a frame of this message (held while the handlers' synchronous part runs); kept for a resend unless info or progress. */
  out(f: Frame): void {
    if (f.t !== 'action_info' && f.t !== 'action_progress') this.sent.push(f);
    if (this.state.holding) (this.state.held ??= []).push(f);
    else this.worker.send(f);
  }

  /** Sends the frames held while the handlers' synchronous part ran (see ActionExtension `run`). */
  release(): void {
    const held = this.state.held;
    this.state.holding = false;
    this.state.held = undefined;
    if (held) for (const f of held) this.worker.send(f);
  }
}

/** Finished messages whose answers are kept for a resend. */
const COMPLETED_CACHE = 16;

export class ActionExtension implements AgentExtension {
  private readonly handlers = new Map<string, Registered[]>();
  private readonly running = new Map<string, Running>();
  private readonly completed = new Map<string, Frame[]>();
  private ctx: ExtensionContext | undefined;
  private stopping = false;
  private readonly idle = new Set<() => void>();

  constructor(private readonly subscriptions: ActionSubscriptions) {}

  /** Registers a handler of `action` and (re)announces the subscription. */
  on(action: string, handler: ActionHandler, options: ActionHandlerOptions = {}): this {
    const list = this.handlers.get(action) ?? [];
    list.push({ name: options.name ?? action, handler, waitForCompletion: options.waitForCompletion ?? true, timeoutMs: options.timeoutMs ?? 3_600_000 });
    this.handlers.set(action, list);
    this.subscriptions.addAction({
      action,
      waitForCompletion: list.some((h) => h.waitForCompletion),
      timeoutMs: Math.max(...list.map((h) => h.timeoutMs)),
    });
    return this;
  }

  /** Actions with at least one handler. */
  actions(): string[] {
    return [...this.handlers.keys()];
  }

  /** Messages being handled now. */
  runningCount(): number {
    return this.running.size;
  }

  welcomed(ctx: ExtensionContext): void {
    this.ctx = ctx;
  }

  frame(f: Frame, ctx: ExtensionContext): boolean {
    if (f.t === 'action') {
      this.ctx = ctx;
      this.onAction(f);
      return true;
    }
    if (f.t === 'abort') {
      const running = this.running.get(f.re);
      if (running && !running.aborted) {
        ctx.log.warn({ re: f.re, reason: f.reason }, 'action aborted by the hub');
        running.abort(new ClaError(ErrorCode.Aborted, f.reason));
      }
      return true;
    }
    return false;
  }

  disconnected(): void {
    // Handlers go on: their answer is sent again when the hub resends the action after the reconnect.
    // (The clock is kept for stop(); only sending needs a connection, and ctx.send drops frames then.)
  }

  /**
   * Stops taking actions; resolves when the running handlers have ended. Handlers still running after
   * `graceMs` are aborted (their signal), as the worker gives up on them then (its own grace period).
   */
  stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.running.size === 0) return Promise.resolve();
    const clock = this.ctx?.clock;
    const timer = clock?.setTimeout(() => this.abortAll('the worker is stopping'), graceMs);
    return new Promise((resolve) =>
      this.idle.add(() => {
        clock?.clearTimeout(timer);
        resolve();
      }),
    );
  }

  /** Aborts every running handler (the worker gives up on them). */
  abortAll(reason: string): void {
    for (const running of this.running.values()) running.abort(new ClaError(ErrorCode.Aborted, reason));
  }

  private onAction(f: FrameOf<'action'>): void {
    const running = this.running.get(f.id);
    if (running) {
      this.ctx?.log.info({ re: f.id, action: f.action }, 'action resent while running: repeating what was sent');
      for (const out of running.sent) this.ctx?.send(out);
      return;
    }
    const done = this.completed.get(f.id);
    if (done) {
      this.ctx?.log.info({ re: f.id, action: f.action }, 'action resent after it ended: repeating its answer');
      for (const out of done) this.ctx?.send(out);
      return;
    }
    const handlers = this.handlers.get(f.action);
    if (!handlers || this.stopping) {
      const error = this.stopping
        ? new ClaError(ErrorCode.WorkerBusy, 'The worker is stopping', { retryable: true })
        : new ClaError(ErrorCode.Unsupported, `No handler for action ${f.action} on this worker`);
      this.ctx?.send(frame('action_error', { re: f.id, error: toWireError(error) }));
      return;
    }
    this.run(f, handlers);
  }

  /**
   * Runs the handlers of one message. Handlers that all return at once (no promise) are answered in the
   * same call: the action never held the process across a turn of the event loop, so it is not counted
   * as work (no `LOAD` events, no `state` frames) and its answer leaves in the write that carries
   * whatever else this turn sent. A 1,000-worker broadcast of a quick action cost two lifecycle events,
   * two `state` frames and two socket writes per worker before (issue 9). Work is counted from the
   * moment a handler returns a promise, before the turn ends, so the worker machine is busy whenever an
   * action runs while anything else can happen. What the handlers send in their synchronous part is
   * held until then, so a `state` frame saying busy still comes before the action's own frames.
   */
  private run(f: FrameOf<'action'>, handlers: Registered[]): void {
    const worker = this.ctx!;
    const record = new Running(f, worker);
    this.running.set(f.id, record);
    // Log arguments are built only when the line is written (issue 9: per action on 1,000 workers).
    if (worker.log.isLevelEnabled('info')) worker.log.info({ re: f.id, action: f.action, run: f.run, step: f.step, handlers: handlers.map((h) => h.name) }, 'action started');
    // Every handler is called now, in order (as `handlers.map(async ...)` did); a throw is its failure.
    // The outcomes are kept only once one is not a plain success (issue 9: the usual quick handler
    // allocates nothing here).
    let outcomes: Array<PromiseSettledResult<unknown> | PromiseLike<unknown>> | undefined;
    let promised = false;
    for (let i = 0; i < handlers.length; i++) {
      let outcome: PromiseSettledResult<unknown> | PromiseLike<unknown>;
      try {
        const value = handlers[i]!.handler(record);
        if (isPromiseLike(value)) {
          outcome = value;
          promised = true;
        } else outcome = FULFILLED;
      } catch (reason) {
        outcome = { status: 'rejected', reason };
      }
      if (outcome !== FULFILLED) (outcomes ??= new Array<PromiseSettledResult<unknown> | PromiseLike<unknown>>(handlers.length).fill(FULFILLED))[i] = outcome;
    }
    if (!promised) {
      record.release();
      this.end(f, handlers, record, outcomes as Array<PromiseSettledResult<unknown>> | undefined);
      return;
    }
    const untrack = worker.trackWork('action');
    record.release();
    void Promise.allSettled(outcomes!.map((o) => (isPromiseLike(o) ? o : settledValue(o)))).then((results) => {
      this.end(f, handlers, record, results);
      untrack();
    });
  }

  /** Sends the one answer of a message from its handlers' results (none: all succeeded) and files it for a resend. */
  private end(f: FrameOf<'action'>, handlers: Registered[], record: Running, results: ReadonlyArray<PromiseSettledResult<unknown>> = NONE_FAILED): void {
    let failed: Array<{ name: string; error: unknown }> | undefined;
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (r.status === 'rejected') (failed ??= []).push({ name: handlers[i]!.name, error: r.reason as unknown });
    }
    let end: Frame;
    if (!failed) end = frame('action_done', { re: f.id });
    else {
      const first = failed[0]!.error;
      const code = first instanceof ClaError ? first.code : ErrorCode.Internal;
      const message = failed.map((x) => `${x.name}: ${x.error instanceof Error ? x.error.message : String(x.error)}`).join('; ');
      end = frame('action_error', { re: f.id, error: toWireError(new ClaError(code, message, { data: { failed: failed.map((x) => x.name) } })) });
    }
    record.out(end);
    const log = this.ctx?.log;
    if (log?.isLevelEnabled('info')) log.info({ re: f.id, action: f.action, ok: !failed, graphs: record.batches }, 'action ended');
    this.running.delete(f.id);
    this.completed.set(f.id, record.sent);
    while (this.completed.size > COMPLETED_CACHE) this.completed.delete(this.completed.keys().next().value!);
    if (this.running.size === 0) {
      for (const resolve of this.idle) resolve();
      this.idle.clear();
    }
  }
}

/** A handler's result that was not a promise (its value is not used). */
const FULFILLED: PromiseSettledResult<unknown> = Object.freeze({ status: 'fulfilled', value: undefined });

/** The results of handlers that all returned at once without a throw (nothing to look at). */
const NONE_FAILED: ReadonlyArray<PromiseSettledResult<unknown>> = Object.freeze([]);

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** A settled outcome as a promise of itself, for `Promise.allSettled` over a mix. */
function settledValue(outcome: PromiseSettledResult<unknown>): Promise<unknown> {
  return outcome.status === 'fulfilled' ? Promise.resolve(outcome.value) : Promise.reject(outcome.reason);
}
