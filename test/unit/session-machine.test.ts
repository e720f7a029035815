import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, SimulatedClock, type AnyStateMachine, type StateValue } from 'xstate';
import { getPathsFromEvents, getShortestPaths, getStateNodes } from 'xstate/graph';
import { canAcceptJob, freeSlots, type SessionSnapshot } from '../../machines/session.helpers.ts';
import {
  sessionContextFromInput,
  sessionMachine,
  type SessionContext,
  type SessionEvent,
  type SessionInput,
} from '../../machines/session.machine.ts';

/** The side-effect placeholders: every declared action that is not a named `assign`. */
const effects = Object.entries(sessionMachine.implementations.actions)
  .filter(([, impl]) => (impl as { type?: string }).type !== 'xstate.assign')
  .map(([name]) => name);

interface Call {
  action: string;
  event: SessionEvent;
  context: SessionContext;
}

/** Starts a session actor on a SimulatedClock with every side effect replaced by a recording spy. */
function start(input: SessionInput = {}) {
  const calls: Call[] = [];
  const clock = new SimulatedClock();
  const spies = Object.fromEntries(
    effects.map((action) => [
      action,
      ({ context, event }: { context: SessionContext; event: SessionEvent }) => {
        calls.push({ action, event, context: structuredClone(context) });
      },
    ]),
  );
  const actor = createActor(sessionMachine.provide({ actions: spies }), { input, clock }).start();
  return {
    actor,
    clock,
    calls,
    names: () => calls.map((c) => c.action),
    value: () => actor.getSnapshot().value,
    context: () => actor.getSnapshot().context,
  };
}
type Harness = ReturnType<typeof start>;

function hello(s: Harness, capacity = 2, disabled = false): void {
  s.actor.send({ type: 'HELLO_ACCEPTED', workerId: 'w1', capacity, disabled });
}

test('the side-effect placeholders are the ones the runtime must provide', () => {
  assert.equal([...effects].sort(), [
    'closeSocket',
    'failOpenJobs',
    'sendDisable',
    'sendEnable',
    'sendError',
    'sendHelloTimeout',
    'sendShutdown',
    'terminateSocket',
  ]);
});

test('input defaults', () => {
  assert.equal(sessionContextFromInput({ input: {} }), {
    workerId: null,
    jobs: [],
    capacity: 0,
    helloTimeoutMs: 10_000,
  });
  assert.is(start().value(), 'awaitingHello');
});

test('the hello timeout fires only after helloTimeoutMs', () => {
  const s = start({ helloTimeoutMs: 2000 });
  s.clock.increment(1999);
  assert.is(s.value(), 'awaitingHello');
  assert.equal(s.names(), []);
  s.clock.increment(1);
  assert.is(s.value(), 'closed');
  assert.is(s.actor.getSnapshot().status, 'done');
  assert.equal(s.names(), ['sendHelloTimeout', 'closeSocket', 'failOpenJobs']);
});

test('the default hello timeout is 10 s', () => {
  const s = start();
  s.clock.increment(9999);
  assert.is(s.value(), 'awaitingHello');
  s.clock.increment(1);
  assert.is(s.value(), 'closed');
});

test('HELLO_ACCEPTED activates the session and cancels the hello timeout', () => {
  const s = start({ helloTimeoutMs: 2000 });
  s.clock.increment(1000);
  hello(s, 3);
  assert.equal(s.value(), { active: 'idle' });
  assert.equal([s.context().workerId, s.context().capacity], ['w1', 3]);
  s.clock.increment(60_000);
  assert.equal(s.value(), { active: 'idle' });
  assert.equal(s.names(), []);
  assert.ok(canAcceptJob(s.actor.getSnapshot()));
  assert.is(freeSlots(s.actor.getSnapshot()), 3);
});

test('HELLO_ACCEPTED {disabled: true} starts disabled', () => {
  const s = start();
  hello(s, 2, true);
  assert.is(s.value(), 'disabled');
  assert.not.ok(canAcceptJob(s.actor.getSnapshot()));
});

test('HELLO_REJECTED sends the error and closes', () => {
  const s = start();
  s.actor.send({ type: 'HELLO_REJECTED', code: 'PROTOCOL_VERSION', message: 'unsupported version 9' });
  assert.is(s.value(), 'closed');
  assert.equal(s.names(), ['sendError', 'closeSocket', 'failOpenJobs']);
  assert.equal(s.calls[0]!.event, { type: 'HELLO_REJECTED', code: 'PROTOCOL_VERSION', message: 'unsupported version 9' });
});

test('active is busy at capacity and idle below it', () => {
  const s = start();
  hello(s, 2);
  s.actor.send({ type: 'JOB_ASSIGNED', jobId: 'j1' });
  assert.equal(s.value(), { active: 'idle' });
  assert.is(freeSlots(s.actor.getSnapshot()), 1);
  s.actor.send({ type: 'JOB_ASSIGNED', jobId: 'j2' });
  assert.equal(s.value(), { active: 'busy' });
  assert.not.ok(canAcceptJob(s.actor.getSnapshot()));
  assert.is(freeSlots(s.actor.getSnapshot()), 0);
  s.actor.send({ type: 'JOB_ASSIGNED', jobId: 'j2' });
  assert.equal(s.context().jobs, ['j1', 'j2'], 'a repeated assignment is tracked once');
  s.actor.send({ type: 'JOB_DONE', jobId: 'j1' });
  assert.equal(s.value(), { active: 'idle' });
  assert.equal(s.context().jobs, ['j2']);
});

test('capacity 0 is always busy', () => {
  const s = start();
  hello(s, 0);
  assert.equal(s.value(), { active: 'busy' });
  assert.not.ok(canAcceptJob(s.actor.getSnapshot()));
});

test('DISABLE / ENABLE tell the worker and keep tracking jobs', () => {
  const s = start();
  hello(s, 1);
  s.actor.send({ type: 'JOB_ASSIGNED', jobId: 'j1' });
  s.actor.send({ type: 'DISABLE' });
  assert.is(s.value(), 'disabled');
  assert.equal(s.names(), ['sendDisable']);
  assert.not.ok(canAcceptJob(s.actor.getSnapshot()));
  s.actor.send({ type: 'DISABLE' });
  assert.equal(s.names(), ['sendDisable'], 'a repeated DISABLE sends nothing');
  s.actor.send({ type: 'ENABLE' });
  assert.equal(s.value(), { active: 'busy' });
  assert.equal(s.names(), ['sendDisable', 'sendEnable']);
  s.actor.send({ type: 'DISABLE' });
  s.actor.send({ type: 'JOB_DONE', jobId: 'j1' });
  s.actor.send({ type: 'ENABLE' });
  assert.equal(s.value(), { active: 'idle' });
});

test('SHUTDOWN sends shutdown and waits for the socket to close', () => {
  const s = start();
  hello(s, 2);
  s.actor.send({ type: 'JOB_ASSIGNED', jobId: 'j1' });
  s.actor.send({ type: 'SHUTDOWN' });
  assert.is(s.value(), 'shuttingDown');
  assert.equal(s.names(), ['sendShutdown']);
  assert.not.ok(canAcceptJob(s.actor.getSnapshot()));
  s.actor.send({ type: 'SHUTDOWN' });
  assert.equal(s.names(), ['sendShutdown'], 'sent once');
  s.actor.send({ type: 'JOB_DONE', jobId: 'j1' });
  s.clock.increment(60_000);
  assert.is(s.value(), 'shuttingDown');
  s.actor.send({ type: 'SOCKET_CLOSED', code: 1000 });
  assert.is(s.value(), 'closed');
  assert.equal(s.calls.at(-1)?.action, 'failOpenJobs');
  assert.equal(s.calls.at(-1)?.context.jobs, []);
});

test('HEARTBEAT_MISSED terminates and fails the open jobs', () => {
  const s = start();
  hello(s, 2);
  s.actor.send({ type: 'JOB_ASSIGNED', jobId: 'j1' });
  s.actor.send({ type: 'JOB_ASSIGNED', jobId: 'j2' });
  s.actor.send({ type: 'HEARTBEAT_MISSED' });
  assert.is(s.value(), 'closed');
  assert.equal(s.names(), ['terminateSocket', 'failOpenJobs']);
  assert.equal(s.calls[1]!.context.jobs, ['j1', 'j2']);
});

test('SOCKET_CLOSED before hello closes with nothing to fail, and the timer is gone', () => {
  const s = start({ helloTimeoutMs: 100 });
  s.actor.send({ type: 'SOCKET_CLOSED', code: 1006 });
  assert.is(s.value(), 'closed');
  s.clock.increment(1000);
  assert.equal(s.names(), ['failOpenJobs']);
  assert.equal(s.calls[0]!.context.jobs, []);
});

test('events after closed are ignored', () => {
  const s = start();
  s.actor.send({ type: 'SOCKET_CLOSED', code: 1006 });
  s.actor.send({ type: 'JOB_ASSIGNED', jobId: 'late' });
  s.actor.send({ type: 'HEARTBEAT_MISSED' });
  assert.equal(s.names(), ['failOpenJobs']);
  assert.equal(s.context().jobs, []);
});

test('getPathsFromEvents: a scripted session ends closed', () => {
  const [path] = getPathsFromEvents(
    sessionMachine,
    [
      { type: 'HELLO_ACCEPTED', workerId: 'w1', capacity: 1, disabled: false },
      { type: 'JOB_ASSIGNED', jobId: 'j1' },
      { type: 'SHUTDOWN' },
      { type: 'JOB_DONE', jobId: 'j1' },
      { type: 'SOCKET_CLOSED', code: 1000 },
    ],
    // getPathsFromEvents computes its start state without `input` (xstate 5.33), so pass it explicitly.
    { fromState: createActor(sessionMachine, { input: {} }).getSnapshot() },
  );
  assert.equal(
    path!.steps.map((step) => step.state.value),
    ['awaitingHello', { active: 'idle' }, { active: 'busy' }, 'shuttingDown', 'shuttingDown', 'closed'],
  );
});

// ---------------------------------------------------------------------------------------------------
// Model-based: reach every leaf state from sample events, then replay each path on a real actor.

/** Delayed transitions are taken by `xstate.after.<delay>.<stateId>` events. */
function afterEvent(delay: string, stateId: string): SessionEvent {
  return { type: `xstate.after.${delay}.${stateId}` } as unknown as SessionEvent;
}

const sampleEvents: SessionEvent[] = [
  { type: 'HELLO_ACCEPTED', workerId: 'w1', capacity: 1, disabled: false },
  { type: 'HELLO_ACCEPTED', workerId: 'w1', capacity: 2, disabled: true },
  { type: 'HELLO_REJECTED', code: 'AUTH_FAILED', message: 'bad token' },
  { type: 'JOB_ASSIGNED', jobId: 'j1' },
  { type: 'JOB_ASSIGNED', jobId: 'j2' },
  { type: 'JOB_DONE', jobId: 'j1' },
  { type: 'JOB_DONE', jobId: 'j2' },
  { type: 'DISABLE' },
  { type: 'ENABLE' },
  { type: 'SHUTDOWN' },
  { type: 'HEARTBEAT_MISSED' },
  { type: 'SOCKET_CLOSED', code: 1006 },
  afterEvent('helloTimeout', 'session.awaitingHello'),
];

function project(snapshot: SessionSnapshot): string {
  return JSON.stringify({ value: snapshot.value, status: snapshot.status, context: snapshot.context });
}

function leafStates(machine: AnyStateMachine): string[] {
  return getStateNodes(machine.root)
    .filter((node) => Object.keys(node.states).length === 0)
    .map((node) => node.path.join('.'))
    .sort();
}

function leafPaths(value: StateValue): string[] {
  if (typeof value === 'string') return [value];
  return Object.entries(value).flatMap(([key, child]) =>
    child === undefined ? [key] : leafPaths(child).map((p) => `${key}.${p}`),
  );
}

const INPUT: SessionInput = { helloTimeoutMs: 5000 };

function explore() {
  return getShortestPaths(sessionMachine, {
    input: INPUT,
    events: sampleEvents,
    serializeState: project,
    // The pure transition function still handles events in a final state; a real actor ignores them.
    stopWhen: (snapshot) => snapshot.status !== 'active',
  });
}

test('model: the sample events include every event the machine handles', () => {
  const handled = new Set([sessionMachine.root, ...getStateNodes(sessionMachine.root)].flatMap((n) => n.ownEvents));
  const sampled = new Set(sampleEvents.map((e) => e.type as string));
  assert.equal([...handled].filter((t) => !sampled.has(t)), []);
});

test('model: shortest paths reach every leaf state of the machine', () => {
  const reached = new Set(explore().flatMap((path) => leafPaths(path.state.value)));
  assert.equal([...reached].sort(), leafStates(sessionMachine));
});

test('model: every path replays on a real actor with a simulated clock', () => {
  const paths = explore();
  for (const path of paths) {
    const s = start(INPUT);
    for (const step of path.steps) {
      const type = step.event.type as string;
      if (type === 'xstate.init') continue;
      if (type.startsWith('xstate.after.')) {
        // Fire the timer by advancing time exactly to its computed delay.
        const delay = type.split('.')[2] as keyof typeof sessionMachine.implementations.delays;
        const impl = sessionMachine.implementations.delays[delay] as (a: { context: SessionContext }) => number;
        const ms = impl({ context: s.context() });
        const before = project(s.actor.getSnapshot());
        s.clock.increment(ms - 1);
        assert.is(project(s.actor.getSnapshot()), before, `${type} fired early`);
        s.clock.increment(1);
      } else {
        s.actor.send(step.event);
      }
      assert.equal(s.value(), step.state.value, `after ${type}`);
    }
    assert.is(project(s.actor.getSnapshot()), project(path.state));
  }
  assert.ok(paths.length > 10, `replayed ${paths.length} paths`);
});

// ---------------------------------------------------------------------------------------------------
// Serialisation: the config is literal JSON-like data and every action/guard/delay is named.

/** Paths under `node` whose value JSON would drop or change (functions, class instances, NaN, ...). */
function jsonIssues(node: unknown, path: string): string[] {
  if (node === undefined || node === null || typeof node === 'string' || typeof node === 'boolean') return [];
  if (typeof node === 'number') return Number.isFinite(node) ? [] : [path];
  if (Array.isArray(node)) return node.flatMap((child, i) => jsonIssues(child, `${path}[${i}]`));
  if (typeof node === 'object' && Object.getPrototypeOf(node) === Object.prototype) {
    return Object.entries(node).flatMap(([k, v]) => jsonIssues(v, `${path}.${k}`));
  }
  return [path];
}

test('toJSON() names every action and guard (no inline functions serialised as null)', () => {
  const json = JSON.stringify(sessionMachine.toJSON());
  const seen: string[] = [];
  (function walk(node: unknown, key: string): void {
    if (Array.isArray(node)) {
      if (key === 'actions' || key === 'entry' || key === 'exit') {
        for (const action of node) {
          const name = typeof action === 'string' ? action : (action as { type?: unknown } | null)?.type;
          assert.type(name, 'string', `${key} holds ${JSON.stringify(action)}`);
          // xstate.raise / xstate.cancel are the scheduling of `after` timers.
          const known = (name as string) in sessionMachine.implementations.actions;
          assert.ok(known || /^xstate\.(raise|cancel)$/.test(name as string), `${name}`);
          seen.push(name as string);
        }
      } else node.forEach((child) => walk(child, key));
      return;
    }
    if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'guard') assert.ok(typeof v === 'string' && v in sessionMachine.implementations.guards, `guard ${v}`);
        walk(v, k);
      }
    }
  })(JSON.parse(json), '');
  assert.ok(seen.includes('failOpenJobs'));
});

test('the config is literal: only named references, each declared, each used', () => {
  const { implementations } = sessionMachine;
  const used = { actions: new Set<string>(), guards: new Set<string>(), delays: new Set<string>() };
  (function walk(node: unknown, path: string): void {
    if (typeof node === 'function') {
      // The context factory is the one allowed function; it is a named export.
      assert.is(path, 'context', `function at ${path}`);
      assert.is(node, sessionContextFromInput);
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
  })(sessionMachine.config, '');
  assert.equal([...used.actions].sort(), Object.keys(implementations.actions).sort());
  assert.equal([...used.guards].sort(), Object.keys(implementations.guards).sort());
  assert.equal([...used.delays].sort(), Object.keys(implementations.delays).sort());
  const { context: _context, ...data } = sessionMachine.config;
  assert.equal(jsonIssues(data, 'config'), [], 'config holds only JSON values');
});

test.run();
