/**
 * The hub: listens for workers and admin clients, keeps the registry in the store, and runs commands on
 * workers through the dispatcher. `run()` is the library call behind `cla-hub exec`.
 */
import { randomUUID } from 'node:crypto';
import { Subject, type Observable } from 'rxjs';
import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { CloseCode } from '../protocol/version.ts';
import type { FrameTap, Transport } from '../transport/transport.ts';
import { startWsServer, type ServerTlsOptions, type WsServer } from '../transport/ws-server.ts';
import { startAdminHttp, type AdminHttpOptions, type AdminHttpServer } from './admin-http.ts';
import { AdminSession } from './admin-session.ts';
import type { HubChange } from './hub-change.ts';
import { WorkerFrameRouter, type HubExtension } from './hub-extension.ts';
import type { HubCluster, ManageOrder } from './hub-cluster.ts';
import { adminMethods } from './methods/admin-methods.ts';
import { MethodTable } from './methods/method-table.ts';
import { routeConnection } from './connection-router.ts';
import { Dispatcher, matchSession, unknownEnvError } from './dispatcher.ts';
import type { JobEvent, RunRequest } from './job-events.ts';
import { runJob, type RunOptions } from './job-runner.ts';
import { stateName, WorkerManagement } from './management.ts';
import { HubMetrics } from './metrics.ts';
import type { Registry } from './registry.ts';
import { parseHubOptions, type HubOptions, type ParsedHubOptions } from './hub-options.ts';
import { WorkerSession, type SessionInfo, type SessionOwner } from './worker-session.ts';
import { LegacyPubsub } from './legacy/legacy-pubsub.ts';

export type { HubOptions };

/** What the hub needs from outside. */
export interface HubDeps {
  registry: Registry;
  clock?: Clock;
  log?: Logger;
  tap?: FrameTap;
  /** Features plugged into the hub (action bus, tasks, ...). */
  extensions?: HubExtension[];
  /** Job id generator (replays inject a deterministic one). @default randomUUID */
  /** The nonce of each new connection's `challenge` (tests and replays pass a deterministic one). @default random */
  newNonce?: () => string;
  newId?: () => string;
  /** Prometheus metrics. @default a new {@link HubMetrics} with process metrics */
  metrics?: HubMetrics;
  /** The other hubs sharing an engine (issue 10, src/engine/cluster.ts). @default none: one hub */
  cluster?: HubCluster;
}

export type { HubChange } from './hub-change.ts';

export { HUB_ID_SETTING } from './registry.ts';

/** A running hub. */
export class Hub {
  readonly registry: Registry;
  readonly clock: Clock;
  readonly log: Logger;
  private readonly sessions = new Map<string, WorkerSession>();
  private readonly dispatcher: Dispatcher;
  private readonly newId: () => string;
  private server: WsServer | undefined;
  private admin: AdminHttpServer | undefined;
  private legacy: LegacyPubsub | undefined;
  private readonly changes = new Subject<HubChange>();
  /** Emits when a worker connects, disconnects, changes state, starts or ends a job, or is managed. */
  readonly changes$: Observable<HubChange> = this.changes.asObservable();
  readonly metrics: HubMetrics;
  /** Worker management: list, disable/enable, shutdown, unregister, passkeys (CLI and admin API). */
  readonly management: WorkerManagement;
  /** Every admin operation, served over the admin websocket (`call`/`watch`) and the admin HTTP API. */
  readonly methods = new MethodTable();
  private hubId: string | undefined;
  private readonly frameRouter: WorkerFrameRouter;
  /** The extensions, the cluster last (it sees a session once the others have). */
  private readonly extensions: HubExtension[];

  private readonly options: ParsedHubOptions;

  /** @throws InvalidArgumentError when an option has the wrong type or range (see {@link parseHubOptions}) */
  constructor(
    options: HubOptions,
    private readonly deps: HubDeps,
  ) {
    this.options = parseHubOptions(options);
    this.registry = deps.registry;
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log ?? silentLogger();
    this.newId = deps.newId ?? randomUUID;
    this.dispatcher = new Dispatcher(() => this.sessions.values(), this.clock);
    this.metrics = deps.metrics ?? new HubMetrics();
    this.metrics.bind({ connectedWorkers: () => this.sessions.size, queueDepth: () => this.dispatcher.depth() });
    this.management = new WorkerManagement({
      registry: this.registry,
      log: this.log,
      session: (id) => this.sessions.get(id),
      remote: deps.cluster ? (id, order) => deps.cluster!.manage(id, order) : undefined,
      elsewhere: deps.cluster ? (id) => deps.cluster!.holderOf(id) : undefined,
      liveElsewhere: deps.cluster ? (ids) => deps.cluster!.liveElsewhere(ids) : undefined,
      hubId: () => this.hubId,
      connectedWorkerIds: () => [...this.sessions.keys()],
      notifyChange: (change) => this.notifyChange(change),
      onUnregistered: (id, remaining) => this.onUnregistered(id, remaining),
    });
    this.hubId = this.options.hubId;
    const extensions = [...(deps.extensions ?? []), ...(deps.cluster ? [deps.cluster] : [])];
    this.extensions = extensions;
    if (deps.cluster) {
      // The cluster needs the id now; createHub always gives one with an engine.
      if (this.hubId === undefined) throw new InvalidArgumentError('Expected `hubId` with a cluster: hubs sharing an engine are told apart by id', { data: { option: 'hubId' } });
      deps.cluster.attach({
        id: this.hubId,
        runLocal: (request, options) => this.runLocal(request, options),
        session: (id) => this.sessions.get(id),
        manageLocal: (id, order) => this.manageLocal(id, order),
        replaced: (id, reason) => this.replaceSession(id, reason),
        live: (id) => {
          const session = this.sessions.get(id);
          if (!session || session.isClosed()) return undefined;
          return { state: session.info.workerState ?? 'connected', session: stateName(session.state()), runningJobs: session.runningJobs() };
        },
        // Straight to the views here: not told to the cluster again.
        remoteChange: (change) => this.changes.next(change),
      });
    }
    this.frameRouter = new WorkerFrameRouter(extensions);
    this.methods.add(
      ...adminMethods({
        registry: this.registry,
        management: this.management,
        changes$: this.changes$,
        info: () => ({ hubId: this.id, url: this.server?.url ?? null, adminUrl: this.admin?.url ?? null }),
      }),
    );
    for (const extension of extensions) this.methods.add(...(extension.methods?.() ?? []));
  }

  /** Starts listening; resolves with the websocket URL. */
  async start(): Promise<string> {
    this.hubId = await this.registry.hubId(this.options.hubId);
    for (const extension of this.extensions) await extension.start?.(this);
    const legacyOptions = this.options.legacyPubsub;
    if (legacyOptions) {
      const port = { registry: this.registry, clock: this.clock, log: this.log, tap: this.deps.tap, accept: (t: Transport) => this.accept(t), onUnregistered: (id: string, remaining: string[]) => this.onUnregistered(id, remaining) };
      this.legacy = new LegacyPubsub(port, legacyOptions === true ? {} : legacyOptions);
      await this.legacy.start();
    }
    const legacy = this.legacy;
    this.server = await startWsServer({
      onRequest: legacy ? (req, res) => legacy.handle(req, res) : undefined,
      // A legacy fetch pushes a whole file in one request: no 5-minute cap on receiving it.
      ...(legacy ? { requestTimeoutMs: 0 } : {}),
      host: this.options.host,
      port: this.options.port,
      heartbeatMs: this.options.heartbeatMs,
      tls: this.options.tls,
      tap: this.deps.tap,
      headersTimeoutMs: this.options.headersTimeoutMs,
      maxConnectionsPerAddress: this.options.maxConnectionsPerAddress,
      maxPendingPerAddress: this.options.maxPendingPerAddress,
      maxQueuedBytes: this.options.maxQueuedBytes,
      sendStallMs: this.options.sendStallMs,
      maxTotalQueuedBytes: this.options.maxTotalQueuedBytes,
      hubId: this.id,
      onConnection: (transport) => this.accept(transport),
    });
    return this.server.url;
  }

  /**
   * This hub's id (see {@link HubOptions.hubId}): the option, or the one kept in the store, read by
   * `start()`. @throws ClaError `INTERNAL` before `start()` when no `hubId` option was given
   */
  get id(): string {
    if (this.hubId === undefined) throw new ClaError(ErrorCode.Internal, 'The hub id is known once the hub is started');
    return this.hubId;
  }

  /** The listening URL. */
  url(): string {
    if (!this.server) throw new ClaError(ErrorCode.Internal, 'The hub is not started');
    return this.server.url;
  }

  /**
   * Starts the admin HTTP listener (JSON API, events, /metrics, dashboard), separate from the worker
   * websocket; resolves with its URL.
   */
  async startAdmin(options: AdminHttpOptions = {}): Promise<string> {
    if (this.admin) throw new ClaError(ErrorCode.Internal, 'The admin listener is already started');
    this.admin = await startAdminHttp(options, {
      registry: this.registry,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      methods: this.methods,
      changes$: this.changes$,
      listWorkers: (project) => this.management.listWorkers(project),
      hubId: this.id,
    });
    return this.admin.url;
  }

  /** The admin listener's URL, if started. */
  adminUrl(): string | undefined {
    return this.admin?.url;
  }

  /** Tells `changes$` subscribers about a change made outside the hub's own flow (management). */
  notifyChange(change: HubChange): void {
    this.changes.next(change);
    this.deps.cluster?.changed(change);
  }

  /** Run requests waiting for a free worker. */
  queueDepth(): number {
    return this.dispatcher.depth();
  }

  /** Closes every connection and the listeners. */
  async stop(): Promise<void> {
    await this.admin?.close();
    this.admin = undefined;
    await this.legacy?.close();
    await this.server?.close(CloseCode.GoingAway, 'hub stopping');
    for (const extension of this.extensions) await extension.stop?.();
  }

  /** Handles a new transport (a websocket, or one end of a memory pair in tests). */
  accept(transport: Transport): void {
    routeConnection(transport, {
      registry: this.registry,
      clock: this.clock,
      log: this.log,
      helloTimeoutMs: this.options.helloTimeoutMs,
      heartbeatMs: this.options.heartbeatMs,
      psk: this.options.psk,
      nonce: this.deps.newNonce,
      onWorker: (info, admitted) => this.addSession(admitted, info),
      onAdmin: (admitted) => new AdminSession(admitted, { run: (request, options) => this.run(request, options), methods: this.methods, log: this.log, clock: this.clock }),
      onUnregistered: (id, remaining) => this.onUnregistered(id, remaining),
    });
  }

  /** Connected worker sessions, oldest first. */
  connectedWorkers(): WorkerSession[] {
    return [...this.sessions.values()];
  }

  /** Finds the connected session of a worker. */
  session(workerId: string): WorkerSession | undefined {
    return this.sessions.get(workerId);
  }

  /**
   * Runs a job on a worker chosen by the request's target (see {@link runJob}). Subscribing starts it;
   * unsubscribing before it ends cancels it on the worker; so does `signal`, but then the job's last
   * output and its end still arrive. Errors are {@link ClaError}s (NO_WORKER, WORKER_LOST, CANCELLED, ...).
   */
  run(request: RunRequest, options: RunOptions = {}): Observable<JobEvent> {
    // A worker held by another hub, or a target no worker here matches: another hub runs the job (issue 10).
    const elsewhere =
      request.target.worker !== undefined
        ? !this.sessions.has(request.target.worker)
        : this.deps.cluster !== undefined && ![...this.sessions.values()].some((s) => matchSession(s, request.target, request.job.kind) !== 'no');
    if (elsewhere) {
      const routed = this.deps.cluster?.route(request, options);
      if (routed) return routed;
    }
    return this.runLocal(request, options);
  }

  /** {@link run} on this hub's own sessions only (the cluster serves other hubs' requests with it). */
  private runLocal(request: RunRequest, options: RunOptions = {}): Observable<JobEvent> {
    return runJob(
      {
        dispatcher: this.dispatcher,
        clock: this.clock,
        log: this.log,
        newId: this.newId,
        defaultWaitMs: this.options.waitMs,
        storedOutputBytes: this.options.storedOutputBytes,
        recordStart: (job) => {
          const recorded = this.registry.recordJobStart(job);
          this.notifyChange({ type: 'job-started', worker: job.workerId });
          return recorded;
        },
        recordEnd: (jobId, end) => this.recordEnd(jobId, end),
        observer: this.metrics,
        checkTarget: (target) => (target.env === undefined ? undefined : unknownEnvError(target, (names) => this.registry.missingEnvs(names), () => this.registry.listEnvs())),
      },
      request,
      options,
    );
  }

  /** A job's end is stored; a store failure is logged, never thrown into the worker's frame stream. */
  private recordEnd(jobId: string, end: Parameters<Registry['recordJobEnd']>[1]): Promise<void> {
    return this.registry.recordJobEnd(jobId, end).then(
      () => this.notifyChange({ type: 'job-ended', worker: '' }),
      (error: unknown) => this.log.error({ err: error, job: jobId }, 'could not record the end of a job'),
    );
  }

  /**
   * An unregistered worker that is connected loses the projects it left, and its connection when none
   * remain. Public for management's admin unregister.
   */
  onUnregistered(id: string, remaining: string[]): void {
    this.notifyChange({ type: 'unregistered', worker: id });
    const session = this.sessions.get(id);
    if (!session) {
      this.deps.cluster?.manage(id, { op: 'unregistered', remaining });
      return;
    }
    if (remaining.length === 0) {
      this.sessions.delete(id);
      session.close(CloseCode.Unregistered, 'worker unregistered');
    } else session.info.projects = remaining;
    this.dispatcher.pump();
  }

  /** An order another hub sent for a worker this hub holds. */
  private manageLocal(id: string, order: ManageOrder): void {
    const session = this.sessions.get(id);
    if (!session) return;
    if (order.op === 'unregistered') return this.onUnregistered(id, order.remaining);
    if (order.op === 'disable') session.disable();
    else if (order.op === 'enable') session.enable();
    else session.shutdown();
    this.notifyChange({ type: order.op === 'shutdown' ? 'shutdown' : order.op === 'disable' ? 'disabled' : 'enabled', worker: id });
  }

  /** The worker connected to another hub since: its session here is stale. */
  private replaceSession(id: string, reason: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    session.close(CloseCode.Replaced, reason);
  }

  private addSession(transport: Transport, info: SessionInfo): void {
    const previous = this.sessions.get(info.workerId);
    if (previous) {
      this.log.warn({ worker: info.workerId }, 'a new connection replaces the previous one of the same worker');
      this.sessions.delete(info.workerId);
      try {
        previous.close(CloseCode.Replaced, `replaced by a new connection from ${info.agent.user}@${info.agent.host}`);
      } catch (error) {
        // The old connection must not stay half alive (connected on its side, unroutable here): drop it.
        this.log.error({ err: error, worker: info.workerId }, 'could not close the replaced connection; dropping it');
        previous.transport.terminate();
      }
    }
    const session = new WorkerSession(transport, info, this.sessionOwner, this.log);
    this.sessions.set(info.workerId, session);
    // Unknown only when unregistered meanwhile (its unregister closes this session).
    this.registry.markConnected(info.workerId, info.agent, info.connectedAt).catch((error: unknown) => this.log.warn({ err: error, worker: info.workerId }, 'could not record the connection'));
    this.log.info({ worker: info.workerId, tags: info.tags, envs: info.envs, remote: transport.remote }, 'worker connected');
    this.notifyChange({ type: 'connected', worker: info.workerId });
    for (const extension of this.extensions) extension.sessionAdded?.(session);
    session.start();
    this.dispatcher.pump();
  }

  /** What the hub does for every session: one object, no closures per connection (issue 9). */
  private readonly sessionOwner: SessionOwner = {
    otherFrame: (session, f) => this.frameRouter.route(session, f),
    changed: (session) => {
      this.dispatcher.pump();
      this.notifyChange({ type: 'state', worker: session.info.workerId });
    },
    closed: (session, close) => {
      const { workerId } = session.info;
      if (this.sessions.get(workerId) === session) {
        this.sessions.delete(workerId);
        this.registry.markDisconnected(workerId, this.clock.now()).catch((error: unknown) => this.log.error({ err: error, worker: workerId }, 'could not record the disconnection'));
      }
      this.log.info({ worker: workerId, code: close.code }, 'worker disconnected');
      for (const extension of this.extensions) extension.sessionClosed?.(session);
      this.dispatcher.pump();
      this.notifyChange({ type: 'disconnected', worker: workerId });
    },
  };
}
