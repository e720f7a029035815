/**
 * The worker's one `subscribe` frame, shared by every feature that subscribes: action subscriptions (the
 * action bus) and task handlers (src/worker/tasks/). Features add to one {@link SubscriptionRegistry};
 * one {@link SubscribeExtension} sends the combined frame when the hub welcomes the worker (after every
 * reconnect) and again whenever the registry changes while connected. No other extension sends
 * `subscribe`: the hub replaces a worker's subscriptions with each frame, so two senders would undo each
 * other.
 *
 *   const subscriptions = new SubscriptionRegistry(options.subscriberId);
 *   const tasks = new TaskExtension(subscriptions, { concurrency: 4 });
 *   subscriptions.addAction({ action: 'collect', waitForCompletion: true, timeoutMs: 600_000 });
 *   new WorkerAgent({ ..., extensions: [new SubscribeExtension(subscriptions), tasks, actions] });
 */
import type { Frame, FrameOf } from '../protocol/frames.ts';
import { frame } from '../protocol/frames.ts';
import type { ActionSubscription, TaskHandlerSpec } from '../protocol/frames-bus.ts';
import type { AgentExtension, ExtensionContext } from './agent-extension.ts';

/** A task as a handler sees it. */
export interface TaskInvocation {
  id: string;
  name: string;
  attrs: Readonly<Record<string, string>>;
  /** The submitted data (a plain value). */
  data: unknown;
}

/** Runs one task; resolves with a plain value (the task's result) or throws (the task fails). */
export type TaskHandler = (task: TaskInvocation, context: { signal: AbortSignal }) => unknown;

/** A task handler with the spec announced for it. */
export interface RegisteredTaskHandler {
  spec: TaskHandlerSpec;
  handler: TaskHandler;
}

/** Everything this worker subscribes to. */
export class SubscriptionRegistry {
  private readonly actionSubs = new Map<string, ActionSubscription>();
  private readonly handlers: RegisteredTaskHandler[] = [];
  private readonly listeners = new Set<() => void>();
  private capacity = 1;

  constructor(readonly subscriberId: string) {}

  /** Subscribes to an action; a second call for the same action replaces the first. */
  addAction(subscription: ActionSubscription): void {
    this.actionSubs.set(subscription.action, { ...subscription });
    this.changed();
  }

  /** Declares a task handler: tasks named `spec.name` whose attributes match `spec.filter`. */
  addTaskHandler(spec: TaskHandlerSpec, handler: TaskHandler): void {
    this.handlers.push({ spec: { name: spec.name, filter: structuredClone(spec.filter) }, handler });
    this.changed();
  }

  /** Tasks the worker may hold at once (running and queued), announced as `taskCapacity`. */
  setTaskCapacity(capacity: number): void {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.changed();
  }

  actions(): ActionSubscription[] {
    return [...this.actionSubs.values()];
  }

  taskHandlers(): readonly RegisteredTaskHandler[] {
    return this.handlers;
  }

  /** The `subscribe` frame for everything registered. */
  frame(taskCapacity: number = this.capacity): FrameOf<'subscribe'> {
    return frame('subscribe', {
      subscriberId: this.subscriberId,
      actions: this.actions(),
      tasks: this.handlers.map((h) => h.spec),
      taskCapacity,
    });
  }

  /** Calls `listener` after every change. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/** Sends the registry's `subscribe` on every welcome, and again when it changes while connected. */
export class SubscribeExtension implements AgentExtension {
  private ctx: ExtensionContext | undefined;

  constructor(private readonly registry: SubscriptionRegistry) {
    registry.onChange(() => this.ctx?.send(this.registry.frame()));
  }

  welcomed(ctx: ExtensionContext): void {
    this.ctx = ctx;
    ctx.send(this.registry.frame());
  }

  frame(_f: Frame): boolean {
    return false;
  }

  disconnected(): void {
    this.ctx = undefined;
  }
}
