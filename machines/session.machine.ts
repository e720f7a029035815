/**
 * The hub's view of one worker connection (`cla-hub`), from its accepted `hello` to its close.
 *
 * Pure definition (see ../shared/STYLE.md, "machines/"): side effects are no-op placeholders the hub
 * runtime replaces with `sessionMachine.provide({ actions: { ... } })`; their TSDoc says what it must do.
 *
 * Only states the hub really is in (issue 9, "machines tell the truth"). Before `hello` a connection is
 * not a worker session yet: its first frame may as well be `register`, `unregister` or `admin_hello`, so
 * the challenge, the hello timeout (HELLO_TIMEOUT, close 4004) and every hello refusal belong to
 * src/hub/connection-router.ts, and a session starts from the accepted hello's facts (input) in
 * `active` or `disabled`. A dead peer is found by the transport (ws pings, src/transport/ws-server.ts),
 * which terminates the socket: the session sees SOCKET_CLOSED like any other close. What modelled those
 * steps here is gone: `awaitingHello` (left in the same turn by the HELLO_ACCEPTED the session sent
 * itself right after start), HELLO_REJECTED and HEARTBEAT_MISSED (never sent by the hub).
 *
 * One state beyond the brief: `shuttingDown`. After the hub sends `shutdown` the session must stay open
 * until the worker closes the socket (its jobs may still report), but it must not look idle to the
 * dispatcher; a state says that without a context flag.
 */
import { assign, setup } from 'xstate';

/** The accepted hello's facts: what the runtime passes to `createActor(sessionMachine, { input })`. */
export interface SessionInput {
  /** Concurrent jobs the worker announced in `hello`. */
  capacity: number;
  /** The worker is disabled in the registry: the session starts in `disabled`. @default false */
  disabled?: boolean;
}

/**
 * No worker id: the runtime knows whose session it is, and sessions with the same facts then have equal
 * snapshots, which the hub shares between idle sessions (issue 9, hub heap per idle worker).
 */
export interface SessionContext {
  /**
   * Jobs assigned to this worker and not yet done. A count, not their ids: the runtime holds the jobs
   * (and sends each `JOB_ASSIGNED` / `JOB_DONE` once per job), so a session's snapshot depends only on its
   * state, count and hello facts, and the hub can share and reuse snapshots and the steps between them
   * (src/hub/worker-session.ts, issue 13).
   */
  running: number;
  /** Concurrent jobs the worker announced in `hello`. */
  capacity: number;
  /** Where the session starts; read once, by the `opening` state. */
  startsDisabled: boolean;
}

/** Events the hub runtime sends after it has validated a frame or observed the socket. */
export type SessionEvent =
  | { type: 'JOB_ASSIGNED' }
  | { type: 'JOB_DONE' }
  | { type: 'DISABLE' }
  | { type: 'ENABLE' }
  | { type: 'SHUTDOWN' }
  | { type: 'SOCKET_CLOSED'; code: number };

/**
 * Builds the initial context from input; named so the config stays JSON-like. Tolerates no input: xstate's
 * pure `transition()` builds a throwaway actor, without input, on every call (the hub steps a session on
 * every job's start and end), and a throw here cost an Error with its stack trace each time.
 */
export function sessionContextFromInput({ input }: { input: SessionInput | undefined }): SessionContext {
  return {
    running: 0,
    capacity: input?.capacity ?? 0,
    startsDisabled: input?.disabled ?? false,
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
    addJob: assign(({ context }) => ({ running: context.running + 1 })),
    /** Never below zero: a `JOB_DONE` without a job leaves the count as it is. */
    removeJob: assign(({ context }) => ({ running: Math.max(0, context.running - 1) })),

    // --- side effects: placeholders the runtime must provide ---
    /** Runtime: send `disable` so the worker stops claiming work (running jobs continue). */
    sendDisable: () => {},
    /** Runtime: send `enable` so the worker claims work again. */
    sendEnable: () => {},
    /** Runtime: send `shutdown`; the worker drains, says `bye` and closes the socket. */
    sendShutdown: () => {},
    /**
     * Runtime: mark every job the session still holds (`context.running` of them) as failed with
     * `WORKER_LOST` (retryable) in the store and release its lease, then drop the session from the registry.
     */
    failOpenJobs: () => {},
  },
  guards: {
    startsDisabled: ({ context }) => context.startsDisabled,
    isAtCapacity: ({ context }) => context.running >= context.capacity,
    hasFreeSlot: ({ context }) => context.running < context.capacity,
  },
}).createMachine({
  id: 'session',
  description: "The hub's session for one worker connection.",
  context: sessionContextFromInput,
  initial: 'opening',
  on: {
    // Tracked in every open state so `failOpenJobs` sees the truth even after a race with DISABLE.
    JOB_ASSIGNED: { actions: 'addJob' },
    JOB_DONE: { actions: 'removeJob' },
    SOCKET_CLOSED: { target: '.closed' },
  },
  states: {
    opening: {
      description: 'The hello was accepted (src/hub/connection-router.ts): start enabled or disabled, as the registry says.',
      always: [{ guard: 'startsDisabled', target: 'disabled' }, { target: 'active' }],
    },
    active: {
      description: 'Enabled: idle while running < capacity, busy at capacity.',
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
