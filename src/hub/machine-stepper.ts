/**
 * xstate's pure `transition()` for a machine stepped often (a worker session on every job's start and end,
 * issue 13): the same `[nextSnapshot, actions]` result, without building a throwaway actor per call.
 *
 * xstate's `transition(logic, snapshot, event)` makes a new inert actor scope on each call, and making it
 * constructs an actor, which computes the machine's initial snapshot: that was ~80% of the cost of a
 * step in a CPU profile of the exec benchmark (10% of the hub's busy time). The scope only collects
 * the actions the step asks for, so one scope per machine serves every step: the step is synchronous and
 * the collected actions are taken out before it returns. Only for machines that spawn or invoke no
 * actors (their children would live in the shared scope's system).
 */
import { createActor, type ActorScope, type AnyStateMachine, type EventFromLogic, type SnapshotFrom } from 'xstate';

/** An action a step asks for, as xstate's pure `transition()` returns it. */
export type StepAction = Parameters<ActorScope<never, never>['actionExecutor']>[0];

/** Where actions go between steps: none should, and one that did would throw rather than be lost. */
const NOT_STEPPING = Object.freeze([]) as unknown as StepAction[];

/** Steps `machine` like xstate's `transition(machine, snapshot, event)`. */
export type Stepper<M extends AnyStateMachine> = (snapshot: SnapshotFrom<M>, event: EventFromLogic<M>) => [SnapshotFrom<M>, StepAction[]];

/** A {@link Stepper} for `machine`, with one inert actor scope for all its steps. */
export function createStepper<M extends AnyStateMachine>(machine: M): Stepper<M> {
  let collected = NOT_STEPPING;
  // Never started: it only stands in as `self` of the scope, as in xstate's own inert scope.
  const self = createActor(machine);
  const scope = {
    self,
    id: '',
    sessionId: '',
    system: self.system,
    logger: () => undefined,
    defer: () => undefined,
    emit: () => undefined,
    stopChild: () => undefined,
    actionExecutor: (action: StepAction) => void collected.push(action),
  };
  return (snapshot, event) => {
    const actions: StepAction[] = [];
    collected = actions;
    try {
      return [machine.transition(snapshot, event, scope as never) as SnapshotFrom<M>, actions];
    } finally {
      collected = NOT_STEPPING;
    }
  };
}
