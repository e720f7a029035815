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

/** Subscribers the step still waits for. */
export function pendingSubscribers(snapshot: WorkflowStepSnapshot): string[] {
  return snapshot.context.subscribers.filter((s) => s.status === 'pending').map((s) => s.id);
}
