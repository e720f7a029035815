/**
 * Checks shared by every machine test (session, worker, task, workflow run and step):
 * - serialisation: the config is literal JSON-like data, every action/guard/delay is named, declared and
 *   used, and `toJSON()` names every action (an inline `assign` would serialise as null, ../../../shared/STYLE.md);
 * - model-based coverage: leaf states, shortest paths from sample events, and the replay of each path on a
 *   real actor driven by a SimulatedClock.
 * Each helper asserts with uvu/assert, so a machine that breaks a rule fails the test that calls it.
 */
import * as assert from 'uvu/assert';
import { getShortestPaths, getStateNodes, type StatePath } from 'xstate/graph';
import type { AnyMachineSnapshot, AnyStateMachine, EventObject, SimulatedClock, StateValue } from 'xstate';

// ---------------------------------------------------------------------------------------------------
// Side effects and serialisation

/** The side-effect placeholders, sorted: every declared action that is not a named `assign`. */
export function effectNames(machine: AnyStateMachine): string[] {
  return Object.entries(machine.implementations.actions)
    .filter(([, impl]) => (impl as { type?: string }).type !== 'xstate.assign')
    .map(([name]) => name)
    .sort();
}

/** A recording spy for each side-effect placeholder (for `machine.provide({ actions: spies })`). */
export function spyEffects<TContext, TEvent>(machine: AnyStateMachine) {
  const calls: Array<{ action: string; event: TEvent; context: TContext }> = [];
  const spies = Object.fromEntries(
    effectNames(machine).map((action) => [
      action,
      ({ context, event }: { context: TContext; event: TEvent }) => {
        calls.push({ action, event, context: structuredClone(context) });
      },
    ]),
  );
  return { calls, spies };
}

/** Paths under `node` whose value JSON would drop or change (functions, class instances, NaN, ...). */
export function jsonIssues(node: unknown, path: string): string[] {
  if (node === undefined || node === null || typeof node === 'string' || typeof node === 'boolean') return [];
  if (typeof node === 'number') return Number.isFinite(node) ? [] : [path];
  if (Array.isArray(node)) return node.flatMap((child, i) => jsonIssues(child, `${path}[${i}]`));
  if (typeof node === 'object' && Object.getPrototypeOf(node) === Object.prototype) {
    return Object.entries(node).flatMap(([k, v]) => jsonIssues(v, `${path}.${k}`));
  }
  return [path];
}

/**
 * Asserts the config holds only named references, each declared and each used, and otherwise only JSON
 * values. `contextFactory` is the one function allowed (at `context`); it must be the named export.
 */
export function assertLiteralConfig(machine: AnyStateMachine, contextFactory: unknown): void {
  const { implementations } = machine;
  const used = { actions: new Set<string>(), guards: new Set<string>(), delays: new Set<string>() };
  (function walk(node: unknown, path: string): void {
    if (typeof node === 'function') {
      assert.is(path, 'context', `function at ${path}`);
      assert.is(node, contextFactory);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === 'actions' || k === 'entry' || k === 'exit') {
        for (const name of ([] as unknown[]).concat(v)) {
          assert.type(name, 'string', `${path}.${k}`);
          assert.ok((name as string) in implementations.actions, `undeclared action ${name}`);
          used.actions.add(name as string);
        }
      } else if (k === 'guard') {
        assert.type(v, 'string', `${path}.guard`);
        assert.ok((v as string) in implementations.guards, `undeclared guard ${v}`);
        used.guards.add(v as string);
      } else if (k === 'after') {
        for (const delay of Object.keys(v as object)) {
          assert.ok(delay in implementations.delays, `undeclared delay ${delay}`);
          used.delays.add(delay);
        }
        walk(v, `${path}.after`);
      } else walk(v, path ? `${path}.${k}` : k);
    }
  })(machine.config, '');
  assert.equal([...used.actions].sort(), Object.keys(implementations.actions).sort());
  assert.equal([...used.guards].sort(), Object.keys(implementations.guards).sort());
  assert.equal([...used.delays].sort(), Object.keys(implementations.delays).sort());
  const { context: _context, ...data } = machine.config;
  assert.equal(jsonIssues(data, 'config'), [], 'config holds only JSON values');
}

/**
 * Asserts `toJSON()` names every action and guard (no inline function serialised as null); returns the
 * action names seen, so a test can check that a known one is among them.
 */
export function assertNamedInJson(machine: AnyStateMachine): string[] {
  const seen: string[] = [];
  (function walk(node: unknown, key: string): void {
    if (Array.isArray(node)) {
      if (key === 'actions' || key === 'entry' || key === 'exit') {
        for (const action of node) {
          const name = typeof action === 'string' ? action : (action as { type?: unknown } | null)?.type;
          assert.type(name, 'string', `${key} holds ${JSON.stringify(action)}`);
          // xstate.raise / xstate.cancel are the scheduling of `after` timers.
          const known = (name as string) in machine.implementations.actions;
          assert.ok(known || /^xstate\.(raise|cancel)$/.test(name as string), `${name}`);
          seen.push(name as string);
        }
      } else node.forEach((child) => walk(child, key));
      return;
    }
    if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'guard') assert.ok(typeof v === 'string' && v in machine.implementations.guards, `guard ${v}`);
        walk(v, k);
      }
    }
  })(JSON.parse(JSON.stringify(machine.toJSON())), '');
  return seen;
}

// ---------------------------------------------------------------------------------------------------
// Model-based coverage

/** Leaf state paths of a machine, e.g. `closed`, `active.idle`, sorted. */
export function leafStates(machine: AnyStateMachine): string[] {
  return getStateNodes(machine.root)
    .filter((node) => Object.keys(node.states).length === 0)
    .map((node) => node.path.join('.'))
    .sort();
}

/** Leaf paths of a state value, e.g. `{ active: 'idle' }` -> `['active.idle']`. */
export function leafPaths(value: StateValue): string[] {
  if (typeof value === 'string') return [value];
  return Object.entries(value).flatMap(([key, child]) => (child === undefined ? [key] : leafPaths(child).map((p) => `${key}.${p}`)));
}

/** Every event type a machine's states handle. */
export function handledEvents(machine: AnyStateMachine): Set<string> {
  return new Set([machine.root, ...getStateNodes(machine.root)].flatMap((n) => n.ownEvents));
}

/** The event types the machine handles that none of `sampled` has (the model must try them all). */
export function unsampledEvents(machine: AnyStateMachine, sampled: readonly EventObject[]): string[] {
  const types = new Set(sampled.map((e) => e.type as string));
  return [...handledEvents(machine)].filter((t) => !types.has(t));
}

/** Delayed transitions are taken by `xstate.after.<delay>.<stateId>` events. */
export function afterEvent<TEvent extends EventObject>(delay: string, stateId: string): TEvent {
  return { type: `xstate.after.${delay}.${stateId}` } as unknown as TEvent;
}

/** `getShortestPaths` stopped at the end of the machine. */
export function shortestPaths<TMachine extends AnyStateMachine>(
  machine: TMachine,
  options: Omit<NonNullable<Parameters<typeof getShortestPaths<TMachine>>[1]>, 'stopWhen'>,
) {
  return getShortestPaths(machine, {
    ...options,
    // The pure transition function still handles events in a final state; a real actor ignores them.
    stopWhen: (snapshot) => snapshot.status !== 'active',
  });
}

/** The ms a timer of `machine` waits, computed as the runtime does: from its declared delay and the context. */
export function declaredDelay(machine: AnyStateMachine): (delay: string, snapshot: AnyMachineSnapshot) => number {
  return (delay, snapshot) => {
    const impl = (machine.implementations.delays as Record<string, unknown>)[delay];
    if (typeof impl === 'number') return impl;
    assert.type(impl, 'function', `undeclared delay ${delay}`);
    return (impl as (a: { context: unknown }) => number)({ context: snapshot.context });
  };
}

/** How {@link replayPath} drives the actor. */
export interface ReplayOptions<TSnapshot, TEvent> {
  /** What states are told apart by: compared 1 ms before each timer fires and at the end of the path. */
  project: (snapshot: TSnapshot) => string;
  /** Ms from the clock's time until the `after` timer `delay` fires. @default none: a timer step fails the replay */
  timerMs?: (delay: string, snapshot: TSnapshot) => number;
  /** Sends a path's event to the actor; returns the event as sent. @default `actor.send(event)` */
  send?: (event: TEvent) => TEvent;
  /** Called after each step has been checked: with the event as sent, or the timer that fired. */
  afterStep?: (step: { event: TEvent; delay?: undefined } | { event?: undefined; delay: string }) => void;
}

/**
 * Replays `path` on a real actor: each event is sent, each `xstate.after` step advances the clock exactly
 * by the timer's delay (after checking that nothing fired 1 ms earlier). After each step the actor's state
 * value must be the path's, and at the end its projection must be the path's.
 */
export function replayPath<TSnapshot extends AnyMachineSnapshot, TEvent extends EventObject>(
  path: StatePath<TSnapshot, TEvent>,
  target: { actor: { getSnapshot(): TSnapshot; send(event: TEvent): void }; clock: SimulatedClock },
  options: ReplayOptions<TSnapshot, TEvent>,
): void {
  const { actor, clock } = target;
  const { project, send = (event: TEvent) => (actor.send(event), event) } = options;
  for (const step of path.steps) {
    const type = step.event.type as string;
    if (type === 'xstate.init') continue;
    if (type.startsWith('xstate.after.')) {
      const delay = type.split('.')[2]!;
      if (!options.timerMs) return assert.unreachable(`${type}: the replay has no timerMs`);
      const ms = options.timerMs(delay, actor.getSnapshot());
      if (ms > 0) {
        const before = project(actor.getSnapshot());
        clock.increment(ms - 1);
        assert.is(project(actor.getSnapshot()), before, `${type} fired early`);
      }
      // A timer already due fires on increment(0).
      clock.increment(ms > 0 ? 1 : 0);
      assert.equal(actor.getSnapshot().value, step.state.value, `after ${type}`);
      options.afterStep?.({ delay });
    } else {
      const sent = send(step.event);
      assert.equal(actor.getSnapshot().value, step.state.value, `after ${type}`);
      options.afterStep?.({ event: sent });
    }
  }
  assert.is(project(actor.getSnapshot()), project(path.state));
}
