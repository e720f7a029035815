/**
 * Pure helpers over the workflow step machine's context and snapshots: they compute, never act. The
 * machine imports the first two; this file imports only types from the machine.
 */
import type { SnapshotFrom } from 'xstate';
import type { workflowStepMachine } from './workflow-step.machine.ts';

/**
 * Where a subscriber stands in a step: `pending` until it answers; `sent` for a fire-and-forget
 * subscriber (never waited for); `done`/`error` as it answered; `timeout` past its own or the step's
 * time limit; `gone` when it left for good (grace period over, or unsubscribed); `aborted` when the step
 * was aborted while it was pending.
 */
export type SubscriberStatus = 'pending' | 'sent' | 'done' | 'error' | 'timeout' | 'gone' | 'aborted';

export interface StepSubscriber {
  id: string;
  wait: boolean;
  /** When this subscriber's own time limit ends (absolute ms). */
  timeoutAt: number;
  /** While disconnected: when its grace period ends (absolute ms); null while connected. */
  graceUntil: number | null;
  status: SubscriberStatus;
  /** When it answered, left or expired (absolute ms). */
  answeredAt: number | null;
}

/** The deadlines that matter: the step's and every pending subscriber's own time limit and grace end. */
export function nearestDeadline(context: { deadline: number; subscribers: readonly StepSubscriber[] }): number {
  let nearest = context.deadline;
  for (const s of context.subscribers) {
    if (s.status !== 'pending') continue;
    nearest = Math.min(nearest, s.timeoutAt);
    if (s.graceUntil !== null) nearest = Math.min(nearest, s.graceUntil);
  }
  return nearest;
}

/** True when no subscriber is still pending. */
export function settledStatuses(subscribers: readonly StepSubscriber[]): boolean {
  return subscribers.every((s) => s.status !== 'pending');
}

export type WorkflowStepSnapshot = SnapshotFrom<typeof workflowStepMachine>;

/** How a step ended, once its machine is done. */
export type StepOutcome = 'succeeded' | 'failed' | 'timedOut' | 'aborted';

/** The step's outcome, or null while it runs. */
export function stepOutcome(snapshot: WorkflowStepSnapshot): StepOutcome | null {
  if (snapshot.status !== 'done') return null;
  return snapshot.value as StepOutcome;
}

/**
 * A persisted step snapshot with the answers stored after it was written: the runtime writes the
 * snapshot again only when more than answers changed (issue 9), and the answer rows carry those. Each
 * `done` or `error` row counts as that subscriber's ANSWER would have (its first answer; `pending` and
 * fire-and-forget `sent` subscribers only). The snapshot's `now` stays; RESUME sets it.
 */
export function withStoredAnswers<T extends { context: { subscribers: readonly StepSubscriber[] } }>(
  persisted: T,
  answers: ReadonlyArray<{ subscriber: string; status: string; answeredAt: number | null }>,
): T {
  const answered = new Map<string, { status: 'done' | 'error'; answeredAt: number | null }>();
  for (const a of answers) if (a.status === 'done' || a.status === 'error') answered.set(a.subscriber, { status: a.status, answeredAt: a.answeredAt });
  if (answered.size === 0) return persisted;
  const subscribers = persisted.context.subscribers.map((s) => {
    const a = answered.get(s.id);
    return a && (s.status === 'pending' || s.status === 'sent') ? { ...s, status: a.status, answeredAt: a.answeredAt, graceUntil: null } : s;
  });
  return { ...persisted, context: { ...persisted.context, subscribers } };
}

/** Subscribers the step still waits for. */
export function pendingSubscribers(snapshot: WorkflowStepSnapshot): string[] {
  return snapshot.context.subscribers.filter((s) => s.status === 'pending').map((s) => s.id);
}

/** A column of {@link PackedSubscribers}: one value when every subscriber has it, else one per subscriber. */
type Column<T> = T | T[];

/**
 * A step's subscribers as the stored snapshot keeps them: one column per field, a column whose values
 * are all equal as that one value (issue 9). A 1,000-worker broadcast's step snapshot was ~112 KB of
 * JSON, 1,000 objects that differ only in their id; packed it is the ids and five values.
 */
export interface PackedSubscribers {
  id: string[];
  wait: Column<boolean>;
  timeoutAt: Column<number>;
  graceUntil: Column<number | null>;
  status: Column<SubscriberStatus>;
  answeredAt: Column<number | null>;
}

const PACKED_FIELDS = ['wait', 'timeoutAt', 'graceUntil', 'status', 'answeredAt'] as const;

function column<K extends (typeof PACKED_FIELDS)[number]>(subscribers: readonly StepSubscriber[], key: K): Column<StepSubscriber[K]> {
  const first = subscribers[0]![key];
  for (let i = 1; i < subscribers.length; i++) if (subscribers[i]![key] !== first) return subscribers.map((s) => s[key]);
  return first;
}

/** The persisted step snapshot to store: its `context.subscribers` as `context.packed` (see {@link PackedSubscribers}). */
export function packStepSnapshot<T extends { context: { subscribers: readonly StepSubscriber[] } }>(persisted: T): unknown {
  const { subscribers, ...context } = persisted.context;
  if (subscribers.length === 0) return persisted;
  const packed = { id: subscribers.map((s) => s.id) } as Record<string, unknown>;
  for (const key of PACKED_FIELDS) packed[key] = column(subscribers, key);
  return { ...persisted, context: { ...context, packed } };
}

/** A stored step snapshot as the machine persisted it: `context.packed` back to `context.subscribers`; an older (unpacked) one as it is. */
export function unpackStepSnapshot(stored: unknown): { context: { subscribers: StepSubscriber[] } } {
  const snapshot = stored as { context: { subscribers?: StepSubscriber[]; packed?: PackedSubscribers } };
  const { packed, ...context } = snapshot.context ?? {};
  if (!packed) return { ...snapshot, context: { ...context, subscribers: context.subscribers ?? [] } };
  const at = <V>(value: Column<V>, i: number): V => (Array.isArray(value) ? value[i]! : value);
  const subscribers = packed.id.map(
    (id, i): StepSubscriber => ({
      id,
      wait: at(packed.wait, i),
      timeoutAt: at(packed.timeoutAt, i),
      graceUntil: at(packed.graceUntil, i),
      status: at(packed.status, i),
      answeredAt: at(packed.answeredAt, i),
    }),
  );
  return { ...snapshot, context: { ...context, subscribers } };
}
