/**
 * Model-based paths of machines/task.machine.ts, shared by the machine's own test and the task store
 * conformance suite (which replays them on each store backend and compares the states it ends in).
 */
import { createActor, SimulatedClock, type SnapshotFrom, type StateValue } from 'xstate';
import { taskMachine, type TaskContext, type TaskEvent, type TaskInput } from '../../machines/task.machine.ts';
import { afterEvent, declaredDelay, replayPath, shortestPaths } from './machine-checks.ts';

/** Machine input for the model paths: small numbers, two attempts, so every branch is reachable quickly. */
export const MODEL_INPUT: TaskInput = {
  id: 't1',
  name: 'tag',
  attrs: { cloud: 'aws', account: '123' },
  createdAt: 0,
  deadlineMs: 60_000,
  leaseTtlMs: 3000,
  maxAttempts: 2,
};

/** Sample events; each `at` is replaced with the replaying clock's time. */
export const SAMPLE_EVENTS: TaskEvent[] = [
  { type: 'LEASE', workerId: 'w1', lease: 'L1', at: 0 },
  { type: 'LEASE', workerId: 'w2', lease: 'L2', at: 0 },
  { type: 'REJECT', lease: 'L1', at: 0 },
  { type: 'REJECT', lease: 'stale', at: 0 },
  { type: 'RENEW', lease: 'L1', at: 0 },
  { type: 'RENEW', lease: 'stale', at: 0 },
  { type: 'DONE', lease: 'L1', result: { ok: true }, at: 0 },
  { type: 'DONE', lease: 'stale', result: { ok: false }, at: 0 },
  { type: 'FAIL', lease: 'L2', error: { code: 'INTERNAL', message: 'boom', retryable: false }, at: 0 },
  { type: 'WORKER_LOST', workerId: 'w1', at: 0 },
  { type: 'WORKER_LOST', workerId: 'w2', at: 0 },
  afterEvent('deadline', 'task.pending'),
  afterEvent('leaseExpiry', 'task.claimed'),
];

/** What model states are told apart by (times left out, so the graph stays finite). */
export function modelKey(value: StateValue, context: TaskContext, status: string): string {
  return JSON.stringify({ value, status, attempts: context.attempts, worker: context.worker, lease: context.lease, error: context.error?.code ?? null });
}

type ModelSnapshot = SnapshotFrom<typeof taskMachine>;

const projectModel = (snapshot: ModelSnapshot) => modelKey(snapshot.value, snapshot.context, snapshot.status);

/** Shortest paths from the initial state to every distinct model state. */
export function modelPaths() {
  return shortestPaths(taskMachine, { input: MODEL_INPUT, events: SAMPLE_EVENTS, serializeState: projectModel });
}

export type ModelPath = ReturnType<typeof modelPaths>[number];

/**
 * Replays `path` on a real actor driven by a SimulatedClock (see replayPath in ./machine-checks.ts): each
 * event is sent with `at` = the clock's time; each `xstate.after` step advances the clock exactly to the
 * timer, which was armed at `context.now`; 10 ms pass between steps. `onStep` sees the actor after each
 * step, with the event as sent (or the time the timer fired at).
 */
export function replayOnActor(
  path: ModelPath,
  onStep: (step: { event: TaskEvent | { type: 'TIMER'; delay: string; at: number }; snapshot: ModelSnapshot }) => void = () => {},
  actions: Record<string, () => void> = {},
) {
  const clock = new SimulatedClock();
  const actor = createActor(taskMachine.provide({ actions }), { input: MODEL_INPUT, clock }).start();
  const delayMs = declaredDelay(taskMachine);
  replayPath(path, { actor, clock }, {
    project: projectModel,
    // The timer was armed when the state was entered, at `context.now`: it fires at now + delay.
    timerMs: (delay, snapshot) => Math.max(0, snapshot.context.now + delayMs(delay, snapshot) - clock.now()),
    send: (event) => {
      const sent = { ...event, at: clock.now() } as TaskEvent;
      actor.send(sent);
      return sent;
    },
    afterStep: ({ event, delay }) => {
      onStep({ event: event ?? { type: 'TIMER', delay: delay!, at: clock.now() }, snapshot: actor.getSnapshot() });
      // Events happen later than the previous one, so leases age along the path.
      clock.increment(10);
    },
  });
  return { actor, snapshot: actor.getSnapshot() };
}
