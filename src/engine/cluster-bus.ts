/**
 * The action bus across hubs (issue 10): a workflow step on any hub broadcasts to the subscribers of
 * every hub and waits for all of them.
 *
 * - `cla_subs` KV bucket: worker id -> `{ hub, subscriberId, actions }`, written by the hub holding the
 *   subscriber when it subscribes, deleted (compare-and-set on its revision) when its connection closes.
 *   Every hub watches it: the other hubs' subscribers join `subscribersOf`, and their arrival and leaving
 *   reach the workflow engine as for local ones.
 * - `cla.bus.<hub>`: frames (`action`, `abort`) for the subscribers that hub holds.
 * - `cla.bus.answers`: every subscriber's answers, for the hub whose run waits for them (the others find
 *   no step waiting and ignore them).
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { BucketWatch, openRetryingKv } from './jetstream-buckets.ts';
import { headers, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../logger.ts';
import { decodeFrame, encodeFrame } from '../protocol/codec.ts';
import type { ActionSubscription, TaskHandlerSpec } from '../protocol/frames-bus.ts';
import type { Frame } from '../protocol/frames.ts';
import type { ActionBus, AnswerFrame, RemoteBus, RemoteSubscriber, Subscriber } from '../hub/actions/action-bus.ts';
import type { NatsEngine } from './nats-connect.ts';
import { idToken, isWrongLastSequence, tokenId } from './presence.ts';

interface Entry {
  hub: string;
  subscriberId: string;
  actions: ActionSubscription[];
  disabled?: boolean;
  tasks?: TaskHandlerSpec[];
  taskCapacity?: number;
  since?: number;
}

const WORKER = 'Cla-Worker';
const HUB = 'Cla-Hub';
const ANSWERS = 'cla.bus.answers';
const encoder = new TextEncoder();

/** One hub's share of the cluster-wide action bus. */
export class ClusterBus implements RemoteBus {
  private kv!: KV;
  private bus: ActionBus | undefined;
  private readonly remote = new Map<string, RemoteSubscriber & { revision: number }>();
  /** Revisions of the entries this hub wrote, for the compare-and-set delete. */
  private readonly own = new Map<string, Promise<number | undefined>>();
  /** What this hub last wrote for each subscriber it holds, to write it again if another hub deletes it. */
  private readonly ownEntries = new Map<string, Entry>();
  private readonly subs: Subscription[] = [];
  private watch: BucketWatch | undefined;
  /** Told after every change of another hub's subscriber. */
  onChange: (() => void) | undefined;

  constructor(
    private readonly engine: NatsEngine,
    private readonly hubId: string,
    private readonly log: Logger,
    private readonly bucket = 'cla_subs',
  ) {}

  /** Opens the bucket and the subjects, and joins `bus`. */
  async start(bus: ActionBus): Promise<void> {
    this.bus = bus;
    const nc = this.engine.nc;
    this.kv = await openRetryingKv(nc, this.bucket, { history: 1, replicas: this.engine.replicas });
    // Watched anew after each leader election of the bucket's stream.
    this.watch = new BucketWatch((entry) => {
      try {
        this.onEntry(entry);
        this.onChange?.();
      } catch (error) {
        this.log.error({ err: error, key: entry.key }, 'could not handle a subscriber change');
      }
    });
    await this.watch.start(this.kv, { nc, bucket: this.bucket });
    this.subs.push(
      nc.subscribe(`cla.bus.${idToken(this.hubId)}`, {
        callback: (error, msg) => {
          const workerId = msg.headers?.get(WORKER);
          if (error || !workerId) return;
          // Delivered as the local bus would: to the subscriber's live connection here, if it still has one.
          if (this.bus?.isConnected(workerId) && !this.remote.has(workerId)) this.bus.send(workerId, decodeFrame(msg.data));
        },
      }),
      nc.subscribe(ANSWERS, {
        callback: (error, msg) => {
          const workerId = msg.headers?.get(WORKER);
          if (error || !workerId || msg.headers?.get(HUB) === this.hubId) return;
          const f = decodeFrame(msg.data);
          if (f.t === 'action_done' || f.t === 'action_error' || f.t === 'action_info' || f.t === 'action_progress') this.bus?.remoteAnswer(workerId, f);
        },
      }),
    );
    bus.remote = this;
  }

  /** Withdraws this hub's subscribers and leaves the bus. */
  async stop(): Promise<void> {
    if (this.bus) this.bus.remote = undefined;
    for (const sub of this.subs) sub.unsubscribe();
    await this.watch?.stop();
    await Promise.all([...this.own.keys()].map((workerId) => this.withdraw(workerId)));
  }

  /** A hub stopped or died: its subscribers' entries go (compare-and-set, a moved subscriber keeps its new one). */
  async hubGone(hubId: string): Promise<void> {
    const orphans = [...this.remote].filter(([, s]) => s.hub === hubId);
    await Promise.all(
      orphans.map(([workerId, s]) =>
        this.kv.delete(idToken(workerId), { previousSeq: s.revision }).catch((error: unknown) => {
          if (!isWrongLastSequence(error)) this.log.warn({ err: error, worker: workerId }, 'could not remove a gone hub\'s subscriber');
        }),
      ),
    );
  }

  subscribers(): ReadonlyMap<string, RemoteSubscriber> {
    return this.remote;
  }

  send(workerId: string, f: Frame): boolean {
    const holder = this.remote.get(workerId);
    if (!holder || !this.open()) return false;
    const h = headers();
    h.set(WORKER, workerId);
    this.engine.nc.publish(`cla.bus.${idToken(holder.hub)}`, encodeFrame(f), { headers: h });
    return true;
  }

  localChanged(workerId: string, subscriber: Subscriber | undefined): void {
    if (!subscriber) {
      void this.withdraw(workerId);
      return;
    }
    this.write(workerId, {
      hub: this.hubId,
      subscriberId: subscriber.subscriberId,
      actions: [...subscriber.actions.values()],
      disabled: subscriber.session?.isDisabled() ?? false,
      ...subscriber.handlers,
    });
  }

  private write(workerId: string, entry: Entry): void {
    this.ownEntries.set(workerId, entry);
    const previous = this.own.get(workerId) ?? Promise.resolve(undefined);
    // Writes of one worker in order, so that the revision kept is the last one.
    const next = previous.then(() =>
      this.kv.put(idToken(workerId), encoder.encode(JSON.stringify(entry))).catch((error: unknown) => {
        this.log.error({ err: error, worker: workerId }, 'could not share the subscriber with the other hubs');
        return undefined;
      }),
    );
    this.own.set(workerId, next);
  }

  answered(workerId: string, f: AnswerFrame): void {
    if (!this.open()) return;
    const h = headers();
    h.set(WORKER, workerId);
    h.set(HUB, this.hubId);
    this.engine.nc.publish(ANSWERS, encodeFrame(f), { headers: h });
  }

  /** Whether the engine connection takes publishes (the client throws once it is closed or draining). */
  private open(): boolean {
    return !this.engine.nc.isClosed() && !this.engine.nc.isDraining();
  }

  private async withdraw(workerId: string): Promise<void> {
    const written = this.own.get(workerId);
    this.ownEntries.delete(workerId);
    if (!written) return;
    this.own.delete(workerId);
    const revision = await written;
    if (revision === undefined) return;
    try {
      await this.kv.delete(idToken(workerId), { previousSeq: revision });
    } catch (error) {
      if (!isWrongLastSequence(error)) this.log.warn({ err: error, worker: workerId }, 'could not withdraw the subscriber');
    }
  }

  private onEntry(entry: KvWatchEntry): void {
    const workerId = tokenId(entry.key);
    const before = this.remote.get(workerId);
    if (entry.operation !== 'PUT') {
      // Another hub took this one for dead (a stalled event loop) and removed a subscriber still connected
      // here: without its entry the other hubs' steps would leave it out for good. Write it again.
      const mine = this.ownEntries.get(workerId);
      if (mine && this.open()) {
        this.log.warn({ worker: workerId }, 'subscriber entry removed by another hub while the worker is connected here: writing it again');
        this.write(workerId, mine);
        return;
      }
      if (!before || before.revision > entry.revision) return;
      this.remote.delete(workerId);
      this.bus?.remoteDisconnected(workerId, before.subscriberId, before.actions);
      return;
    }
    const value = entry.json<Entry>();
    if (value.hub === this.hubId) {
      // It is (back) on this hub: the local bus knows it.
      this.remote.delete(workerId);
      return;
    }
    const actions = new Map(value.actions.map((a) => [a.action, a] as const));
    this.remote.set(workerId, {
      hub: value.hub,
      subscriberId: value.subscriberId,
      actions,
      disabled: value.disabled ?? false,
      tasks: value.tasks ?? [],
      taskCapacity: value.taskCapacity ?? 0,
      since: value.since ?? 0,
      revision: entry.revision,
    });
    const dropped = before ? [...before.actions.keys()].filter((a) => !actions.has(a)) : [];
    this.bus?.remoteSubscribed(workerId, value.subscriberId, actions, before === undefined || before.hub !== value.hub, dropped);
  }
}
