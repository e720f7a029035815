/**
 * A hub's membership in a cluster of hubs sharing one NATS engine (issue 10): presence (presence.ts) and
 * routing (routing.ts) behind the hub's one seam, {@link HubCluster}. `createHub` builds it when the hub
 * is started with `--engine`; tests build it around a `new Hub(...)`.
 *
 * A session established here is written to presence and its subjects are served; a newer session of the
 * same worker on another hub closes this one (4006); a run for a worker held elsewhere goes there; a hub
 * that stops or dies loses its entries, and runs through it fail with WORKER_LOST.
 */
import type { Observable } from 'rxjs';
import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { silentLogger } from '../logger.ts';
import { headers, type Subscription } from '@nats-io/transport-node';
import type { HubChange } from '../hub/hub-change.ts';
import type { ClusterPort, HubCluster, LiveWorker, ManageOrder, RemoteHolder } from '../hub/hub-cluster.ts';
import type { JobEvent, RunRequest } from '../hub/job-events.ts';
import type { RunOptions } from '../hub/job-runner.ts';
import type { WorkerSession } from '../hub/worker-session.ts';
import type { NatsEngine } from './nats-connect.ts';
import { idToken, Presence, type PresenceOptions } from './presence.ts';
import { Router } from './routing.ts';
import { ClusterBus } from './cluster-bus.ts';
import type { ActionBus } from '../hub/actions/action-bus.ts';
import type { WorkflowEngine } from '../hub/actions/workflow-engine.ts';
import { ClusterWorkflows } from './cluster-workflows.ts';

/** Options of {@link NatsCluster}. */
export interface NatsClusterOptions {
  clock?: Clock;
  log?: Logger;
  /** Presence heartbeat interval, in ms. @default 2000 */
  heartbeatMs?: number;
  /** A hub silent this long is dead, in ms. @default 3 × heartbeatMs */
  staleMs?: number;
  /** Bucket names (tests). */
  buckets?: PresenceOptions['buckets'] & { subscribers?: string };
  /** The hub's action bus, to share its subscribers with the other hubs (cluster-bus.ts). @default not shared */
  bus?: ActionBus;
  /** The hub's workflow engine, so that `workflow abort` and `on_conflict` see every hub's runs (cluster-workflows.ts). @default not shared */
  workflows?: WorkflowEngine;
  /**
   * Told when another hub stopped (`dead` false) or died (its heartbeat went stale; `dead` true), e.g. to
   * adopt its workflow runs and close the jobs it left open. @default nothing
   */
  onHubGone?: (hubId: string, dead: boolean) => void;
}

/** Where every hub tells the others of its workers' changes (connected, state, jobs), for their views. */
const CHANGES = 'cla.hub.changes';
const HUB = 'Cla-Hub';
/** How long a hub waits for another's live worker states (a view falls back to "connected to hub X"), in ms. */
export const LIVE_TIMEOUT_MS = 2000;
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const decode = <T>(data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as T;

/** Presence and routing for one hub. */
export class NatsCluster implements HubCluster {
  private port!: ClusterPort;
  private presence!: Presence;
  private router!: Router;
  private clusterBus: ClusterBus | undefined;
  private clusterWorkflows: ClusterWorkflows | undefined;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** Claims in flight, so that a release waits for the claim it undoes. */
  private readonly claims = new Map<string, Promise<unknown>>();
  private readonly changeListeners = new Set<() => void>();
  private readonly subs: Subscription[] = [];
  /** Other hubs' workers' live states as their change notices carried them (a hint: checked against presence). */
  private readonly liveSeen = new Map<string, { hub: string; live: LiveWorker }>();

  constructor(
    private readonly engine: NatsEngine,
    private readonly options: NatsClusterOptions = {},
  ) {
    this.log = options.log ?? silentLogger();
    this.clock = options.clock ?? systemClock;
  }

  attach(port: ClusterPort): void {
    this.port = port;
    this.router = new Router(
      this.engine.nc,
      port.id,
      { holds: (id) => this.holds(id), runLocal: (r, o) => port.runLocal(r, o), manageLocal: (id, order) => port.manageLocal(id, order) },
      this.log,
    );
    this.presence = new Presence(this.engine, {
      hubId: port.id,
      clock: this.clock,
      log: this.log,
      heartbeatMs: this.options.heartbeatMs,
      staleMs: this.options.staleMs,
      buckets: this.options.buckets,
      onReplaced: (workerId, byHub) => {
        this.router.unserve(workerId);
        port.replaced(workerId, `replaced by a new connection on hub ${byHub}`);
      },
      onHubGone: (hubId, dead) => {
        for (const [workerId, seen] of this.liveSeen) if (seen.hub === hubId) this.liveSeen.delete(workerId);
        this.router.hubGone(hubId);
        void this.clusterBus?.hubGone(hubId);
        this.options.onHubGone?.(hubId, dead);
      },
    });
  }

  async start(): Promise<void> {
    this.presence.onChange((workerId, entry) => {
      this.changeListeners.forEach((listener) => listener());
      // A worker connecting to or leaving another hub changes this hub's views too.
      if (entry?.hub !== this.port.id) this.port.remoteChange({ type: entry ? 'connected' : 'disconnected', worker: workerId });
    });
    const nc = this.engine.nc;
    this.subs.push(
      nc.subscribe(`cla.hub.${idToken(this.port.id)}.live`, {
        callback: (error, msg) => {
          if (error) return;
          try {
            const ids = decode<string[]>(msg.data);
            const live: Record<string, LiveWorker> = {};
            for (const id of Array.isArray(ids) ? ids : []) {
              const view = typeof id === 'string' ? this.port.live(id) : undefined;
              if (view) live[id] = view;
            }
            msg.respond(encode(live));
          } catch (cause) {
            this.log.warn({ err: cause }, 'bad live-state request from another hub');
            msg.respond(encode({}));
          }
        },
      }),
      nc.subscribe(CHANGES, {
        callback: (error, msg) => {
          const from = msg.headers?.get(HUB);
          if (error || !from || from === this.port.id) return;
          try {
            const { live, ...change } = decode<HubChange & { live?: LiveWorker }>(msg.data);
            if (live) this.liveSeen.set(change.worker, { hub: from, live });
            else if (change.type === 'disconnected') this.liveSeen.delete(change.worker);
            this.port.remoteChange(change);
          } catch (cause) {
            this.log.warn({ err: cause }, 'bad change notice from another hub');
          }
        },
      }),
    );
    await this.presence.start();
    if (this.options.bus) {
      this.clusterBus = new ClusterBus(this.engine, this.port.id, this.log, this.options.buckets?.subscribers);
      this.clusterBus.onChange = () => this.changeListeners.forEach((listener) => listener());
      await this.clusterBus.start(this.options.bus);
    }
    if (this.options.workflows) {
      this.clusterWorkflows = new ClusterWorkflows(this.engine.nc, this.port.id, this.log);
      this.clusterWorkflows.start(this.options.workflows);
    }
  }

  async stop(): Promise<void> {
    for (const sub of this.subs.splice(0)) sub.unsubscribe();
    this.clusterWorkflows?.stop();
    this.router.stop();
    await this.clusterBus?.stop();
    await Promise.allSettled(this.claims.values());
    await this.presence.stop();
  }

  sessionAdded(session: WorkerSession): void {
    const workerId = session.info.workerId;
    this.router.serve(workerId);
    const { tags, envs, projects, caps } = session.info;
    const claim = this.presence.claim(workerId, session.info.connectedAt, { tags, envs, projects, caps }).catch((error: unknown) => this.log.error({ err: error, worker: workerId }, 'could not record the worker in presence'));
    this.claims.set(workerId, claim);
    void claim.finally(() => {
      if (this.claims.get(workerId) === claim) this.claims.delete(workerId);
    });
  }

  sessionClosed(session: WorkerSession): void {
    const workerId = session.info.workerId;
    // A replacement on this hub already serves the worker again: nothing to undo.
    if (this.holds(workerId)) return;
    this.router.unserve(workerId);
    const claim = this.claims.get(workerId) ?? Promise.resolve();
    void claim.then(() => (this.holds(workerId) ? undefined : this.presence.release(workerId)));
  }

  route(request: RunRequest, options: RunOptions): Observable<JobEvent> | undefined {
    const workerId = request.target.worker ?? this.pickRemote(request);
    if (workerId === undefined) return undefined;
    const holder = this.presence.holder(workerId);
    if (holder?.hub === this.port.id) return undefined;
    // Not known anywhere: still asked over NATS, whose "no responders" is the authoritative NO_WORKER.
    return this.router.runRemote({ ...request, target: { ...request.target, worker: workerId } }, options, () => this.presence.holder(workerId)?.hub);
  }

  manage(workerId: string, order: ManageOrder): boolean {
    const holder = this.presence.holder(workerId);
    if (holder === undefined || holder.hub === this.port.id) return false;
    this.router.manage(workerId, order);
    return true;
  }

  holderOf(workerId: string): RemoteHolder | undefined {
    const entry = this.presence.holder(workerId);
    if (entry === undefined || entry.hub === this.port.id) return undefined;
    return { hub: entry.hub, since: entry.since, tags: entry.worker?.tags ?? [], envs: entry.worker?.envs ?? [] };
  }

  async liveElsewhere(workerIds: readonly string[]): Promise<Map<string, LiveWorker>> {
    const byHub = new Map<string, string[]>();
    const out = new Map<string, LiveWorker>();
    for (const id of workerIds) {
      const hub = this.presence.holder(id)?.hub;
      if (hub === undefined || hub === this.port.id) continue;
      // The holder's last notice about it, unless it moved since: no round trip.
      const seen = this.liveSeen.get(id);
      if (seen?.hub === hub) out.set(id, seen.live);
      else byHub.set(hub, [...(byHub.get(hub) ?? []), id]);
    }
    await Promise.all(
      [...byHub].map(async ([hub, ids]) => {
        try {
          const reply = await this.engine.nc.request(`cla.hub.${idToken(hub)}.live`, encode(ids), { timeout: LIVE_TIMEOUT_MS });
          for (const [id, live] of Object.entries(decode<Record<string, LiveWorker>>(reply.data))) out.set(id, live);
        } catch (error) {
          this.log.debug({ err: error, hub }, 'no live worker states from another hub');
        }
      }),
    );
    return out;
  }

  changed(change: HubChange): void {
    const h = headers();
    h.set(HUB, this.port.id);
    // The worker's live state goes along, so the other hubs' views follow it without asking.
    const live = change.worker === '' ? undefined : this.port.live(change.worker);
    try {
      this.engine.nc.publish(CHANGES, encode(live ? { ...change, live } : change), { headers: h });
    } catch (error) {
      // The engine connection is closing (the hub stops): the other hubs learn it from presence.
      this.log.debug({ err: error }, 'could not tell the other hubs of a change');
    }
  }

  /** Calls `listener` after every change of presence or of another hub's subscribers; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Where each worker is connected, across every hub. */
  where(): Map<string, string> {
    return new Map([...this.presence.all()].map(([id, entry]) => [id, entry.hub]));
  }

  /**
   * A worker on another hub matching a target without a worker id (tags, env, project), chosen at random
   * among those that match, or `undefined` when none does. Its hub's dispatcher checks the target again
   * (and knows whether it is disabled or busy).
   */
  private pickRemote(request: RunRequest): string | undefined {
    const { tags, env, project } = request.target;
    const kind = request.job.kind;
    const matching = [...this.presence.all()].filter(([, entry]) => {
      const w = entry.worker;
      if (entry.hub === this.port.id || w === undefined) return false;
      if (tags && !tags.every((tag) => w.tags.includes(tag))) return false;
      if (env !== undefined && w.envs.length > 0 && !w.envs.includes(env)) return false;
      if (project !== undefined && !w.projects.includes(project)) return false;
      return w.caps.includes(kind);
    });
    return matching[Math.floor(Math.random() * matching.length)]?.[0];
  }

  private holds(workerId: string): boolean {
    const session = this.port.session(workerId);
    return session !== undefined && !session.isClosed();
  }
}
