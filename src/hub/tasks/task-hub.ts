/**
 * The hub's task dispatcher (a {@link HubExtension}) and the library API over it: `submit()` a task,
 * `result$()` / `wait()` for its end. The lifecycle follows machines/task.machine.ts; every state change
 * is one conditional write in the {@link TaskStore}, so a hub restart loses nothing and exactly one
 * worker holds a task's claim.
 *
 * Protocol (frames-bus.ts; one round trip per task, issue 9): the worker's `subscribe` lists its task
 * handlers and its `taskCapacity`; the hub leases a pending task to one matching worker with a free slot
 * (task-selection.ts) — the store's one conditional write pending -> claimed — and pushes
 * `task_push {id, name, attrs, data, lease, ttlMs}`, never keeping more than `taskCapacity` leases at one
 * worker. `data` and `task_done`'s `result` are msgpack bytes (protocol v3): the hub stores the bytes it
 * was given at submission or the worker sent (a result checked once, `valueBytesProblem`) and never
 * re-encodes them; the library API and the admin methods decode them (`viewTask`) where they hand a task
 * out. The worker queues it and answers `task_done` / `task_failed` carrying the lease, or
 * `task_rejected` (it will not run it: back to pending, not counted as an attempt, and not pushed to
 * that connection again). It sends `task_renew` every ttl/3 while it holds the task. A completion with a
 * stale lease is refused with an `error` frame, code STALE_LEASE. A disconnect releases everything the
 * worker held; a lease that runs out is revoked (`task_revoked`) and the task leased again.
 *
 * `subscribe` is shared with the action bus: the hub routes frames by type to every extension that
 * declares it (hub-extension.ts), and this one reads only its `tasks` part.
 *
 * New tasks reach the dispatcher through `submit()` only (the `tasks.submit` method of the hub's method
 * table for `cla-hub task submit`, the dashboard and scripts) and are leased at once; nothing polls the
 * store for them. A timer every `pollMs` only expires leases and deadlines.
 *
 * The store is asynchronous (issue 9): every frame to a worker and every answer to a waiter or admin
 * goes out only after the store call that holds the change resolved (after its commit, on SQLite).
 * Store calls take effect in call order, so a token is recorded in `Holder.tokens` before the call that
 * grants it: a disconnect seen meanwhile releases it with a call queued behind the grant. One pump runs
 * at a time; a change during a pump runs another after it.
 *
 * Turns per task (issue 9): a pump reads and leases in one store step where the backend has one
 * (`TaskStore.leasePending`), and it is scheduled before the store call of the frame or submit that
 * started it, so on SQLite it joins that call's group commit: submit -> push and done -> next push each
 * take one commit. A slot freed while no task waits (`backlog`) runs no pump at all.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Observable, Subject, firstValueFrom, type Subscriber } from 'rxjs';
import type { Clock } from '../../clock.ts';
import { systemClock } from '../../clock.ts';
import { ClaError, ErrorCode } from '../../errors.ts';
import { silentLogger, type Logger } from '../../logger.ts';
import { valueBytesProblem } from '../../protocol/codec.ts';
import { frame, type Frame, type FrameOf } from '../../protocol/frames.ts';
import type { TaskHandlerSpec } from '../../protocol/frames-bus.ts';
import type { HubContext, HubExtension } from '../hub-extension.ts';
import type { WorkerSession } from '../worker-session.ts';
import type { MethodDefinition } from '../methods/method-table.ts';
import { taskMethods } from './task-methods.ts';
import { selectWorker, type TaskCandidate } from './task-selection.ts';
import { parseTaskHubOptions, parseTaskSubmission, type ParsedTaskHubOptions, type TaskHubOptions, type TaskSubmission } from './task-spec.ts';
import { leasePage, viewTask, type TaskErrorValue, type LeaseChoice, type LeasedPage, type PendingTask, type ReleasedTask, type TaskListFilter, type TaskRow, type TaskState, type TaskStore, type TaskView } from './task-store.ts';

/** Most pending rows read per query while leasing. */
const PAGE = 256;
/** Most rejected task ids remembered per connection. */
const REFUSED_LIMIT = 10_000;

/** What the dispatcher needs from outside. */
export interface TaskHubDeps {
  store: TaskStore;
  /** @default the hub's clock once started, the system clock before */
  clock?: Clock;
  /** @default the hub's logger once started */
  log?: Logger;
  /** Task ids. @default randomUUID */
  newId?: () => string;
  /** Lease tokens. @default 16 random base64url characters */
  newToken?: () => string;
  /** `stop()` closes the store too. @default false */
  ownsStore?: boolean;
}

/** One connected worker as the dispatcher tracks it. */
interface Holder extends TaskCandidate {
  session: WorkerSession;
  handlers: TaskHandlerSpec[];
  subscribed: boolean;
  /** Tasks leased to this connection: task id -> lease token. */
  tokens: Map<string, string>;
  /** Tasks this connection rejected: not pushed to it again (bounded: cleared past REFUSED_LIMIT). */
  refused: Set<string>;
  eligible: boolean;
  unlisten: () => void;
}

/** A lease the pump chose: the {@link LeaseChoice} handed to the store, and what the push needs. */
interface Grant extends LeaseChoice {
  holder: Holder;
  row: PendingTask;
  /** The store granted it. */
  ok: boolean;
}

/** The task dispatcher and its API. */
export class TaskHub implements HubExtension {
  private clock: Clock;
  private log: Logger;
  private readonly options: ParsedTaskHubOptions;
  private readonly store: TaskStore;
  private readonly newId: () => string;
  private readonly newToken: () => string;
  private readonly holders = new Map<WorkerSession, Holder>();
  /** The live connection of each worker id (a replaced connection is closed soon after). */
  private readonly byWorker = new Map<string, Holder>();
  private readonly waiters = new Map<string, Set<Subscriber<TaskView>>>();
  private readonly finished = new Subject<TaskView>();
  /** Every task that ends (done or failed), as its final row, data and result decoded. */
  readonly finished$: Observable<TaskView> = this.finished.asObservable();
  private timer: unknown;
  /** Ends the store's events of other hubs' changes (shared backends only). */
  private unsubscribe: (() => void) | undefined;
  private started = false;
  private stopped = false;
  private dirty = true;
  private pumpScheduled = false;
  private pumping = false;
  /**
   * Whether pending tasks may wait that the last pump did not lease: false once a pump read every pending
   * row and leased each one, until something adds one (submit, release, reject, expiry, another hub, a new
   * subscription). A freed slot runs a pump only while this holds: a worker finishing its task with
   * nothing waiting costs no read (one at a time, the end of a burst).
   */
  private backlog = true;
  /** Counts what set {@link backlog}, so a pump clears it only when nothing set it while it ran. */
  private backlogMarks = 0;

  constructor(
    private readonly deps: TaskHubDeps,
    options: TaskHubOptions = {},
  ) {
    this.options = parseTaskHubOptions(options);
    this.store = deps.store;
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log ?? silentLogger();
    this.newId = deps.newId ?? randomUUID;
    this.newToken = deps.newToken ?? randomToken;
  }

  // ---- library API ---------------------------------------------------------------------------------

  /** Stores a new pending task; resolves with its id once it is stored. @throws InvalidArgumentError */
  async submit(submission: TaskSubmission): Promise<string> {
    const task = parseTaskSubmission(submission);
    const id = this.newId();
    // Marked before the insert is asked for: the pump then runs ahead of the commit that holds the insert,
    // and its read and lease (asked after the insert, so they see it: store calls take effect in call
    // order) join that commit: one commit from submit to push on SQLite, not three.
    this.markDirty();
    if (!(await this.store.insert({ ...task, id, createdAt: this.clock.now() }))) {
      throw new ClaError(ErrorCode.Internal, `Task id ${id} is taken`, { data: { id } });
    }
    return id;
  }

  /** One task, its data and result decoded from the msgpack bytes the store keeps (so everywhere below). */
  async get(id: string): Promise<TaskView | undefined> {
    const row = await this.store.get(id);
    return row && viewTask(row);
  }

  /** One task; UNKNOWN_TASK when there is none. */
  async show(id: string): Promise<TaskView> {
    const row = await this.get(id);
    if (!row) throw new ClaError(ErrorCode.UnknownTask, `No task with id ${id}: \`cla-hub task list\` shows the tasks this hub has`, { data: { id } });
    return row;
  }

  /** The task methods of the hub's method table. */
  methods(): MethodDefinition[] {
    return taskMethods(this);
  }

  async list(filter: TaskListFilter): Promise<TaskView[]> {
    return (await this.store.list(filter)).map(viewTask);
  }

  counts(): Promise<Record<TaskState, number>> {
    return this.store.counts();
  }

  /**
   * Emits the task's final row (state `done` with `result`, or `failed` with `error`) once, then
   * completes; at once when it already ended. Errors with UNKNOWN_TASK for an unknown id, and ABORTED
   * when the hub stops first.
   */
  result$(id: string): Observable<TaskView> {
    return new Observable<TaskView>((subscriber) => {
      // Waiting first, then reading: an end committed meanwhile reaches this subscriber either way.
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      set.add(subscriber);
      this.store.get(id).then(
        (row) => {
          if (!row) subscriber.error(new ClaError(ErrorCode.UnknownTask, `No task with id ${id}`, { data: { id } }));
          else if (row.state === 'done' || row.state === 'failed') {
            subscriber.next(viewTask(row));
            subscriber.complete();
          }
        },
        (error: unknown) => subscriber.error(error),
      );
      return () => {
        set.delete(subscriber);
        if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
      };
    });
  }

  /** The task's final row (see {@link result$}). */
  wait(id: string): Promise<TaskView> {
    return firstValueFrom(this.result$(id));
  }

  // ---- HubExtension --------------------------------------------------------------------------------

  readonly workerFrames = ['subscribe', 'task_rejected', 'task_renew', 'task_done', 'task_failed'] as const;

  async start(hub: HubContext): Promise<void> {
    if (!this.deps.clock) this.clock = hub.clock;
    if (!this.deps.log) this.log = hub.log.child({ component: 'tasks' });
    // Workers of the previous run reconnect with nothing: whatever this hub held is leased again.
    const recovered = await this.store.recover(this.clock.now());
    if (recovered > 0) this.log.info({ tasks: recovered }, 'tasks claimed before the restart are pending again');
    // On a backend shared by several hubs, tasks submitted or released through another hub are leased
    // here too, and waiters here learn of ends written there.
    this.unsubscribe = this.store.subscribe?.({ pending: () => this.markDirty(), ended: (row) => this.notify(row) });
    this.started = true;
    this.timer = this.clock.setTimeout(this.tick, this.options.pollMs);
    this.markDirty();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const [id, set] of this.waiters) {
      const error = new ClaError(ErrorCode.Aborted, `The hub stopped before task ${id} ended`, { retryable: true, data: { id } });
      for (const subscriber of [...set]) subscriber.error(error);
    }
    this.waiters.clear();
    this.finished.complete();
    if (this.deps.ownsStore) await this.store.close();
  }

  sessionAdded(_session: WorkerSession): void {
    // Nothing until the worker's first task frame (`subscribe`): an idle connection costs no holder.
  }

  sessionClosed(session: WorkerSession): void {
    const holder = this.holders.get(session);
    if (!holder) return;
    this.holders.delete(session);
    holder.unlisten();
    if (this.byWorker.get(holder.workerId) === holder) this.byWorker.delete(holder.workerId);
    // Once stopped (the hub closing every connection), claims stay as they are: the next start's
    // recover() returns them to pending, as after a crash.
    if (holder.tokens.size === 0 || this.stopped) return;
    const now = this.clock.now();
    const held = [...holder.tokens];
    holder.tokens.clear();
    this.guarded('releasing the tasks of a disconnected worker', async () => {
      const released = await this.store.releaseMany(held, now);
      const failed = released.filter((r): r is ReleasedTask => r?.state === 'failed');
      this.log.info({ worker: holder.workerId, released: released.filter(Boolean).length, failed: failed.length }, 'a disconnected worker lost its tasks');
      for (const r of failed) this.notify(await this.store.get(r.id));
      this.markDirty();
    });
  }

  workerFrame(session: WorkerSession, f: Frame): void {
    if (this.stopped) return;
    const holder = this.holderOf(session);
    this.guarded(`handling ${f.t} from ${holder.workerId}`, async () => {
      switch (f.t) {
        case 'subscribe':
          return this.onSubscribe(holder, f);
        case 'task_rejected':
          return this.onRejected(holder, f);
        case 'task_renew':
          return this.onRenew(holder, f.re, f.lease);
        case 'task_done':
        case 'task_failed':
          return this.onEnd(holder, f);
      }
    });
  }

  // ---- frames --------------------------------------------------------------------------------------

  private onSubscribe(holder: Holder, f: FrameOf<'subscribe'>): void {
    holder.handlers = f.tasks;
    holder.capacity = f.taskCapacity;
    holder.subscribed = true;
    holder.refused.clear();
    this.log.debug({ worker: holder.workerId, handlers: f.tasks, capacity: f.taskCapacity }, 'task handlers subscribed');
    this.markDirty();
  }

  private async onRejected(holder: Holder, f: FrameOf<'task_rejected'>): Promise<void> {
    const ok = await this.store.reject(f.re, f.lease, this.clock.now());
    if (holder.tokens.get(f.re) === f.lease) holder.tokens.delete(f.re);
    if (!ok) return; // stale: the task moved on already (released, expired, or leased elsewhere)
    if (holder.refused.size >= REFUSED_LIMIT) holder.refused.clear();
    holder.refused.add(f.re);
    this.log.info({ worker: holder.workerId, task: f.re, reason: f.reason }, 'a worker rejected a task; it is pending again');
    this.markDirty();
  }

  private async onRenew(holder: Holder, id: string, lease: string): Promise<void> {
    const now = this.clock.now();
    if (await this.store.renew(id, lease, now, now + this.options.leaseTtlMs)) return;
    if (holder.tokens.get(id) === lease) {
      holder.tokens.delete(id);
      this.slotFreed();
    }
    this.send(holder, frame('task_revoked', { re: id, reason: 'lease is stale: the task was released or given to another worker' }));
  }

  private async onEnd(holder: Holder, f: FrameOf<'task_done'> | FrameOf<'task_failed'>): Promise<void> {
    const now = this.clock.now();
    // The worker let go of the task when it sent its end, so its slot is free now, whatever the store
    // answers. Freed before the end is written: the pump of this turn then runs ahead of the commit that
    // holds the end, and its leases join that commit (one commit per turn on SQLite, not three).
    if (holder.tokens.get(f.re) === f.lease) {
      holder.tokens.delete(f.re);
      this.slotFreed();
    }
    // A result is stored as the bytes the worker sent (protocol v3), so it is checked first: bytes no
    // reader can decode would break `cla-hub task list` and every waiter. The task fails with a message
    // that names the worker instead.
    let row: TaskRow | undefined;
    if (f.t === 'task_failed') row = await this.store.fail(f.re, f.lease, f.error, now);
    else {
      const problem = valueBytesProblem(f.result);
      if (problem === undefined) row = await this.store.complete(f.re, f.lease, f.result, now);
      else {
        this.log.warn({ worker: holder.workerId, task: f.re, bytes: f.result.byteLength }, `task result refused: ${problem}`);
        row = await this.store.fail(f.re, f.lease, badResultError(holder.workerId, f.result.byteLength, problem), now);
      }
    }
    if (row) {
      this.notify(row);
      return;
    }
    const current = await this.store.get(f.re);
    const error = current
      ? new ClaError(ErrorCode.StaleLease, `The lease on task ${f.re} is stale: the task is ${current.state}${current.worker && current.worker !== holder.workerId ? ` with worker ${current.worker}` : ''}; the result was not recorded`, {
          data: { task: f.re, state: current.state },
        })
      : new ClaError(ErrorCode.UnknownTask, `No task with id ${f.re}`, { data: { task: f.re } });
    this.log.warn({ worker: holder.workerId, task: f.re, code: error.code }, error.message);
    this.send(holder, frame('error', { re: f.re, error: { code: error.code, message: error.message, retryable: false, data: error.data } }));
  }

  // ---- dispatching ---------------------------------------------------------------------------------

  private holderOf(session: WorkerSession): Holder {
    let holder = this.holders.get(session);
    if (holder) return holder;
    const created: Holder = {
      session,
      workerId: session.info.workerId,
      handlers: [],
      capacity: 0,
      held: 0,
      subscribed: false,
      tokens: new Map(),
      refused: new Set(),
      eligible: false,
      unlisten: () => undefined,
    };
    holder = created;
    // A worker enabled again (or done leaving its `disabled` state) may take tasks: look again.
    created.unlisten = session.onChange(() => {
      const eligible = this.isEligible(created);
      if (eligible && !created.eligible) this.slotFreed();
      created.eligible = eligible;
    });
    this.holders.set(session, created);
    this.byWorker.set(created.workerId, created);
    return created;
  }

  private isEligible(holder: Holder): boolean {
    const { session } = holder;
    return holder.subscribed && holder.handlers.length > 0 && !session.isDisabled() && !session.isLeaving() && !session.isClosed();
  }

  /** A task may have become pending (or matchable): look again. */
  private markDirty(): void {
    this.backlog = true;
    this.backlogMarks += 1;
    this.schedulePump();
  }

  /** A worker has room again: look again only when tasks may be waiting. */
  private slotFreed(): void {
    if (this.backlog) this.schedulePump();
  }

  private schedulePump(): void {
    this.dirty = true;
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // Coalesces the frames of one I/O turn into one pass over the pending tasks.
    setImmediate(() => {
      this.pumpScheduled = false;
      this.runPump();
    });
  }

  /** One pump at a time; a change seen meanwhile (dirty again) runs another after it. */
  private runPump(): void {
    if (this.pumping || !this.started || this.stopped || !this.dirty) return;
    this.pumping = true;
    this.guarded('leasing tasks', () => this.pump()).finally(() => {
      this.pumping = false;
      if (this.dirty) this.schedulePump();
    });
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    if (this.stopped) return;
    this.guarded('sweeping tasks', () => this.sweep()).finally(() => {
      if (!this.stopped) this.timer = this.clock.setTimeout(this.tick, this.options.pollMs);
    });
  };

  /** Expired leases, passed deadlines. */
  private async sweep(): Promise<void> {
    const { released, failed } = await this.store.expire(this.clock.now());
    for (const r of released) {
      const holder = this.byWorker.get(r.worker);
      if (!holder || holder.tokens.get(r.id) !== r.lease) continue;
      holder.tokens.delete(r.id);
      const reason = 'lease expired: not renewed in time';
      this.log.warn({ worker: r.worker, task: r.id }, reason);
      this.send(holder, frame('task_revoked', { re: r.id, reason }));
    }
    for (const row of failed) {
      this.log.warn({ task: row.id, code: row.error?.code }, row.error?.message ?? 'task failed');
      this.notify(row);
    }
    if (released.length > 0) {
      this.backlog = true;
      this.backlogMarks += 1;
      this.dirty = true;
    }
    if (this.dirty) this.runPump();
  }

  /** Leases pending tasks, oldest first, to eligible workers with a free slot, and pushes them. */
  private async pump(): Promise<void> {
    this.dirty = false;
    const holders = [...this.holders.values()].filter((holder) => (holder.eligible = this.isEligible(holder)));
    let free = 0;
    for (const holder of holders) {
      holder.held = holder.tokens.size;
      free += Math.max(0, holder.capacity - holder.held);
    }
    if (free === 0) return; // a freed slot or a new subscription marks dirty again
    const names = [...new Set(holders.flatMap((holder) => holder.handlers.map((handler) => handler.name)))];
    const ttlMs = this.options.leaseTtlMs;
    const marks = this.backlogMarks;
    let skipped = false;
    let more = false;
    let cursor = 0;
    // Read one row more than there are free slots at first (each row read is decoded: issue 9, fewer
    // reads per freed slot; the row left over says tasks still wait, see `backlog`), doubling while rows
    // are skipped (tasks waiting for a busy, more specific worker, or that no connected worker matches).
    let limit = Math.min(PAGE, free + 1);
    for (;; limit = Math.min(PAGE, limit * 2)) {
      const anyRefused = holders.some((holder) => holder.refused.size > 0);
      const grants: Grant[] = [];
      // Runs inside the store's step (on SQLite, at the turn's commit): the token is in `Holder.tokens`
      // before the write that grants it, so a disconnect seen after it releases it.
      const choose = (row: PendingTask): Grant | undefined | null => {
        if (free === 0) {
          more = true;
          return null;
        }
        const selection = selectWorker(anyRefused ? holders.filter((holder) => !holder.refused.has(row.id)) : holders, row.name, row.attrs);
        if (selection.kind !== 'lease') {
          skipped = true;
          return undefined;
        }
        const holder = selection.worker;
        if (this.holders.get(holder.session) !== holder) {
          // Gone since this pump began: the row waits for the pump that its release starts.
          skipped = true;
          this.dirty = true;
          return undefined;
        }
        const grant: Grant = { worker: holder.workerId, lease: this.newToken(), holder, row, ok: false };
        holder.tokens.set(row.id, grant.lease);
        holder.held += 1;
        free -= 1;
        grants.push(grant);
        return grant;
      };
      const now = this.clock.now();
      let page: LeasedPage;
      try {
        page = await this.leasePage(cursor, names, limit, choose, now, now + ttlMs);
      } catch (error) {
        for (const { holder, row, lease } of grants) if (holder.tokens.get(row.id) === lease) holder.tokens.delete(row.id);
        throw error;
      }
      for (const { choice } of page.leased) (choice as Grant).ok = true;
      for (const { row, holder, lease, ok } of grants) {
        if (ok) this.send(holder, frame('task_push', { id: row.id, name: row.name, attrs: row.attrs, data: row.data, lease, ttlMs }));
        else if (holder.tokens.get(row.id) === lease) holder.tokens.delete(row.id);
      }
      cursor = page.lastSeq;
      if (free === 0 || page.seen < limit) {
        // Every pending row read and leased, and none added meanwhile: nothing waits.
        if (!more && page.seen < limit && !skipped && marks === this.backlogMarks) this.backlog = false;
        return;
      }
    }
  }

  /**
   * One page of leases: in one store step where the backend has one ({@link TaskStore.leasePending}),
   * else a read and then every lease of the page in one turn (one commit where the backend groups them).
   */
  private async leasePage(afterSeq: number, names: string[], limit: number, choose: (row: PendingTask) => LeaseChoice | undefined | null, at: number, expiresAt: number): Promise<LeasedPage> {
    if (this.store.leasePending) return this.store.leasePending(afterSeq, names, limit, choose, at, expiresAt);
    const rows = await this.store.pending(afterSeq, names, limit);
    const chosen: LeasedPage['leased'] = [];
    // Collected here and leased below, all in one turn.
    const page = leasePage(rows, afterSeq, choose, (row, choice) => {
      chosen.push({ row, choice });
      return false;
    });
    const ok = await Promise.all(chosen.map(({ row, choice }) => this.store.lease(row.id, choice.worker, choice.lease, at, expiresAt)));
    page.leased = chosen.filter((_, i) => ok[i]);
    return page;
  }

  private notify(row: TaskRow | undefined): void {
    if (!row) return;
    const set = this.waiters.get(row.id);
    // Decoded only for whoever reads the end (issue 9: a result nobody waits for stays bytes).
    if (!set && !this.finished.observed) return;
    const view = viewTask(row);
    this.finished.next(view);
    if (!set) return;
    this.waiters.delete(row.id);
    for (const subscriber of [...set]) {
      subscriber.next(view);
      subscriber.complete();
    }
  }

  private send(holder: Holder, f: Frame): void {
    holder.session.sendQuietly(f);
  }

  /** A store failure is logged, never thrown into a frame stream or a timer. */
  private async guarded(what: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.log.error({ err: error }, `failed ${what}`);
    }
  }
}

/** The error a task fails with when its worker's result is not the msgpack of one plain value. */
function badResultError(worker: string, bytes: number, problem: string): TaskErrorValue {
  return {
    code: ErrorCode.InvalidArgument,
    message: `Worker ${worker} answered with a result of ${bytes} bytes that is ${problem}; the result was not stored. Upgrade the worker (a task handler must return plain data, sent as encodeValue writes it)`,
    retryable: false,
    data: { worker, bytes },
  };
}

/** Random bytes drawn for many tokens at once: one call into the CSPRNG per {@link TOKENS_PER_DRAW} leases. */
const TOKEN_BYTES = 12;
const TOKENS_PER_DRAW = 256;
let tokenPool = Buffer.alloc(0);
let tokenOffset = 0;

/** 16 random base64url characters (12 bytes), a lease token. */
function randomToken(): string {
  if (tokenOffset + TOKEN_BYTES > tokenPool.length) {
    tokenPool = randomBytes(TOKEN_BYTES * TOKENS_PER_DRAW);
    tokenOffset = 0;
  }
  const token = tokenPool.toString('base64url', tokenOffset, tokenOffset + TOKEN_BYTES);
  tokenOffset += TOKEN_BYTES;
  return token;
}
