/**
 * The worker process lifecycle (`cla-worker`): register, dial the hub, run jobs, reconnect with backoff,
 * drain on stop.
 *
 * Pure definition (see ../shared/STYLE.md, "machines/"): every side effect below is a no-op placeholder
 * that the worker runtime replaces with `workerMachine.provide({ actions: { ... } })`; its TSDoc says
 * what the runtime must do. Context updates are named `assign` actions, so `toJSON()` names every action
 * and the config opens in Stately's editor.
 *
 * Idle and busy (issue 9, "machines tell the truth"): one capacity model for everything the process
 * runs. The runtime counts jobs (exec, eval, ship, fetch, probe), tasks it holds (queued in its p-queue
 * or running) and action handlers in one place (src/worker/work-load.ts) and reports the total with
 * `LOAD { running }` when it reaches or leaves zero: `connected.busy` while anything runs, `connected.idle`
 * otherwise, and `stopping` ends when it is zero. Not "busy when full": under a burst a full worker frees
 * a slot and gets the next task many times a second, and each flip would be an event and a `state` frame.
 * Counts in between change no state, so they are not events: a burst of tasks costs two events and two
 * `state` frames, not two per task. Capacity (what the hub may give it) is announced in `hello` and
 * `subscribe` and enforced by the runtime; the hub never reads idle/busy to dispatch.
 *
 * Timers: `after` timers are not re-armed when a persisted snapshot is restored (statelyai/xstate#4860,
 * #5331), so every number a delay is computed from (`attempt`, `backoffBaseMs`, `backoffMaxMs`, `graceMs`)
 * lives in context and a restored actor recomputes the same delay on re-entry.
 */
import { assign, setup } from 'xstate';
import { backoffMs } from './worker.helpers.ts';

/** What the runtime passes to `createActor(workerMachine, { input })`. */
export interface WorkerInput {
  /** Worker id from a previous registration; with `token`, the worker starts in `registered`. */
  id?: string;
  /** Worker token from a previous registration. */
  token?: string;
  /**
   * First reconnect delay; attempt `n` waits `min(backoffMaxMs, backoffBaseMs * 2^n)` ms.
   * @default 500
   */
  backoffBaseMs?: number;
  /**
   * Ceiling of the reconnect delay, in ms.
   * @default 30000
   */
  backoffMaxMs?: number;
  /**
   * How long `stopping` lets running jobs finish before cancelling them, in ms.
   * @default 10000
   */
  graceMs?: number;
}

export interface WorkerContext {
  id: string | null;
  token: string | null;
  /** Reconnect attempts since the last WELCOME; the exponent of the backoff. */
  attempt: number;
  /**
   * Units of work held by this process (jobs, tasks queued or running, action handlers) at the last
   * `LOAD`. Zero or not is always current; the exact count is the one reported when it last left zero.
   */
  running: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Close code of the last socket close, for the exit status and logs. */
  closeCode: number | null;
  /** Why the worker is stopping (hub SHUTDOWN or local STOP). */
  reason: string | null;
  graceMs: number;
}

/**
 * Events the runtime sends. `SOCKET_CLOSED.final` is true when the hub said never to reconnect (auth
 * failed, unknown environment, shutdown, unregistered, protocol version); the runtime derives it from
 * the close code.
 */
export type WorkerEvent =
  | { type: 'CREDENTIALS'; id: string; token: string }
  | { type: 'CONNECT' }
  | { type: 'SOCKET_OPEN' }
  | { type: 'WELCOME'; disabled: boolean }
  | { type: 'SOCKET_CLOSED'; code: number; final: boolean }
  | { type: 'LOAD'; running: number }
  | { type: 'DISABLE' }
  | { type: 'ENABLE' }
  | { type: 'SHUTDOWN'; reason?: string }
  | { type: 'STOP'; reason?: string };

/**
 * Builds the initial context from input. A named function (not inline in the config) so the config
 * stays JSON-like; it is the only function the config references.
 */
export function workerContextFromInput({ input = {} }: { input?: WorkerInput }): WorkerContext {
  return {
    id: input.id ?? null,
    token: input.token ?? null,
    attempt: 0,
    running: 0,
    backoffBaseMs: input.backoffBaseMs ?? 500,
    backoffMaxMs: input.backoffMaxMs ?? 30_000,
    closeCode: null,
    reason: null,
    graceMs: input.graceMs ?? 10_000,
  };
}

export const workerMachine = setup({
  types: {
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
    input: {} as WorkerInput,
  },
  actions: {
    // --- context updates (pure, keep as they are) ---
    storeCredentials: assign(({ event }) =>
      event.type === 'CREDENTIALS' ? { id: event.id, token: event.token } : {},
    ),
    resetAttempt: assign({ attempt: 0 }),
    incrementAttempt: assign(({ context }) => ({ attempt: context.attempt + 1 })),
    recordLoad: assign(({ event }) => (event.type === 'LOAD' ? { running: event.running } : {})),
    recordClose: assign(({ event }) => (event.type === 'SOCKET_CLOSED' ? { closeCode: event.code } : {})),
    recordReason: assign(({ event }) =>
      event.type === 'SHUTDOWN'
        ? { reason: event.reason ?? 'hub requested shutdown' }
        : event.type === 'STOP'
          ? { reason: event.reason ?? 'local stop' }
          : {},
    ),

    // --- side effects: placeholders the runtime must provide ---
    /** Runtime: persist `context.id` / `context.token` (the worker's credentials file) so a restart skips registration. */
    saveCredentials: () => {},
    /**
     * Runtime: dial the hub's websocket with `context.id`/`context.token`; report `SOCKET_OPEN` once open
     * and `SOCKET_CLOSED { code, final }` on close or dial failure (including a dial timeout).
     */
    openConnection: () => {},
    /** Runtime: send the `hello` frame (protocol version, id, capacity, labels) on the open socket. */
    sendHello: () => {},
    /** Runtime: send `bye` so the hub stops assigning work; the socket stays open while jobs drain. */
    sendBye: () => {},
    /**
     * Runtime: stop taking new work, hand queued tasks back to the hub, let running work finish; `LOAD`
     * with `running: 0` once nothing is left.
     */
    drainJobs: () => {},
    /**
     * Runtime: abort everything running (AbortSignal, kill the process tree). Results cannot be reported
     * any more; the hub marks them lost on its side. Each aborted unit ends as usual, so the runtime's
     * `LOAD { running: 0 }` follows once they are gone.
     */
    cancelAllJobs: () => {},
    /** Runtime: close the socket if one is open (normal close code, or 1001 when stopping); tolerate none. */
    closeConnection: () => {},
    /**
     * Runtime: flush logs and exit the process: status 0 for a local STOP or hub SHUTDOWN, non-zero when
     * `context.closeCode` is a final refusal (auth failed, unknown environment, protocol version).
     */
    exitProcess: () => {},
  },
  guards: {
    hasCredentials: ({ context }) => context.id !== null && context.token !== null,
    isWelcomeDisabled: ({ event }) => event.type === 'WELCOME' && event.disabled,
    isFinalClose: ({ event }) => event.type === 'SOCKET_CLOSED' && event.final,
    isWorking: ({ context }) => context.running > 0,
    isIdle: ({ context }) => context.running === 0,
  },
  delays: {
    /** Exponential backoff without jitter; the runtime provides a jittered version (see `backoffMs`). */
    reconnectDelay: ({ context }) => backoffMs(context.attempt, context.backoffBaseMs, context.backoffMaxMs),
    graceDelay: ({ context }) => context.graceMs,
  },
}).createMachine({
  id: 'worker',
  description: 'Lifecycle of one cla-worker process: a pull agent that dials out to the hub.',
  context: workerContextFromInput,
  initial: 'unregistered',
  on: {
    // Tracked in every state, so `running` says whether anything runs in this process.
    LOAD: { actions: 'recordLoad' },
    // Socket not (known to be) up: no `bye`. States with an open socket override this.
    STOP: { target: '.stopping', actions: 'recordReason' },
  },
  states: {
    unregistered: {
      description: 'No id/token yet; the runtime registers with a passkey and sends CREDENTIALS.',
      always: { guard: 'hasCredentials', target: 'registered' },
      on: {
        CREDENTIALS: { target: 'registered', actions: ['storeCredentials', 'saveCredentials'] },
      },
    },
    registered: {
      on: {
        CONNECT: { target: 'connecting' },
      },
    },
    connecting: {
      entry: 'openConnection',
      on: {
        SOCKET_OPEN: { actions: 'sendHello' },
        WELCOME: [
          { guard: 'isWelcomeDisabled', target: 'disabled', actions: 'resetAttempt' },
          { target: 'connected', actions: 'resetAttempt' },
        ],
        SOCKET_CLOSED: [
          { guard: 'isFinalClose', target: 'shutdown', actions: 'recordClose' },
          { target: 'reconnecting', actions: 'recordClose' },
        ],
        SHUTDOWN: { target: 'stopping', actions: 'recordReason' },
      },
    },
    connected: {
      description: 'Welcomed and enabled: the hub may give it work up to the capacities it announced.',
      initial: 'idle',
      states: {
        idle: {
          description: 'Nothing runs in this process.',
          always: { guard: 'isWorking', target: 'busy' },
        },
        busy: {
          description: 'At least one job, task (queued or running) or action handler runs.',
          always: { guard: 'isIdle', target: 'idle' },
        },
      },
      on: {
        DISABLE: { target: 'disabled' },
        SHUTDOWN: { target: 'stopping', actions: ['recordReason', 'sendBye'] },
        STOP: { target: 'stopping', actions: ['recordReason', 'sendBye'] },
        SOCKET_CLOSED: [
          { guard: 'isFinalClose', target: 'stopping', actions: 'recordClose' },
          { target: 'reconnecting', actions: ['recordClose', 'cancelAllJobs'] },
        ],
      },
    },
    disabled: {
      description: 'Connected but disabled by the hub: running jobs finish, no new work is claimed.',
      on: {
        ENABLE: { target: 'connected' },
        SHUTDOWN: { target: 'stopping', actions: ['recordReason', 'sendBye'] },
        STOP: { target: 'stopping', actions: ['recordReason', 'sendBye'] },
        SOCKET_CLOSED: [
          { guard: 'isFinalClose', target: 'stopping', actions: 'recordClose' },
          { target: 'reconnecting', actions: ['recordClose', 'cancelAllJobs'] },
        ],
      },
    },
    reconnecting: {
      description: 'Socket lost: wait reconnectDelay (backoff from context.attempt), then dial again.',
      after: {
        reconnectDelay: { target: 'connecting', actions: 'incrementAttempt' },
      },
      on: {
        // Nothing runs and no socket is open: no need to drain.
        STOP: { target: 'shutdown', actions: 'recordReason' },
      },
    },
    stopping: {
      description: 'Draining: running jobs get graceMs to finish, then they are cancelled.',
      entry: 'drainJobs',
      always: { guard: 'isIdle', target: 'shutdown' },
      after: {
        graceDelay: { target: 'shutdown', actions: ['cancelAllJobs'] },
      },
      on: {
        // A second SIGINT/SIGTERM does not wait for the grace period.
        STOP: { target: 'shutdown', actions: ['cancelAllJobs'] },
        // Results can no longer be reported.
        SOCKET_CLOSED: { target: 'shutdown', actions: ['recordClose', 'cancelAllJobs'] },
      },
    },
    shutdown: {
      type: 'final',
      entry: ['closeConnection', 'exitProcess'],
    },
  },
});
