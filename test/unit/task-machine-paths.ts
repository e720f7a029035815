/**
 * Model-based paths of machines/task.machine.ts, shared by the machine's own test and the task store
 * conformance suite (which replays them on each store backend and compares the states it ends in).
 */
import { createActor, SimulatedClock, type AnyStateMachine, type StateValue } from 'xstate';
import { getShortestPaths, getStateNodes } from 'xstate/graph';
import { taskMachine, type TaskContext, type TaskEvent, type TaskInput } from '../../machines/task.machine.ts';

/** Machine input for the model paths: small numbers, two attempts, so every branch is reachable quickly. */
export const MODEL_INPUT: TaskInput = {
  id: 't1',
  name: 'tag',
  attrs: { cloud: 'aws', account: '123' },
  createdAt: 0,
  deadlineMs: 60_000,
  leaseTtlMs: 3000,
  offerTimeoutMs: 1000,
  maxAttempts: 2,
};

/** Delayed transitions are taken by `xstate.after.<delay>.<stateId>` events. */
export function afterEvent(delay: string, stateId: string): TaskEvent {
  return { type: `xstate.after.${delay}.${stateId}` } as unknown as TaskEvent;
}

/** Sample events; each `at` is replaced with the replaying clock's time. */
export const SAMPLE_EVENTS: TaskEvent[] = [
  { type: 'OFFER', workerId: 'w1', token: 'o1', at: 0 },
  { type: 'OFFER', workerId: 'w2', token: 'o2', at: 0 },
  { type: 'CLAIM', workerId: 'w1', lease: 'L1', at: 0 },
  { type: 'CLAIM', workerId: 'w2', lease: 'L2', at: 0 },
  { type: 'RENEW', lease: 'L1', at: 0 },
  { type: 'RENEW', lease: 'stale', at: 0 },
  { type: 'DONE', lease: 'L1', result: { ok: true }, at: 0 },
  { type: 'DONE', lease: 'stale', result: { ok: false }, at: 0 },
  { type: 'FAIL', lease: 'L2', error: { code: 'INTERNAL', message: 'boom', retryable: false }, at: 0 },
  { type: 'WORKER_LOST', workerId: 'w1', at: 0 },
  { type: 'WORKER_LOST', workerId: 'w2', at: 0 },
  afterEvent('deadline', 'task.pending'),
  afterEvent('offerExpiry', 'task.offered'),
  afterEvent('leaseExpiry', 'task.claimed'),
];

/** What model states are told apart by (times left out, so the graph stays finite). */
export function modelKey(value: StateValue, context: TaskContext, status: string): string {
  return JSON.stringify({ value, status, attempts: context.attempts, worker: context.worker, lease: context.lease, error: context.error?.code ?? null });
}

/** Shortest paths from the initial state to every distinct model state. */
export function modelPaths() {
  return getShortestPaths(taskMachine, {
    input: MODEL_INPUT,
    events: SAMPLE_EVENTS,
    serializeState: (snapshot) => modelKey(snapshot.value, snapshot.context, snapshot.status),
    // The pure transition function still handles events in a final state; a real actor ignores them.
    stopWhen: (snapshot) => snapshot.status !== 'active',
  });
}

export type ModelPath = ReturnType<typeof modelPaths>[number];

/** Leaf state paths of a machine, e.g. `pending`, `claimed`. */
export function leafStates(machine: AnyStateMachine): string[] {
  return getStateNodes(machine.root)
    .filter((node) => Object.keys(node.states).length === 0)
    .map((node) => node.path.join('.'))
    .sort();
}

/**
 * Replays `path` on a real actor driven by a SimulatedClock: each event is sent with `at` = the clock's
 * time; each `xstate.after` step advances the clock exactly by the delay computed from the actor's
 * context (and checks that it did not fire 1 ms earlier); 10 ms pass between steps. `onStep` sees the actor after each step, with
 * the event as sent (or the time the timer fired at).
 */
export function replayOnActor(
  path: ModelPath,
  onStep: (step: { event: TaskEvent | { type: 'TIMER'; delay: string; at: number }; snapshot: ReturnType<typeof actorOf>['snapshot'] }) => void = () => {},
  actions: Record<string, () => void> = {},
) {
  const clock = new SimulatedClock();
  const actor = createActor(taskMachine.provide({ actions }), { input: MODEL_INPUT, clock }).start();
  for (const step of path.steps) {
    const type = step.event.type as string;
    if (type === 'xstate.init') continue;
    if (type.startsWith('xstate.after.')) {
      const delay = type.split('.')[2] as keyof typeof taskMachine.implementations.delays;
      const impl = taskMachine.implementations.delays[delay] as (a: { context: TaskContext }) => number;
      const { context } = actor.getSnapshot();
      // The timer was armed when the state was entered, at `context.now`: it fires at now + delay.
      const need = Math.max(0, context.now + impl({ context }) - clock.now());
      const before = JSON.stringify(actor.getSnapshot().value);
      if (need > 0) {
        clock.increment(need - 1);
        if (JSON.stringify(actor.getSnapshot().value) !== before) throw new Error(`${type} fired early`);
      }
      clock.increment(need > 0 ? 1 : 0);
      onStep({ event: { type: 'TIMER', delay, at: clock.now() }, snapshot: actor.getSnapshot() });
    } else {
      const event = { ...step.event, at: clock.now() } as TaskEvent;
      actor.send(event);
      onStep({ event, snapshot: actor.getSnapshot() });
    }
    // Events happen later than the previous one, so leases and offers age along the path.
    clock.increment(10);
  }
  return actorOf(actor);
}

function actorOf(actor: ReturnType<typeof createActor<typeof taskMachine>>) {
  return { actor, snapshot: actor.getSnapshot() };
}
