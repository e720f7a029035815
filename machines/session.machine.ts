/**
 * The hub's view of one worker connection (`cla-hub`): from the socket upgrade to its close.
 *
 * Pure definition (see ../shared/STYLE.md, "machines/"): side effects are no-op placeholders the hub
 * runtime replaces with `sessionMachine.provide({ actions: { ... } })`; their TSDoc says what it must do.
 * The hello deadline is computed from `context.helloTimeoutMs`, so a restored snapshot re-arms the same
 * timeout on re-entry (restored snapshots do not re-arm `after` timers, statelyai/xstate#4860).
 *
 * One state beyond the brief: `shuttingDown`. After the hub sends `shutdown` the session must stay open
 * until the worker closes the socket (its jobs may still report), but it must not look idle to the
 * dispatcher; a state says that without a context flag.
 */
import { assign, setup } from 'xstate';

export interface SessionInput {
  /**
   * How long a new connection may take to send `hello`, in ms.
   * @default 10000
   */
  helloTimeoutMs?: number;
}

export interface SessionContext {
  /** Set by HELLO_ACCEPTED. */
  workerId: string | null;
  /** Ids of the jobs assigned to this worker and not yet done, in assignment order. */
  jobs: string[];
  /** Concurrent jobs the worker announced in `hello`; 0 until then. */
  capacity: number;
  helloTimeoutMs: number;
}

/** Events the hub runtime sends after it has validated a frame or observed the socket. */
export type SessionEvent =
  | { type: 'HELLO_ACCEPTED'; workerId: string; capacity: number; disabled: boolean }
  | { type: 'HELLO_REJECTED'; code: string; message: string }
  | { type: 'JOB_ASSIGNED'; jobId: string }
  | { type: 'JOB_DONE'; jobId: string }
  | { type: 'DISABLE' }
  | { type: 'ENABLE' }
  | { type: 'SHUTDOWN' }
  | { type: 'HEARTBEAT_MISSED' }
  | { type: 'SOCKET_CLOSED'; code: number };

/** Builds the initial context from input; named so the config stays JSON-like. */
export function sessionContextFromInput({ input = {} }: { input?: SessionInput }): SessionContext {
  return {
    workerId: null,
    jobs: [],
    capacity: 0,
    helloTimeoutMs: input.helloTimeoutMs ?? 10_000,
  };
}

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
  },
  actions: {
    // --- context updates (pure, keep as they are) ---
    acceptHello: assign(({ event }) =>
      event.type === 'HELLO_ACCEPTED' ? { workerId: event.workerId, capacity: event.capacity } : {},
    ),
    addJob: assign(({ context, event }) =>
      event.type === 'JOB_ASSIGNED' && !context.jobs.includes(event.jobId)
        ? { jobs: [...context.jobs, event.jobId] }
        : {},
    ),
    removeJob: assign(({ context, event }) =>
      event.type === 'JOB_DONE' ? { jobs: context.jobs.filter((id) => id !== event.jobId) } : {},
    ),

    // --- side effects: placeholders the runtime must provide ---
    /** Runtime: send an error frame with code `HELLO_TIMEOUT` (and its close code) before closing. */
    sendHelloTimeout: () => {},
    /** Runtime: send an error frame built from the HELLO_REJECTED event's `code` and `message`. */
    sendError: () => {},
    /**
     * Runtime: close the socket gracefully with the close code implied by the error just sent (or 1000);
     * `ws` waits for the worker's close frame, then terminates.
     */
    closeSocket: () => {},
    /** Runtime: `socket.terminate()` without a close handshake; the peer is presumed dead. */
    terminateSocket: () => {},
    /** Runtime: send `disable` so the worker stops claiming work (running jobs continue). */
    sendDisable: () => {},
    /** Runtime: send `enable` so the worker claims work again. */
    sendEnable: () => {},
    /** Runtime: send `shutdown`; the worker drains, says `bye` and closes the socket. */
    sendShutdown: () => {},
    /**
     * Runtime: mark every job in `context.jobs` as failed with `WORKER_LOST` (retryable) in the store and
     * release its lease, then drop the session from the registry.
     */
    failOpenJobs: () => {},
  },
  guards: {
    isHelloDisabled: ({ event }) => event.type === 'HELLO_ACCEPTED' && event.disabled,
    isAtCapacity: ({ context }) => context.jobs.length >= context.capacity,
    hasFreeSlot: ({ context }) => context.jobs.length < context.capacity,
  },
  delays: {
    helloTimeout: ({ context }) => context.helloTimeoutMs,
  },
}).createMachine({
  id: 'session',
  description: "The hub's session for one worker connection.",
  context: sessionContextFromInput,
  initial: 'awaitingHello',
  on: {
    // Tracked in every open state so `failOpenJobs` sees the truth even after a race with DISABLE.
    JOB_ASSIGNED: { actions: 'addJob' },
    JOB_DONE: { actions: 'removeJob' },
    HEARTBEAT_MISSED: { target: '.closed', actions: 'terminateSocket' },
    SOCKET_CLOSED: { target: '.closed' },
  },
  states: {
    awaitingHello: {
      description: 'Socket upgraded (already authenticated); waiting for the hello frame.',
      after: {
        helloTimeout: { target: 'closed', actions: ['sendHelloTimeout', 'closeSocket'] },
      },
      on: {
        HELLO_ACCEPTED: [
          { guard: 'isHelloDisabled', target: 'disabled', actions: 'acceptHello' },
          { target: 'active', actions: 'acceptHello' },
        ],
        HELLO_REJECTED: { target: 'closed', actions: ['sendError', 'closeSocket'] },
        SHUTDOWN: { target: 'shuttingDown', actions: 'sendShutdown' },
      },
    },
    active: {
      description: 'Enabled: idle while jobs.length < capacity, busy at capacity.',
      initial: 'idle',
      states: {
        idle: {
          always: { guard: 'isAtCapacity', target: 'busy' },
        },
        busy: {
          always: { guard: 'hasFreeSlot', target: 'idle' },
        },
      },
      on: {
        DISABLE: { target: 'disabled', actions: 'sendDisable' },
        SHUTDOWN: { target: 'shuttingDown', actions: 'sendShutdown' },
      },
    },
    disabled: {
      description: 'Disabled by an admin: no new jobs; running jobs are still tracked.',
      on: {
        ENABLE: { target: 'active', actions: 'sendEnable' },
        SHUTDOWN: { target: 'shuttingDown', actions: 'sendShutdown' },
      },
    },
    shuttingDown: {
      description: 'shutdown sent: no new jobs; waiting for the worker to drain and close the socket.',
    },
    closed: {
      type: 'final',
      entry: 'failOpenJobs',
    },
  },
});
