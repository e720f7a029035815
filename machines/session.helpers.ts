/** Pure helpers that read a session snapshot; the dispatcher uses them, they never act. */
import type { SnapshotFrom } from 'xstate';
import type { sessionMachine } from './session.machine.ts';

export type SessionSnapshot = SnapshotFrom<typeof sessionMachine>;

/** Whether the dispatcher may assign one more job: enabled, welcomed and below capacity. */
export function canAcceptJob(snapshot: SessionSnapshot): boolean {
  return snapshot.status === 'active' && snapshot.matches({ active: 'idle' });
}

/** Free job slots on this worker (0 unless the session can accept jobs). */
export function freeSlots(snapshot: SessionSnapshot): number {
  return canAcceptJob(snapshot) ? snapshot.context.capacity - snapshot.context.running : 0;
}
