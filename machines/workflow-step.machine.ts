/**
 * One step of a workflow run on the hub: the action is broadcast to every subscriber of it, and the step
 * waits for the answers of those that asked to be waited for (`waitForCompletion`).
 *
 * Pure definition (see ../shared/STYLE.md, "machines/"): side effects are no-op placeholders that the
 * hub runtime (src/hub/actions/workflow-run-runtime.ts) replaces with `provide({ actions })`.
 *
 * The step is over when every subscriber that existed when it started has answered (`action_done` or
 * `action_error`), has left for good (disconnected and not back within `graceMs`, or unsubscribed), or
 * has run past its own `timeoutMs`; or, for all of them at once, when the step's deadline passes.
 *
 * Time: the machine never reads a clock. Every event carries the runtime's `now`, and every deadline is
 * an absolute time in context (`deadline`, each subscriber's `timeoutAt` and `graceUntil`). The one
 * timer, `nextDeadline`, waits from `context.now` to the nearest of them; every event that changes them
 * re-enters `waiting`, which re-arms the timer. A snapshot restored after a hub restart has no timer
 * (statelyai/xstate#4860): the runtime sends RESUME, which starts a grace period for every pending
 * subscriber (none is connected yet) and re-enters `waiting`.
 */
import { assign, setup } from 'xstate';
import { nearestDeadline, settledStatuses, type StepSubscriber } from './workflow-step.helpers.ts';

export type { StepSubscriber, SubscriberStatus } from './workflow-step.helpers.ts';

/** A subscriber as the runtime knows it when the step starts. */
export interface StepSubscriberInput {
  id: string;
  /** Wait for this subscriber's answer (its `waitForCompletion`). */
  wait: boolean;
  /** The subscriber's own time limit for one action, in ms. */
  timeoutMs: number;
  /**
   * Set when the subscriber is disconnected at the start (reconnecting): the absolute time its grace
   * period ends. It gets the action when it is back.
   */
  graceUntil?: number | null;
}

/** What the runtime passes to `createActor(workflowStepMachine, { input })`. */
export interface WorkflowStepInput {
  runId: string;
  /** Position of the step in its workflow, from 0. */
  index: number;
  step: string;
  action: string;
  /** Id of the `action` frame; every answer carries it as `re`, and a resent action keeps it. */
  messageId: string;
  /** The step's own time limit, in ms. */
  timeoutMs: number;
  /**
   * How long a disconnected subscriber may take to come back before it counts as gone, in ms.
   * @default 10000
   */
  graceMs?: number;
  /** The runtime's clock when the step starts (ms since the epoch). */
  now: number;
  subscribers: StepSubscriberInput[];
}

export interface WorkflowStepContext {
  runId: string;
  index: number;
  step: string;
  action: string;
  messageId: string;
  startedAt: number;
  /** When the whole step times out (absolute ms). */
  deadline: number;
  graceMs: number;
  /** The runtime's time at the last event, or the deadline whose timer fired last. */
  now: number;
  subscribers: StepSubscriber[];
  /** Subscribers that ran out of time at the last deadline; `abortExpired` tells them to stop. */
  expired: string[];
  /** Why the step was aborted. */
  reason: string | null;
}

/** Events the runtime sends, each with its clock's `now`. */
export type WorkflowStepEvent =
  | { type: 'ANSWER'; subscriber: string; ok: boolean; now: number }
  /**
   * The answers that arrived in one turn of the runtime's event loop, in arrival order: one event, one
   * pass over the subscribers, instead of one ANSWER each (a step of 1,000 subscribers made O(n²) work
   * with single answers, issue 9). The same as an ANSWER for each, in order.
   */
  | { type: 'ANSWERS'; answers: ReadonlyArray<{ subscriber: string; ok: boolean }>; now: number }
  | { type: 'DISCONNECTED'; subscriber: string; now: number }
  | { type: 'RECONNECTED'; subscriber: string; now: number }
  | { type: 'UNSUBSCRIBED'; subscriber: string; now: number }
  | { type: 'ABORT'; reason: string; now: number }
  | { type: 'RESUME'; now: number; graceMs: number };

/** Builds the initial context from input; named so the config stays JSON-like. */
export function workflowStepContextFromInput({ input }: { input: WorkflowStepInput }): WorkflowStepContext {
  return {
    runId: input.runId,
    index: input.index,
    step: input.step,
    action: input.action,
    messageId: input.messageId,
    startedAt: input.now,
    deadline: input.now + input.timeoutMs,
    graceMs: input.graceMs ?? 10_000,
    now: input.now,
    subscribers: input.subscribers.map((s) => ({
      id: s.id,
      wait: s.wait,
      timeoutAt: input.now + s.timeoutMs,
      graceUntil: s.wait ? (s.graceUntil ?? null) : null,
      status: s.wait ? 'pending' : 'sent',
      answeredAt: null,
    })),
    expired: [],
    reason: null,
  };
}

const update = (context: WorkflowStepContext, id: string, patch: Partial<StepSubscriber>, onlyPending = true): StepSubscriber[] =>
  context.subscribers.map((s) => (s.id === id && (!onlyPending || s.status === 'pending') ? { ...s, ...patch } : s));

export const workflowStepMachine = setup({
  types: {
    context: {} as WorkflowStepContext,
    events: {} as WorkflowStepEvent,
    input: {} as WorkflowStepInput,
  },
  actions: {
    // --- context updates (pure) ---
    recordAnswer: assign(({ context, event }) => {
      if (event.type !== 'ANSWER' && event.type !== 'ANSWERS') return {};
      // A subscriber's first answer counts (as with one ANSWER each): later ones find it answered.
      const answers = new Map<string, boolean>();
      for (const a of event.type === 'ANSWER' ? [event] : event.answers) if (!answers.has(a.subscriber)) answers.set(a.subscriber, a.ok);
      // A fire-and-forget subscriber's answer is recorded too (for `workflow show`); it never blocks.
      const subscribers = context.subscribers.map((s) => {
        const ok = answers.get(s.id);
        return ok !== undefined && (s.status === 'pending' || s.status === 'sent')
          ? { ...s, status: ok ? ('done' as const) : ('error' as const), answeredAt: event.now, graceUntil: null }
          : s;
      });
      return { now: event.now, subscribers };
    }),
    startGrace: assign(({ context, event }) =>
      event.type === 'DISCONNECTED'
        ? { now: event.now, subscribers: update(context, event.subscriber, { graceUntil: event.now + context.graceMs }) }
        : {},
    ),
    endGrace: assign(({ context, event }) =>
      event.type === 'RECONNECTED' ? { now: event.now, subscribers: update(context, event.subscriber, { graceUntil: null }) } : {},
    ),
    markGone: assign(({ context, event }) =>
      event.type === 'UNSUBSCRIBED'
        ? { now: event.now, subscribers: update(context, event.subscriber, { status: 'gone', answeredAt: event.now, graceUntil: null }) }
        : {},
    ),
    /** The timer fired at the nearest deadline: whoever's time is up is expired. */
    expireDeadlines: assign(({ context }) => {
      const now = nearestDeadline(context);
      const expired: string[] = [];
      const subscribers = context.subscribers.map((s) => {
        if (s.status !== 'pending') return s;
        if (s.graceUntil !== null && s.graceUntil <= now) return { ...s, status: 'gone' as const, answeredAt: now, graceUntil: null };
        if (s.timeoutAt <= now) {
          expired.push(s.id);
          return { ...s, status: 'timeout' as const, answeredAt: now };
        }
        return s;
      });
      return { now, subscribers, expired };
    }),
    /** The step's own deadline passed: every pending subscriber timed out. */
    expireAll: assign(({ context }) => {
      const now = context.deadline;
      const expired = context.subscribers.filter((s) => s.status === 'pending').map((s) => s.id);
      const subscribers = context.subscribers.map((s) => (s.status === 'pending' ? { ...s, status: 'timeout' as const, answeredAt: now } : s));
      return { now, subscribers, expired };
    }),
    markAborted: assign(({ context, event }) => {
      if (event.type !== 'ABORT') return {};
      const subscribers = context.subscribers.map((s) => (s.status === 'pending' ? { ...s, status: 'aborted' as const, answeredAt: event.now } : s));
      return { now: event.now, reason: event.reason, subscribers };
    }),
    resume: assign(({ context, event }) =>
      event.type === 'RESUME'
        ? {
            now: event.now,
            subscribers: context.subscribers.map((s) => (s.status === 'pending' ? { ...s, graceUntil: event.now + event.graceMs } : s)),
          }
        : {},
    ),

    // --- side effects: placeholders the runtime must provide ---
    /** Runtime: send the `action` frame (`context.messageId`) to every subscriber in `context.subscribers` that is connected. */
    broadcastAction: () => {},
    /** Runtime: send the same `action` frame (same id) to the RECONNECTED event's subscriber. */
    resendAction: () => {},
    /** Runtime: send `abort` (re = messageId) to every subscriber in `context.expired`. */
    abortExpired: () => {},
    /** Runtime: send `abort` with the ABORT event's reason to every subscriber still `pending`. */
    abortPending: () => {},
  },
  guards: {
    allAnswered: ({ context }) => settledStatuses(context.subscribers),
    anyFailed: ({ context }) => context.subscribers.some((s) => s.status === 'error' || s.status === 'timeout'),
    isPendingSubscriber: ({ context, event }) =>
      'subscriber' in event && context.subscribers.some((s) => s.id === event.subscriber && s.status === 'pending'),
    stepDeadlineReached: ({ context }) => nearestDeadline(context) >= context.deadline,
  },
  delays: {
    nextDeadline: ({ context }) => Math.max(0, nearestDeadline(context) - context.now),
  },
}).createMachine({
  id: 'workflowStep',
  description: 'One step of a workflow run: broadcast the action, wait for the subscribers to answer.',
  context: workflowStepContextFromInput,
  initial: 'broadcasting',
  states: {
    broadcasting: {
      entry: 'broadcastAction',
      always: { target: 'waiting' },
    },
    waiting: {
      description: 'Every change of a deadline re-enters this state, which re-arms nextDeadline.',
      always: { guard: 'allAnswered', target: 'settled' },
      after: {
        nextDeadline: [
          { guard: 'stepDeadlineReached', target: 'timedOut', actions: ['expireAll', 'abortExpired'] },
          { target: 'waiting', reenter: true, actions: ['expireDeadlines', 'abortExpired'] },
        ],
      },
      on: {
        ANSWER: { target: 'waiting', reenter: true, actions: 'recordAnswer' },
        ANSWERS: { target: 'waiting', reenter: true, actions: 'recordAnswer' },
        DISCONNECTED: { target: 'waiting', reenter: true, actions: 'startGrace' },
        RECONNECTED: [
          { guard: 'isPendingSubscriber', target: 'waiting', reenter: true, actions: ['endGrace', 'resendAction'] },
          { target: 'waiting', reenter: true, actions: 'endGrace' },
        ],
        UNSUBSCRIBED: { target: 'waiting', reenter: true, actions: 'markGone' },
        RESUME: { target: 'waiting', reenter: true, actions: 'resume' },
        ABORT: { target: 'aborted', actions: ['abortPending', 'markAborted'] },
      },
    },
    settled: {
      always: [{ guard: 'anyFailed', target: 'failed' }, { target: 'succeeded' }],
    },
    succeeded: { type: 'final', description: 'Every awaited subscriber answered action_done or left.' },
    failed: { type: 'final', description: 'Every awaited subscriber answered or left; at least one failed or ran out of its own time.' },
    timedOut: { type: 'final', description: 'The step deadline passed with subscribers still pending.' },
    aborted: { type: 'final', description: 'Aborted (run aborted, replaced, or the hub was told to).' },
  },
});
