/**
 * The worker's side of tasks (an {@link AgentExtension}): declare handlers with `handle()`, take the
 * leases the hub pushes, run them through a p-queue, renew each lease every ttl/3, report the result with
 * the lease. See src/hub/tasks/task-hub.ts for the hub's side and machines/task.machine.ts for the rules.
 *
 * One round trip per task (issue 9): the hub pushes `task_push {id, name, attrs, data, lease, ttlMs}`
 * only while this worker holds fewer than `taskCapacity = concurrency + prefetch` tasks; the worker
 * queues it at once (prefetched tasks wait in the queue, so a slot that frees starts the next task
 * without a round trip) and answers `task_done` / `task_failed`, or `task_rejected` when it will not
 * run it (no matching handler any more, or stopping), which returns the task to pending unrun.
 *
 * Flow control: should a push arrive while the worker already holds `taskCapacity` tasks, the worker
 * keeps it and pauses reading from the hub (`ctx.pause()`) until a slot frees, instead of buffering
 * without bound. It pauses only on such an overflow, never merely because it is full: a paused socket
 * does not answer the hub's pings either, and a worker busy with long tasks must not be dropped for it.
 *
 * One capacity model: every task held (queued or running, or aborted but not yet returned) is one unit
 * of the worker's WorkLoad (src/worker/work-load.ts), beside its jobs and action handlers; the lifecycle
 * machine hears only when the total reaches or leaves zero, so a burst costs two lifecycle events and
 * two `state` frames, not two per task.
 *
 * Prefetch (issue 9): by default a worker holds at least {@link MIN_DEFAULT_TASK_PREFETCH} tasks beyond
 * `concurrency`, so during a burst a freed slot starts the next task while the hub's refill is still on
 * its way (BullMQ's workers fetch the next job as they finish one for the same reason): the worker does
 * not go idle, and its load does not cross zero, per task. A queued task's lease is renewed like a running
 * one's from the moment it arrives, so its ttl need not cover the time it waits; stopping gives queued
 * tasks back at once (`task_rejected`), so the hub leases them again without waiting for an expiry. Workers of
 * long tasks that should not queue behind each other set `prefetch` (`--task-prefetch`) to 0.
 *
 * Per task the worker keeps little (issue 9): one renewal timer serves every held task, a task's
 * AbortController is made only when its handler reads `signal` or the task is aborted, and a task dropped
 * while queued stays in the p-queue as a no-op (its slot is freed at once; see `accept` for the bound).
 *
 * Execution is at least once, completion exactly once: a handler whose lease was revoked, or whose
 * connection dropped, is aborted (its `signal`) and its result is not sent; the hub has leased the task
 * again. A worker killed after its handler ran but before `task_done` reached the hub runs it twice.
 */
import PQueue from 'p-queue';
import { filterSpecificity, formatAttrs } from '../../../machines/task.helpers.ts';
import { ClaError, ErrorCode, InvalidArgumentError, describeValue, toWireError } from '../../errors.ts';
import { decodeValue, encodeOnce, encodeValue, type EncodedFrame } from '../../protocol/codec.ts';
import { frame, isPlainValue, type Frame, type FrameOf } from '../../protocol/frames.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../../protocol/version.ts';
import type { AgentExtension, ExtensionContext } from '../agent-extension.ts';
import type { RegisteredTaskHandler, SubscriptionRegistry, TaskHandler, TaskInvocation } from '../subscriptions.ts';

/** Options of {@link TaskExtension}. */
export interface TaskExtensionOptions {
  /** Tasks run at once. @default 4 */
  concurrency?: number;
  /** Leased tasks waiting in the queue beyond `concurrency`. @default {@link defaultTaskPrefetch} */
  prefetch?: number;
}

/** Default task concurrency; see `parseTaskOptions` in task-options.ts for why 4. */
export const DEFAULT_TASK_CONCURRENCY = 4;

/** Most tasks a worker announces it holds (`subscribe.taskCapacity`'s bound). */
export const MAX_TASK_CAPACITY = 10_000;

/**
 * The least default prefetch: enough queued tasks to cover the hub's round trip during a burst of short
 * tasks (measured in bench/peers: at concurrency 1, prefetch 1 -> 16 cut the worker's CPU per echo task
 * about 4x, since it stopped going idle between tasks), small enough that a burst still spreads over the
 * workers (the hub leases to the least loaded first).
 */
export const MIN_DEFAULT_TASK_PREFETCH = 16;

/** The prefetch of a worker that sets none: `max(concurrency, 16)`, within {@link MAX_TASK_CAPACITY}. */
export function defaultTaskPrefetch(concurrency: number): number {
  return Math.max(0, Math.min(Math.max(concurrency, MIN_DEFAULT_TASK_PREFETCH), MAX_TASK_CAPACITY - concurrency));
}

type Push = FrameOf<'task_push'>;

interface Held {
  push: Push;
  handler: TaskHandler;
  stage: 'queued' | 'running';
  /** Made on first use: when the handler reads its `signal`, or when the task is aborted. */
  abort?: AbortController;
  /** Why it was aborted (revoked, disconnected, stopping); set once. */
  abortReason?: ClaError;
  /** When the lease is renewed next (clock ms), and how often. */
  renewAt: number;
  renewEveryMs: number;
  /** Releases this task's unit of the worker's load: when dropped while queued, else when its handler returned. */
  release: () => void;
}

/** Task handling for one worker. */
export class TaskExtension implements AgentExtension {
  readonly concurrency: number;
  /** Tasks held at once (queued or running): the `taskCapacity` announced to the hub. */
  readonly capacity: number;
  private readonly queue: PQueue;
  private readonly held = new Map<string, Held>();
  /** Pushes that arrived beyond capacity, while reading from the hub is paused. */
  private overflow: Push[] = [];
  private paused = false;
  private stopping = false;
  private ctx: ExtensionContext | undefined;
  /** The one renewal timer, set for the earliest `renewAt` of the held tasks. */
  private renewTimer: unknown;
  private renewDue = Infinity;
  /** Tasks dropped while queued whose no-op is still in the p-queue (see `accept`). */
  private dropped = 0;

  constructor(
    private readonly registry: SubscriptionRegistry,
    options: TaskExtensionOptions = {},
  ) {
    this.concurrency = positive('concurrency', options.concurrency ?? DEFAULT_TASK_CONCURRENCY);
    if (this.concurrency > MAX_TASK_CAPACITY) throw new InvalidArgumentError(`Expected \`concurrency\` to be at most ${MAX_TASK_CAPACITY}, got ${describeValue(this.concurrency)}`);
    const prefetch = options.prefetch ?? defaultTaskPrefetch(this.concurrency);
    if (!Number.isSafeInteger(prefetch) || prefetch < 0 || this.concurrency + prefetch > MAX_TASK_CAPACITY) {
      throw new InvalidArgumentError(`Expected \`prefetch\` to be a non-negative integer, at most ${MAX_TASK_CAPACITY} with \`concurrency\` (${this.concurrency}), got ${describeValue(prefetch)}`);
    }
    this.capacity = this.concurrency + prefetch;
    this.queue = new PQueue({ concurrency: this.concurrency });
    registry.setTaskCapacity(this.capacity);
  }

  /** Handles tasks named `name` whose attributes match `filter` (e.g. `{cloud: ['aws'], account: ['123']}`). */
  handle(name: string, filter: Record<string, string[]>, handler: TaskHandler): this {
    this.registry.addTaskHandler({ name, filter }, handler);
    return this;
  }

  /** Tasks held now (queued or running). */
  heldCount(): number {
    return this.held.size;
  }

  welcomed(ctx: ExtensionContext): void {
    // `subscribe` is sent by SubscribeExtension (src/worker/subscriptions.ts), not here.
    this.ctx = ctx;
  }

  frame(f: Frame, ctx: ExtensionContext): boolean {
    switch (f.t) {
      case 'task_push':
        this.ctx = ctx;
        this.onPush(f);
        return true;
      case 'task_revoked':
        this.onRevoked(f.re, f.reason);
        return true;
      default:
        return false;
    }
  }

  disconnected(): void {
    // The hub released every lease of this connection and pushes the tasks again: results are useless.
    for (const [id, entry] of [...this.held]) this.drop(id, entry, 'disconnected from the hub');
    this.overflow = [];
    this.paused = false;
    this.ctx = undefined;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Queued tasks go back to the hub at once (task_rejected); running ones finish.
    for (const [id, entry] of [...this.held]) {
      if (entry.stage === 'running') continue;
      this.reject(entry.push, 'worker stopping');
      this.drop(id, entry, 'worker stopping');
    }
    for (const push of this.overflow.splice(0)) this.reject(push, 'worker stopping');
    if (this.paused) this.ctx?.resume();
    this.paused = false;
    await this.queue.onIdle();
  }

  private onPush(push: Push): void {
    if (this.held.has(push.id) || (this.overflow.length > 0 && this.overflow.some((o) => o.id === push.id))) return;
    if (this.stopping) return this.reject(push, 'worker stopping');
    if (!this.hasRoom()) {
      this.overflow.push(push);
      if (!this.paused) {
        this.paused = true;
        this.ctx?.log.warn({ task: push.id, held: this.held.size }, 'task pushed beyond capacity: pausing reads from the hub');
        this.ctx?.pause();
      }
      return;
    }
    this.accept(push);
  }

  private accept(push: Push): void {
    const handler = pickHandler(this.registry.taskHandlers(), push);
    if (!handler) {
      // Subscriptions changed in flight: hand it back so the hub leases it elsewhere now.
      this.ctx?.log.warn({ task: push.id, name: push.name }, 'pushed a task no handler here matches; rejecting it');
      return this.reject(push, `no handler on this worker matches task ${push.name} with attributes ${formatAttrs(push.attrs)}`);
    }
    const renewEveryMs = Math.max(10, Math.floor(push.ttlMs / 3));
    const now = this.ctx?.clock.now() ?? 0;
    const entry: Held = { push, handler, stage: 'queued', renewAt: now + renewEveryMs, renewEveryMs, release: this.ctx?.trackWork('task') ?? noop };
    this.held.set(push.id, entry);
    this.scheduleRenewals(entry.renewAt);
    // No abort signal for the p-queue (its listeners cost more than the task here): a task dropped while
    // queued frees its slot at once and its run() returns without calling the handler when reached. Such
    // no-ops wait only behind running handlers, and `hasRoom` counts them, so the p-queue holds at most
    // 2 x capacity entries even when handlers hang across reconnects.
    this.queue.add(() => this.run(push.id, entry)).catch(noop);
  }

  /** Whether one more pushed task fits: held tasks within capacity, no-ops of dropped ones within capacity too. */
  private hasRoom(): boolean {
    return this.held.size < this.capacity && this.dropped < this.capacity;
  }

  private reject(push: Push, reason: string): void {
    this.ctx?.send(frame('task_rejected', { re: push.id, lease: push.lease, reason }));
  }

  private onRevoked(id: string, reason: string): void {
    const entry = this.held.get(id);
    if (entry) {
      this.ctx?.log.warn({ task: id, reason }, 'task revoked by the hub');
      this.drop(id, entry, `revoked by the hub: ${reason}`);
    }
  }

  private async run(id: string, entry: Held): Promise<void> {
    if (this.held.get(id) !== entry) {
      // Dropped while queued (revoked, disconnected, stopping): its slot and load were freed then.
      this.dropped -= 1;
      this.slotFreed();
      return;
    }
    entry.stage = 'running';
    try {
      await this.runHeld(id, entry);
    } finally {
      entry.release();
    }
  }

  private async runHeld(id: string, entry: Held): Promise<void> {
    const { push } = entry;
    let end: Frame;
    try {
      // The data's msgpack bytes, decoded once here for the handler (protocol v3: the hub forwards the
      // bytes stored at submission, unread); checked as every frame is, so no extension value reaches it.
      const data = decodeTaskData(id, push);
      const task: TaskInvocation = { id, name: push.name, attrs: push.attrs, data };
      const result = (await entry.handler(task, { get signal() { return signalOf(entry); } })) ?? null;
      end = isPlainValue(result)
        ? frame('task_done', { re: id, lease: push.lease, result: encodeValue(result) })
        : frame('task_failed', {
            re: id,
            lease: push.lease,
            error: toWireError(new ClaError(ErrorCode.InvalidArgument, `The ${push.name} handler returned a value that is not plain data (${describeValue(result)})`)),
          });
    } catch (error) {
      end = frame('task_failed', { re: id, lease: push.lease, error: toWireError(error) });
    }
    // A frame over the hub's limit would cost the connection (and every task on it), then run again.
    // Only results of some size are measured, by encoding the frame: those bytes are the ones sent
    // (issue 9: one encode per frame; the result itself was encoded once above, into the frame's `bin`).
    let encoded: EncodedFrame | undefined;
    if (!isSmall(end)) {
      encoded = encodeOnce(end);
      const bytes = encoded.bytes.byteLength;
      if (bytes > DEFAULT_MAX_FRAME_BYTES - 1024) {
        const error = new ClaError(ErrorCode.InvalidArgument, `The ${push.name} handler's ${end.t === 'task_done' ? 'result' : 'error'} is ${bytes} bytes, over the ${DEFAULT_MAX_FRAME_BYTES}-byte frame limit`);
        end = frame('task_failed', { re: id, lease: push.lease, error: toWireError(error) });
        encoded = undefined;
      }
    }
    // Revoked or disconnected meanwhile: the hub no longer expects this result.
    if (this.held.get(id) !== entry || entry.abortReason !== undefined) return;
    if (encoded) this.ctx?.sendEncoded(encoded);
    else this.ctx?.send(end);
    this.drop(id, entry);
  }

  /** Makes sure the renewal timer fires by `at`. */
  private scheduleRenewals(at: number): void {
    const clock = this.ctx?.clock;
    if (!clock || at >= this.renewDue) return;
    if (this.renewTimer !== undefined) clock.clearTimeout(this.renewTimer);
    this.renewDue = at;
    this.renewTimer = clock.setTimeout(this.renewDueLeases, Math.max(0, at - clock.now()));
  }

  /**
   * Renews every held lease due within a third of its interval (early is harmless: the lease then runs
   * from now), so tasks that arrived close together share one timer firing; then sets the timer again.
   */
  private readonly renewDueLeases = (): void => {
    this.renewTimer = undefined;
    this.renewDue = Infinity;
    const ctx = this.ctx;
    if (!ctx) return;
    const now = ctx.clock.now();
    let next = Infinity;
    for (const [id, entry] of this.held) {
      if (entry.renewAt - now <= entry.renewEveryMs / 3) {
        ctx.send(frame('task_renew', { re: id, lease: entry.push.lease }));
        entry.renewAt = now + entry.renewEveryMs;
      }
      if (entry.renewAt < next) next = entry.renewAt;
    }
    if (next !== Infinity) this.scheduleRenewals(next);
  };

  /** Forgets a task (finished, revoked or lost), aborting its handler when a reason is given. */
  private drop(id: string, entry: Held, abortReason?: string): void {
    if (this.held.get(id) !== entry) return;
    this.held.delete(id);
    if (abortReason !== undefined) {
      entry.abortReason = new ClaError(ErrorCode.Aborted, `Task ${id} aborted: ${abortReason}`);
      entry.abort?.abort(entry.abortReason);
    }
    if (entry.stage === 'queued') {
      // Its no-op stays in the p-queue until reached (run() counts it off); a running handler holds its
      // unit until it returns (run() releases it).
      this.dropped += 1;
      entry.release();
    }
    if (this.held.size === 0 && this.renewTimer !== undefined) {
      this.ctx?.clock.clearTimeout(this.renewTimer);
      this.renewTimer = undefined;
      this.renewDue = Infinity;
    }
    this.slotFreed();
  }

  private slotFreed(): void {
    while (this.overflow.length > 0 && this.hasRoom() && !this.stopping) this.accept(this.overflow.shift()!);
    if (this.paused && this.overflow.length === 0 && this.hasRoom()) {
      this.paused = false;
      this.ctx?.resume();
    }
  }
}

function noop(): void {
  // A released unit of load without an agent, or a queue promise nobody awaits.
}

/**
 * A pushed task's data, decoded from its msgpack bytes for the handler.
 * @throws InvalidArgumentError when the bytes are not one msgpack value, or not a plain one
 */
function decodeTaskData(id: string, push: FrameOf<'task_push'>): unknown {
  let data: unknown;
  try {
    data = decodeValue(push.data);
  } catch (cause) {
    throw new InvalidArgumentError(`The data of task ${id} (${push.name}) is not msgpack: ${(cause as Error).message}`, { cause });
  }
  if (!isPlainValue(data)) throw new InvalidArgumentError(`The data of task ${id} (${push.name}) is not plain data (${describeValue(data)}): submit nil, booleans, numbers, strings, binary, arrays and maps only`);
  return data;
}

/** The task's abort signal, made on first use; already aborted when the task was. */
function signalOf(entry: Held): AbortSignal {
  if (!entry.abort) {
    entry.abort = new AbortController();
    if (entry.abortReason !== undefined) entry.abort.abort(entry.abortReason);
  }
  return entry.abort.signal;
}

/**
 * Whether `f` is certainly far below the frame limit without encoding it: a result (its bytes, counted)
 * or an error of a few scalars (the common case). Strings count by UTF-16 length x 3, the most bytes
 * msgpack may need.
 */
function isSmall(f: Frame): boolean {
  const value = f.t === 'task_done' ? f.result : f.t === 'task_failed' ? f.error : undefined;
  let budget = 16 * 1024;
  const walk = (v: unknown, depth: number): boolean => {
    if (depth > 8) return false;
    if (typeof v === 'string') return (budget -= v.length * 3 + 8) > 0;
    if (v === null || typeof v !== 'object') return (budget -= 16) > 0;
    if (v instanceof Uint8Array) return (budget -= v.byteLength + 8) > 0;
    if (Array.isArray(v)) return v.every((x) => walk(x, depth + 1));
    return Object.entries(v).every(([k, x]) => (budget -= k.length * 3 + 8) > 0 && walk(x, depth + 1));
  };
  return walk(value, 0);
}

/** The handler whose filter matches the task most specifically (the hub chose this worker the same way). */
export function pickHandler(handlers: readonly RegisteredTaskHandler[], task: { name: string; attrs: Record<string, string> }): TaskHandler | undefined {
  let best: TaskHandler | undefined;
  let bestSpec = -1;
  for (const { spec, handler } of handlers) {
    if (spec.name !== task.name) continue;
    const score = filterSpecificity(spec.filter, task.attrs);
    if (score > bestSpec) {
      bestSpec = score;
      best = handler;
    }
  }
  return best;
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidArgumentError(`Expected \`${name}\` to be a positive integer, got ${describeValue(value)}`);
  return value;
}
