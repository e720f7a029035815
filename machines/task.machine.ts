/**
 * The lifecycle of one task (the Resoto model, ../shared/seeds/resoto-worker.txt: "a task is always given
 * to exactly one worker that knows how to handle it"): pending -> claimed -> done / failed. The hub leases a
 * pending task to one worker and pushes it with its data in one step (LEASE, issue 9). The two-step path
 * of before (an offer, then the worker's claim) is gone: the hub never took it after issue 9, and a machine
 * keeps no state production does not enter.
 *
 * THIS MACHINE IS THE REFERENCE THE TASK STORE IS CHECKED AGAINST. The hub does not run an actor per
 * task (that would cost an actor per task on the hot path); instead every TaskStore method
 * (src/hub/tasks/task-store.ts) is the one conditional write that performs one of these transitions,
 * and test/unit/task-store-conformance.ts replays the machine's shortest paths (every event below) on
 * every store backend (SQLite, memory, JetStream) in lockstep with a real actor, and fails when the
 * store ends a step in another state, attempt count, holder, lease or error than the machine. Change
 * the rules here first, then the backends until they pass.
 *
 * Pure definition (see ../shared/STYLE.md, "machines/"): side effects are no-op placeholders whose TSDoc
 * says what the runtime must do.
 *
 * Time: every event carries `at` (ms since the epoch, from the runtime's injected clock), and every
 * expiry is an absolute time in context (`expiresAt`, `deadlineAt`) because a restored snapshot does not
 * re-arm `after` timers (statelyai/xstate#4860): a delay is recomputed from context on (re-)entry as
 * `expiry - context.now`, so a restored actor fires at the same instant the store's sweeper would.
 *
 * Rules:
 * - A task is leased to one worker at a time: the lease is a token plus a time to live; the worker
 *   renews it before it runs out.
 * - A renewal or completion must carry the current lease. Anything else (an old lease after the task was
 *   leased again, a completion after the lease expired) is refused: STALE_LEASE, BullMQ's lock-token rule.
 * - A lost worker (disconnect, expired lease) puts the task back to pending; after
 *   `maxAttempts` lost claims it fails with WORKER_LOST instead of going round forever.
 * - A pending task fails with NO_WORKER once its deadline passes. The deadline bounds the wait for a
 *   worker, not the run: a claimed task is governed by its lease.
 */
import { assign, setup } from 'xstate';
import { noWorkerError, workerLostError, type TaskErrorValue } from './task.helpers.ts';

export type { TaskErrorValue };

/** What the runtime passes to `createActor(taskMachine, { input })`. */
export interface TaskInput {
  id: string;
  name: string;
  attrs: Record<string, string>;
  /** Submission time, ms since the epoch: the machine's first `now`. */
  createdAt: number;
  /** How long the task may wait for a worker, in ms. @default 60000 */
  deadlineMs?: number;
  /** Time to live of a lease, in ms; the worker renews at a third of it. @default 30000 */
  leaseTtlMs?: number;
  /** Lost claims after which the task fails with WORKER_LOST. @default 5 */
  maxAttempts?: number;
}

export interface TaskContext {
  id: string;
  name: string;
  attrs: Record<string, string>;
  /** Time of the last event (or of creation), ms since the epoch. */
  now: number;
  /** When a pending task gives up waiting for a worker. */
  deadlineAt: number;
  deadlineMs: number;
  leaseTtlMs: number;
  maxAttempts: number;
  /** Claims so far (a claim that was lost counts). */
  attempts: number;
  /** The worker the task is leased to; the last one once back to pending, done or failed. */
  worker: string | null;
  /** The lease token while claimed. */
  lease: string | null;
  /** When the lease runs out. */
  expiresAt: number | null;
  result: unknown;
  error: TaskErrorValue | null;
}

/** Events the runtime sends after it validated a frame, or observed a disconnect. */
export type TaskEvent =
  /** The hub leases a pending task to a worker and pushes it with its data (one step: store.lease). */
  | { type: 'LEASE'; workerId: string; lease: string; at: number }
  /** The worker refused a pushed lease without running it (store.reject). */
  | { type: 'REJECT'; lease: string; at: number }
  | { type: 'RENEW'; lease: string; at: number }
  | { type: 'DONE'; lease: string; result: unknown; at: number }
  | { type: 'FAIL'; lease: string; error: TaskErrorValue; at: number }
  | { type: 'WORKER_LOST'; workerId: string; at: number };

/** Builds the initial context from input; named so the config stays JSON-like. */
export function taskContextFromInput({ input }: { input: TaskInput }): TaskContext {
  const deadlineMs = input.deadlineMs ?? 60_000;
  return {
    id: input.id,
    name: input.name,
    attrs: input.attrs,
    now: input.createdAt,
    deadlineAt: input.createdAt + deadlineMs,
    deadlineMs,
    leaseTtlMs: input.leaseTtlMs ?? 30_000,
    maxAttempts: input.maxAttempts ?? 5,
    attempts: 0,
    worker: null,
    lease: null,
    expiresAt: null,
    result: null,
    error: null,
  };
}

export const taskMachine = setup({
  types: {
    context: {} as TaskContext,
    events: {} as TaskEvent,
    input: {} as TaskInput,
  },
  actions: {
    // --- context updates (pure, keep as they are) ---
    /** Every event moves `now`; the expiry transitions (no event) keep the expiry as `now`. */
    tick: assign(({ context, event }) => ('at' in event ? { now: Math.max(context.now, event.at) } : {})),
    expireNow: assign(({ context }) => ({ now: Math.max(context.now, context.expiresAt ?? context.now) })),
    deadlineNow: assign(({ context }) => ({ now: Math.max(context.now, context.deadlineAt) })),
    assignLease: assign(({ context, event }) =>
      event.type === 'LEASE'
        ? { worker: event.workerId, lease: event.lease, attempts: context.attempts + 1, expiresAt: event.at + context.leaseTtlMs }
        : {},
    ),
    /** A rejected lease did not run: it is not an attempt. */
    assignReject: assign(({ context }) => ({ attempts: Math.max(0, context.attempts - 1), lease: null, expiresAt: null })),
    assignRenew: assign(({ context, event }) => (event.type === 'RENEW' ? { expiresAt: event.at + context.leaseTtlMs } : {})),
    /** Back to pending: nobody holds the task. `worker` is kept, so a failure can name the last one. */
    release: assign({ lease: null, expiresAt: null }),
    assignResult: assign(({ event }) => (event.type === 'DONE' ? { result: event.result ?? null, lease: null, expiresAt: null } : {})),
    assignFailure: assign(({ event }) => (event.type === 'FAIL' ? { error: event.error, lease: null, expiresAt: null } : {})),
    assignNoWorker: assign(({ context }) => ({ error: noWorkerError(context), lease: null, expiresAt: null })),
    assignWorkerLost: assign(({ context }) => ({ error: workerLostError(context), lease: null, expiresAt: null })),

    // --- side effects: placeholders the runtime must provide ---
    /** Runtime: send `task_push { id, name, attrs, data, lease, ttlMs }` to `context.worker`, counting it against its capacity. */
    sendPush: () => {},
    /** Runtime: answer a stale RENEW with `task_revoked`, so the worker aborts its handler. */
    refuseRenew: () => {},
    /** Runtime: answer a stale DONE / FAIL with an `error` frame, code STALE_LEASE (retryable false). */
    refuseCompletion: () => {},
    /**
     * Runtime: tell the worker that held the lease (`context.worker`) with `task_revoked`, if it
     * is still connected, and free its slot. Not needed after WORKER_LOST: that worker is gone.
     */
    sendRevoked: () => {},
    /** Runtime: free the slot of `context.worker` (a finished or lost task no longer counts). */
    freeSlot: () => {},
    /** Runtime: give `result` or `error` to whoever waits for the task (the API's `result$`, the CLI). */
    notifyFinished: () => {},
  },
  guards: {
    isCurrentLease: ({ context, event }) => 'lease' in event && event.lease === context.lease,
    isHolder: ({ context, event }) => event.type === 'WORKER_LOST' && event.workerId === context.worker,
    isLastAttemptLost: ({ context, event }) =>
      (event.type !== 'WORKER_LOST' || event.workerId === context.worker) && context.attempts >= context.maxAttempts,
  },
  delays: {
    leaseExpiry: ({ context }) => Math.max(0, (context.expiresAt ?? context.now) - context.now),
    deadline: ({ context }) => Math.max(0, context.deadlineAt - context.now),
  },
}).createMachine({
  id: 'task',
  description: 'One task: leased and pushed to one matching worker under a renewable lease, done or failed once.',
  context: taskContextFromInput,
  initial: 'pending',
  // Fallbacks when no state-level transition is enabled: an event the task's state cannot take is refused.
  on: {
    RENEW: { actions: ['tick', 'refuseRenew'] },
    DONE: { actions: ['tick', 'refuseCompletion'] },
    FAIL: { actions: ['tick', 'refuseCompletion'] },
  },
  states: {
    pending: {
      description: 'Waiting for a matching worker with a free slot; fails with NO_WORKER at its deadline.',
      after: {
        deadline: { target: 'failed', actions: ['deadlineNow', 'assignNoWorker'] },
      },
      on: {
        LEASE: { target: 'claimed', actions: ['tick', 'assignLease', 'sendPush'] },
      },
    },
    claimed: {
      description: 'Leased to one worker until expiresAt; each renewal moves expiresAt and re-arms the timer.',
      after: {
        leaseExpiry: [
          { guard: 'isLastAttemptLost', target: 'failed', actions: ['expireNow', 'sendRevoked', 'assignWorkerLost'] },
          { target: 'pending', actions: ['expireNow', 'sendRevoked', 'release'] },
        ],
      },
      on: {
        RENEW: { guard: 'isCurrentLease', target: 'claimed', reenter: true, actions: ['tick', 'assignRenew'] },
        REJECT: { guard: 'isCurrentLease', target: 'pending', actions: ['tick', 'freeSlot', 'assignReject'] },
        DONE: { guard: 'isCurrentLease', target: 'done', actions: ['tick', 'freeSlot', 'assignResult'] },
        FAIL: { guard: 'isCurrentLease', target: 'failed', actions: ['tick', 'freeSlot', 'assignFailure'] },
        WORKER_LOST: [
          { guard: 'isLastAttemptLost', target: 'failed', actions: ['tick', 'freeSlot', 'assignWorkerLost'] },
          { guard: 'isHolder', target: 'pending', actions: ['tick', 'freeSlot', 'release'] },
        ],
      },
    },
    done: {
      type: 'final',
      entry: 'notifyFinished',
    },
    failed: {
      type: 'final',
      entry: 'notifyFinished',
    },
  },
});
