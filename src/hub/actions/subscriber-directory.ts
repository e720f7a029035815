/**
 * What each connected worker subscribed to, as its last `subscribe` frame said: its subscriber id, the
 * actions (with `waitForCompletion` and `timeoutMs`) and the task handlers (name and filter). The hub's
 * answer to "what is this worker waiting for?" (Resoto Core's `/subscribers`): `cla-hub subscribers`.
 *
 * It keeps the live connection's view only: a worker is dropped when its connection closes, so the
 * list cannot drift from who is connected. (The action bus keeps disconnected subscribers for their
 * grace period; workflow steps read that, this is for people.)
 */
import type { ActionSubscription, TaskHandlerSpec } from '../../protocol/frames-bus.ts';
import type { FrameOf } from '../../protocol/frames.ts';
import type { WorkerSession } from '../worker-session.ts';

/** One connected subscriber. */
export interface SubscriberView {
  workerId: string;
  subscriberId: string;
  actions: ActionSubscription[];
  tasks: TaskHandlerSpec[];
  taskCapacity: number;
  /** When its last `subscribe` arrived (ms since the epoch). */
  since: number;
  /** Disabled: it takes no part in new workflow steps (nor jobs or tasks). */
  disabled: boolean;
  /** The hub holding it, when several hubs share an engine (issue 10). */
  hub?: string;
}

/** Another hub's subscriber as that hub shared it (src/hub/actions/action-bus.ts `RemoteSubscriber`). */
export interface RemoteSubscriberView {
  hub: string;
  subscriberId: string;
  actions: ReadonlyMap<string, ActionSubscription>;
  disabled: boolean;
  tasks: TaskHandlerSpec[];
  taskCapacity: number;
  since: number;
}

export class SubscriberDirectory {
  private readonly byWorker = new Map<string, { session: WorkerSession; view: SubscriberView }>();

  /** Records a `subscribe` frame (it replaces the worker's previous one). */
  subscribed(session: WorkerSession, f: FrameOf<'subscribe'>, at: number): void {
    const workerId = session.info.workerId;
    this.byWorker.set(workerId, {
      session,
      view: { workerId, subscriberId: f.subscriberId, actions: f.actions.map((a) => ({ ...a })), tasks: structuredClone(f.tasks), taskCapacity: f.taskCapacity, since: at, disabled: false },
    });
  }

  /** Forgets the worker if this was its connection. */
  sessionClosed(session: WorkerSession): void {
    const entry = this.byWorker.get(session.info.workerId);
    if (entry?.session === session) this.byWorker.delete(session.info.workerId);
  }

  /**
   * Every connected subscriber, by worker id; `action` keeps those subscribed to it. With several hubs,
   * `fleet` gives this hub's id and the subscribers the other hubs hold, so every hub lists the same.
   */
  list(action?: string, fleet?: { hub: string; remote: ReadonlyMap<string, RemoteSubscriberView> }): SubscriberView[] {
    const views = [...this.byWorker.values()].map((e): SubscriberView => ({ ...e.view, disabled: e.session.isDisabled(), ...(fleet ? { hub: fleet.hub } : {}) }));
    for (const [workerId, s] of fleet?.remote ?? []) {
      if (this.byWorker.has(workerId)) continue;
      const { hub, subscriberId, disabled, tasks, taskCapacity, since } = s;
      views.push({ workerId, subscriberId, actions: [...s.actions.values()].map((a) => ({ ...a })), tasks, taskCapacity, since, disabled, hub });
    }
    return views
      .filter((v) => action === undefined || v.actions.some((a) => a.action === action))
      .sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0));
  }
}
