/**
 * The worker process lifecycle (`cla-worker`): register, dial the hub, run jobs, reconnect with backoff,
 * drain on stop.
 *
 * Pure definition (see ../shared/STYLE.md, "machines/"): every side effect below is a no-op placeholder
 * that the worker runtime replaces with `workerMachine.provide({ actions: { ... } })`; its TSDoc says
 * what the runtime must do. Context updates are named `assign` actions, so `toJSON()` names every action
 * and the config opens in Stately's editor.
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
  /** Ids of the jobs running in this process, in start order. */
  jobs: string[];
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
  | { type: 'JOB_STARTED'; jobId: string }
  | { type: 'JOB_FINISHED'; jobId: string }
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
    jobs: [],
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
    addJob: assign(({ context, event }) =>
      event.type === 'JOB_STARTED' && !context.jobs.includes(event.jobId)
        ? { jobs: [...context.jobs, event.jobId] }
        : {},
    ),
    removeJob: assign(({ context, event }) =>
      event.type === 'JOB_FINISHED' ? { jobs: context.jobs.filter((id) => id !== event.jobId) } : {},
    ),
    /** Forget every job; always runs after `cancelAllJobs`, which still sees the list. */
    clearJobs: assign({ jobs: [] }),
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
    /** Runtime: stop claiming new work and let running jobs finish; report each with `JOB_FINISHED`. */
    drainJobs: () => {},
    /**
     * Runtime: abort every job in `context.jobs` (AbortSignal, kill the process tree). Their results cannot
     * be reported any more; the hub marks them lost on its side.
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
    hasJobs: ({ context }) => context.jobs.length > 0,
    noJobs: ({ context }) => context.jobs.length === 0,
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
    // Tracked in every state, so `jobs` mirrors what runs in this process.
    JOB_STARTED: { actions: 'addJob' },
    JOB_FINISHED: { actions: 'removeJob' },
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
      description: 'Welcomed and enabled: the runtime claims work while idle (and below its capacity).',
      initial: 'idle',
      states: {
        idle: {
          always: { guard: 'hasJobs', target: 'busy' },
        },
        busy: {
          always: { guard: 'noJobs', target: 'idle' },
        },
      },
      on: {
        DISABLE: { target: 'disabled' },
        SHUTDOWN: { target: 'stopping', actions: ['recordReason', 'sendBye'] },
        STOP: { target: 'stopping', actions: ['recordReason', 'sendBye'] },
        SOCKET_CLOSED: [
          { guard: 'isFinalClose', target: 'stopping', actions: 'recordClose' },
          { target: 'reconnecting', actions: ['recordClose', 'cancelAllJobs', 'clearJobs'] },
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
          { target: 'reconnecting', actions: ['recordClose', 'cancelAllJobs', 'clearJobs'] },
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
      always: { guard: 'noJobs', target: 'shutdown' },
      after: {
        graceDelay: { target: 'shutdown', actions: ['cancelAllJobs', 'clearJobs'] },
      },
      on: {
        // A second SIGINT/SIGTERM does not wait for the grace period.
        STOP: { target: 'shutdown', actions: ['cancelAllJobs', 'clearJobs'] },
        // Results can no longer be reported.
        SOCKET_CLOSED: { target: 'shutdown', actions: ['recordClose', 'cancelAllJobs', 'clearJobs'] },
      },
    },
    shutdown: {
      type: 'final',
      entry: ['closeConnection', 'exitProcess'],
    },
  },
});
