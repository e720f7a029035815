/**
 * The hub's side of the action bus: who subscribed to which action, whether they are connected, and
 * the worker frames that answer actions. It sends nothing on its own; the workflow engine (the only
 * listener) decides what to broadcast and when.
 *
 * A subscriber is a worker id (a worker has one connection at a time; a new one replaces the old). It
 * stays known while disconnected, so a step can tell "reconnecting" (grace period) from "gone"; the
 * bus forgets it `graceMs` after it disconnected.
 *
 * The `subscribe` frame also carries task handlers for the task dispatcher: {@link ActionBus.workerFrame}
 * returns false for it so every extension sees it.
 */
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../logger.ts';
import type { EncodedFrame } from '../../protocol/codec.ts';
import type { ActionSubscription, TaskHandlerSpec } from '../../protocol/frames-bus.ts';
import type { Frame, FrameOf } from '../../protocol/frames.ts';
import type { WorkerSession } from '../worker-session.ts';

/** One subscriber as the bus knows it. */
export interface Subscriber {
  workerId: string;
  /** The id the worker gave in `subscribe` (shown, not used as a key). */
  subscriberId: string;
  actions: Map<string, ActionSubscription>;
  /** The live connection, or null while disconnected. */
  session: WorkerSession | null;
  disconnectedAt: number | null;
  /** The rest of its last `subscribe` (local subscribers), for `cla-hub subscribers` on other hubs. */
  handlers?: { tasks: TaskHandlerSpec[]; taskCapacity: number; since: number };
}

/** Another hub's subscriber, as that hub shared it. */
export interface RemoteSubscriber {
  hub: string;
  subscriberId: string;
  actions: Map<string, ActionSubscription>;
  /** Disabled on its hub: it takes no part in new steps there, nor here. */
  disabled: boolean;
  tasks: TaskHandlerSpec[];
  taskCapacity: number;
  since: number;
}

/** An answer frame from a subscriber. */
export type AnswerFrame = FrameOf<'action_done'> | FrameOf<'action_error'> | FrameOf<'action_info'> | FrameOf<'action_progress'>;

/** What the bus tells its listener. */
export interface BusListener {
  /**
   * A subscriber sent `subscribe`: `newSession` when it is the first on this connection (a first
   * subscribe, a reconnect, or any subscribe after a hub restart); `dropped` lists the actions it no
   * longer subscribes to.
   */
  subscribed(subscriber: Subscriber, newSession: boolean, dropped: string[]): void;
  /** A subscriber's connection closed. */
  disconnected(subscriber: Subscriber): void;
  answer(workerId: string, frame: AnswerFrame): void;
  resources(workerId: string, frame: FrameOf<'resources'>): void;
  flag(workerId: string, frame: FrameOf<'resources_flag'>): void;
}

/** Subscribers of one action, for a step about to start. */
export interface ActionTarget {
  workerId: string;
  subscription: ActionSubscription;
  connected: boolean;
  disconnectedAt: number | null;
}

/**
 * Subscribers on other hubs (issue 10, src/engine/cluster-bus.ts): this bus tells it about its own
 * subscribers and answers, and asks it to deliver frames to subscribers it does not hold.
 */
export interface RemoteBus {
  /** Subscribers other hubs hold, by worker id. */
  subscribers(): ReadonlyMap<string, RemoteSubscriber>;
  /** Sends a frame to a subscriber another hub holds; false when none does. */
  send(workerId: string, f: Frame): boolean;
  /** A local subscriber subscribed (again), was disabled or enabled, or its connection closed (`undefined`). */
  localChanged(workerId: string, subscriber: Subscriber | undefined): void;
  /** A local subscriber answered: the run may live on another hub. */
  answered(workerId: string, f: AnswerFrame): void;
}

export class ActionBus {
  private readonly subscribers = new Map<string, Subscriber>();
  listener: BusListener | undefined;
  /** Set when several hubs share an engine. */
  remote: RemoteBus | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    /** How long a disconnected subscriber is remembered, in ms. */
    private readonly graceMs: number,
  ) {}

  /** Another hub's subscriber subscribed (again): the same events as a local one. */
  remoteSubscribed(workerId: string, subscriberId: string, actions: Map<string, ActionSubscription>, newSession: boolean, dropped: string[]): void {
    this.listener?.subscribed({ workerId, subscriberId, actions, session: null, disconnectedAt: null }, newSession, dropped);
  }

  /** Another hub's subscriber disconnected. */
  remoteDisconnected(workerId: string, subscriberId: string, actions: Map<string, ActionSubscription>): void {
    if (this.subscribers.get(workerId)?.session) return; // it is here now
    this.listener?.disconnected({ workerId, subscriberId, actions, session: null, disconnectedAt: this.clock.now() });
  }

  /** Another hub's subscriber answered. */
  remoteAnswer(workerId: string, f: AnswerFrame): void {
    this.listener?.answer(workerId, f);
  }

  /** Hub extension hook: a frame the session did not handle (`at`: when it arrived, the same for every view of it). */
  workerFrame(session: WorkerSession, f: Frame, at = this.clock.now()): boolean {
    const workerId = session.info.workerId;
    switch (f.t) {
      case 'subscribe':
        this.onSubscribe(session, f, at);
        return false; // the task dispatcher reads the `tasks` part of the same frame
      case 'action_done':
      case 'action_error':
      case 'action_info':
      case 'action_progress':
        this.listener?.answer(workerId, f);
        this.remote?.answered(workerId, f);
        return true;
      case 'resources':
        this.listener?.resources(workerId, f);
        return true;
      case 'resources_flag':
        this.listener?.flag(workerId, f);
        return true;
      default:
        return false;
    }
  }

  /** Hub extension hook: a connection closed. */
  sessionClosed(session: WorkerSession): void {
    const subscriber = this.subscribers.get(session.info.workerId);
    if (!subscriber || subscriber.session !== session) return;
    subscriber.session = null;
    subscriber.disconnectedAt = this.clock.now();
    this.log.debug({ worker: subscriber.workerId }, 'subscriber disconnected');
    this.listener?.disconnected(subscriber);
    this.remote?.localChanged(subscriber.workerId, undefined);
  }

  private onSubscribe(session: WorkerSession, f: FrameOf<'subscribe'>, at: number): void {
    const workerId = session.info.workerId;
    const previous = this.subscribers.get(workerId);
    const actions = new Map(f.actions.map((a) => [a.action, a] as const));
    const newSession = previous === undefined || previous.session !== session;
    const dropped = previous ? [...previous.actions.keys()].filter((a) => !actions.has(a)) : [];
    const subscriber: Subscriber = {
      workerId,
      subscriberId: f.subscriberId,
      actions,
      session,
      disconnectedAt: null,
      handlers: { tasks: f.tasks, taskCapacity: f.taskCapacity, since: at },
    };
    if (actions.size === 0) this.subscribers.delete(workerId);
    else this.subscribers.set(workerId, subscriber);
    this.log.info({ worker: workerId, subscriber: f.subscriberId, actions: [...actions.keys()] }, 'actions subscribed');
    this.listener?.subscribed(subscriber, newSession, dropped);
    this.remote?.localChanged(workerId, actions.size === 0 ? undefined : subscriber);
    if (newSession && this.remote) this.shareDisabled(session);
  }

  /** The other hubs learn when this session is disabled or enabled (they count its worker out of new steps too). */
  private shareDisabled(session: WorkerSession): void {
    let disabled = session.isDisabled();
    session.onChange(() => {
      const current = this.subscribers.get(session.info.workerId);
      if (session.isDisabled() === disabled || current?.session !== session) return;
      disabled = session.isDisabled();
      this.remote?.localChanged(current.workerId, current);
    });
  }

  /**
   * Subscribers of `action`: connected ones and those disconnected less than `graceMs` ago. A disabled
   * worker takes no part in new steps, as it takes no new jobs or tasks.
   */
  subscribersOf(action: string): ActionTarget[] {
    this.prune();
    const out: ActionTarget[] = [];
    for (const s of this.subscribers.values()) {
      if (s.session?.isDisabled()) continue;
      const subscription = s.actions.get(action);
      if (subscription) out.push({ workerId: s.workerId, subscription, connected: s.session !== null, disconnectedAt: s.disconnectedAt });
    }
    // Subscribers on other hubs (issue 10).
    for (const [workerId, s] of this.remote?.subscribers() ?? []) {
      const subscription = s.actions.get(action);
      if (!subscription || this.subscribers.get(workerId)?.session) continue;
      const index = out.findIndex((t) => t.workerId === workerId);
      if (index >= 0) out.splice(index, 1); // it moved: connected there, not in its grace period here
      if (!s.disabled) out.push({ workerId, subscription, connected: true, disconnectedAt: null });
    }
    return out.sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0));
  }

  /** Every known subscriber. */
  all(): Subscriber[] {
    this.prune();
    return [...this.subscribers.values()];
  }

  isConnected(workerId: string): boolean {
    return (this.subscribers.get(workerId)?.session ?? null) !== null || (this.remote?.subscribers().has(workerId) ?? false);
  }

  /** Sends a frame to a connected subscriber; false when it is not connected (or the send failed at once). */
  send(workerId: string, f: Frame): boolean {
    const session = this.subscribers.get(workerId)?.session;
    if (!session) return this.remote?.send(workerId, f) ?? false;
    session.send(f).catch((error: unknown) => this.log.debug({ worker: workerId, err: error }, 'could not send to a subscriber'));
    return true;
  }

  /** {@link send} of a frame encoded once for every subscriber of a broadcast (another hub's get the frame). */
  sendEncoded(workerId: string, encoded: EncodedFrame): boolean {
    const session = this.subscribers.get(workerId)?.session;
    if (!session) return this.remote?.send(workerId, encoded.frame) ?? false;
    session.sendEncodedQuietly(encoded);
    return true;
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [id, s] of this.subscribers) {
      if (s.session === null && s.disconnectedAt !== null && now - s.disconnectedAt >= this.graceMs) this.subscribers.delete(id);
    }
  }
}
