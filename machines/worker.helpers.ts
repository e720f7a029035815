/**
 * Pure helpers over the worker machine: they compute from numbers or read a snapshot, never act.
 * The machine imports `backoffMs`; this file imports only types from the machine.
 */
import type { SnapshotFrom } from 'xstate';
import type { workerMachine } from './worker.machine.ts';

export type WorkerSnapshot = SnapshotFrom<typeof workerMachine>;

/**
 * Reconnect delay before attempt `attempt` (0-based): `min(maxMs, baseMs * 2^attempt)`, without jitter.
 * The runtime's jittered delay should stay within `[0, backoffMs(...)]` ("full jitter") so the cap holds.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** attempt);
}

/**
 * Whether the runtime may claim new work: only when welcomed and enabled. `disabled`, `stopping` and
 * every offline state refuse; capacity is the runtime's own check on top.
 */
export function isAcceptingJobs(snapshot: WorkerSnapshot): boolean {
  // The state value read as it is: `matches()` builds a state path per call, and this runs per job (issue 13).
  const value = snapshot.value;
  return snapshot.status === 'active' && typeof value === 'object' && 'connected' in value;
}

