/**
 * The worker's side of tasks (an {@link AgentExtension}): declare handlers with `handle()`, claim the
 * tasks the hub offers, run them through a p-queue, renew each lease every ttl/3, report the result with
 * the lease. See src/hub/tasks/task-hub.ts for the hub's side and machines/task.machine.ts for the rules.
 *
 * Flow control: the worker announces `taskCapacity = concurrency + prefetch` (prefetched tasks wait in
 * the queue so a slot that frees starts the next task without a round trip to the hub) and the hub never
 * holds more than that at this worker. Should an offer arrive while the worker already holds
 * `taskCapacity` tasks, the worker keeps that one offer and pauses reading from the hub (`ctx.pause()`)
 * until a slot frees, instead of buffering without bound. It pauses only on such an overflow, never
 * merely because it is full: a paused socket does not answer the hub's pings either, and a worker busy
 * with long tasks must not be dropped for it.
 *
 * Execution is at least once, completion exactly once: a handler whose lease was revoked, or whose
 * connection dropped, is aborted (its `signal`) and its result is not sent; the hub has offered the task
 * again. A worker killed after its handler ran but before `task_done` reached the hub runs it twice.
 */
import PQueue from 'p-queue';
import { filterSpecificity } from '../../../machines/task.helpers.ts';
import { ClaError, ErrorCode, InvalidArgumentError, describeValue, toWireError } from '../../errors.ts';
import { encodeFrame } from '../../protocol/codec.ts';
import { frame, isPlainValue, type Frame, type FrameOf } from '../../protocol/frames.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../../protocol/version.ts';
import type { AgentExtension, ExtensionContext } from '../agent-extension.ts';
import type { RegisteredTaskHandler, SubscriptionRegistry, TaskHandler, TaskInvocation } from '../subscriptions.ts';

/** Options of {@link TaskExtension}. */
export interface TaskExtensionOptions {
  /** Tasks run at once. @default 4 */
  concurrency?: number;
  /** Claimed tasks waiting in the queue beyond `concurrency`. @default `concurrency` */
  prefetch?: number;
}

/** Default task concurrency; see `parseTaskOptions` in task-options.ts for why 4. */
export const DEFAULT_TASK_CONCURRENCY = 4;

type Offer = FrameOf<'task_offer'>;

interface Held {
  offer: Offer;
  handler: TaskHandler;
  stage: 'claiming' | 'queued' | 'running';
  lease?: string;
  abort: AbortController;
  renewTimer?: unknown;
}

/** Task handling for one worker. */
export class TaskExtension implements AgentExtension {
  readonly concurrency: number;
  /** Tasks held at once (claiming, queued, running): the `taskCapacity` announced to the hub. */
  readonly capacity: number;
  private readonly queue: PQueue;
  private readonly held = new Map<string, Held>();
  /** Offers that arrived beyond capacity, while reading from the hub is paused. */
  private overflow: Offer[] = [];
  private paused = false;
  private stopping = false;
  private ctx: ExtensionContext | undefined;

  constructor(
    private readonly registry: SubscriptionRegistry,
    options: TaskExtensionOptions = {},
  ) {
    this.concurrency = positive('concurrency', options.concurrency ?? DEFAULT_TASK_CONCURRENCY);
    const prefetch = options.prefetch ?? this.concurrency;
    if (!Number.isSafeInteger(prefetch) || prefetch < 0) throw new InvalidArgumentError(`Expected \`prefetch\` to be a non-negative integer, got ${describeValue(prefetch)}`);
    this.capacity = this.concurrency + prefetch;
    this.queue = new PQueue({ concurrency: this.concurrency });
    registry.setTaskCapacity(this.capacity);
  }

  /** Handles tasks named `name` whose attributes match `filter` (e.g. `{cloud: ['aws'], account: ['123']}`). */
  handle(name: string, filter: Record<string, string[]>, handler: TaskHandler): this {
    this.registry.addTaskHandler({ name, filter }, handler);
    return this;
  }

  /** Tasks held now (claiming, queued or running). */
  heldCount(): number {
    return this.held.size;
  }

  welcomed(ctx: ExtensionContext): void {
    // `subscribe` is sent by SubscribeExtension (src/worker/subscriptions.ts), not here.
    this.ctx = ctx;
  }

  frame(f: Frame, ctx: ExtensionContext): boolean {
    switch (f.t) {
      case 'task_offer':
        this.ctx = ctx;
        this.onOffer(f);
        return true;
      case 'task_lease':
        this.onLease(f);
        return true;
      case 'task_revoked':
        this.onRevoked(f.re, f.reason);
        return true;
      default:
        return false;
    }
  }

  disconnected(): void {
    // The hub released every claim of this connection and offers the tasks again: results are useless.
    for (const [id, entry] of [...this.held]) this.drop(id, entry, 'disconnected from the hub');
    this.overflow = [];
    this.paused = false;
    this.ctx = undefined;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Queued tasks are left to the hub (released when this worker disconnects); running ones finish.
    for (const [id, entry] of [...this.held]) if (entry.stage !== 'running') this.drop(id, entry, 'worker stopping');
    this.overflow = [];
    if (this.paused) this.ctx?.resume();
    this.paused = false;
    await this.queue.onIdle();
  }

  private onOffer(offer: Offer): void {
    if (this.stopping || this.held.has(offer.id) || this.overflow.some((o) => o.id === offer.id)) return;
    if (this.held.size >= this.capacity) {
      this.overflow.push(offer);
      if (!this.paused) {
        this.paused = true;
        this.ctx?.log.warn({ task: offer.id, held: this.held.size }, 'task offer beyond capacity: pausing reads from the hub');
        this.ctx?.pause();
      }
      return;
    }
    this.claim(offer);
  }

  private claim(offer: Offer): void {
    const handler = pickHandler(this.registry.taskHandlers(), offer);
    if (!handler) {
      // Not ours (subscriptions changed in flight): the offer runs out on the hub and goes elsewhere.
      this.ctx?.log.warn({ task: offer.id, name: offer.name }, 'offered a task no handler here matches; not claiming it');
      return;
    }
    this.held.set(offer.id, { offer, handler, stage: 'claiming', abort: new AbortController() });
    this.ctx?.send(frame('task_claim', { re: offer.id }));
  }

  private onLease(f: FrameOf<'task_lease'>): void {
    const entry = this.held.get(f.re);
    if (!entry || entry.stage !== 'claiming') return;
    entry.lease = f.lease;
    entry.stage = 'queued';
    this.scheduleRenewal(f.re, entry, Math.max(10, Math.floor(f.ttlMs / 3)));
    this.queue.add(() => this.run(f.re, entry), { signal: entry.abort.signal }).catch(() => undefined);
  }

  private onRevoked(id: string, reason: string): void {
    const entry = this.held.get(id);
    if (entry) {
      this.ctx?.log.warn({ task: id, reason }, 'task revoked by the hub');
      this.drop(id, entry, `revoked by the hub: ${reason}`);
    }
  }

  private async run(id: string, entry: Held): Promise<void> {
    entry.stage = 'running';
    const ctx = this.ctx;
    const done = ctx?.trackWork(`task:${id}`);
    const task: TaskInvocation = { id, name: entry.offer.name, attrs: entry.offer.attrs, data: entry.offer.data ?? null };
    let end: Frame;
    try {
      const result = (await entry.handler(task, { signal: entry.abort.signal })) ?? null;
      end = isPlainValue(result)
        ? frame('task_done', { re: id, lease: entry.lease!, result })
        : frame('task_failed', {
            re: id,
            lease: entry.lease!,
            error: toWireError(new ClaError(ErrorCode.InvalidArgument, `The ${entry.offer.name} handler returned a value that is not plain data (${describeValue(result)})`)),
          });
    } catch (error) {
      end = frame('task_failed', { re: id, lease: entry.lease!, error: toWireError(error) });
    } finally {
      done?.();
    }
    // A frame over the hub's limit would cost the connection (and every task on it), then run again.
    const bytes = encodeFrame(end).byteLength;
    if (bytes > DEFAULT_MAX_FRAME_BYTES - 1024) {
      const error = new ClaError(ErrorCode.InvalidArgument, `The ${entry.offer.name} handler's ${end.t === 'task_done' ? 'result' : 'error'} is ${bytes} bytes, over the ${DEFAULT_MAX_FRAME_BYTES}-byte frame limit`);
      end = frame('task_failed', { re: id, lease: entry.lease!, error: toWireError(error) });
    }
    // Revoked or disconnected meanwhile: the hub no longer expects this result.
    if (this.held.get(id) !== entry || entry.abort.signal.aborted) return;
    this.ctx?.send(end);
    this.drop(id, entry);
  }

  private scheduleRenewal(id: string, entry: Held, everyMs: number): void {
    const clock = this.ctx?.clock;
    if (!clock) return;
    entry.renewTimer = clock.setTimeout(() => {
      if (this.held.get(id) !== entry) return;
      this.ctx?.send(frame('task_renew', { re: id, lease: entry.lease! }));
      this.scheduleRenewal(id, entry, everyMs);
    }, everyMs);
  }

  /** Forgets a task (finished, revoked or lost), aborting its handler when a reason is given. */
  private drop(id: string, entry: Held, abortReason?: string): void {
    if (this.held.get(id) !== entry) return;
    this.held.delete(id);
    if (entry.renewTimer !== undefined) this.ctx?.clock.clearTimeout(entry.renewTimer);
    if (abortReason !== undefined) entry.abort.abort(new ClaError(ErrorCode.Aborted, `Task ${id} aborted: ${abortReason}`));
    this.slotFreed();
  }

  private slotFreed(): void {
    while (this.overflow.length > 0 && this.held.size < this.capacity && !this.stopping) this.claim(this.overflow.shift()!);
    if (this.paused && this.overflow.length === 0 && this.held.size < this.capacity) {
      this.paused = false;
      this.ctx?.resume();
    }
  }
}

/** The handler whose filter matches the offer most specifically (the hub chose this worker the same way). */
export function pickHandler(handlers: readonly RegisteredTaskHandler[], offer: { name: string; attrs: Record<string, string> }): TaskHandler | undefined {
  let best: TaskHandler | undefined;
  let bestSpec = -1;
  for (const { spec, handler } of handlers) {
    if (spec.name !== offer.name) continue;
    const score = filterSpecificity(spec.filter, offer.attrs);
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
