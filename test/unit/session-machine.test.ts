import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, SimulatedClock } from 'xstate';
import { getPathsFromEvents } from 'xstate/graph';
import { canAcceptJob, freeSlots, type SessionSnapshot } from '../../machines/session.helpers.ts';
import {
  sessionContextFromInput,
  sessionMachine,
  type SessionContext,
  type SessionEvent,
  type SessionInput,
} from '../../machines/session.machine.ts';
import { afterEvent, assertLiteralConfig, assertNamedInJson, declaredDelay, effectNames, leafPaths, leafStates, replayPath, shortestPaths, spyEffects, unsampledEvents } from './machine-checks.ts';

/** Starts a session actor on a SimulatedClock with every side effect replaced by a recording spy. */
function start(input: SessionInput = {}) {
  const { calls, spies } = spyEffects<SessionContext, SessionEvent>(sessionMachine);
  const clock = new SimulatedClock();
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
  assert.equal(effectNames(sessionMachine), [
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

const INPUT: SessionInput = { helloTimeoutMs: 5000 };

const explore = () => shortestPaths(sessionMachine, { input: INPUT, events: sampleEvents, serializeState: project });

test('model: the sample events include every event the machine handles', () => {
  assert.equal(unsampledEvents(sessionMachine, sampleEvents), []);
});

test('model: shortest paths reach every leaf state of the machine', () => {
  const reached = new Set(explore().flatMap((path) => leafPaths(path.state.value)));
  assert.equal([...reached].sort(), leafStates(sessionMachine));
});

test('model: every path replays on a real actor with a simulated clock', () => {
  const paths = explore();
  for (const path of paths) replayPath(path, start(INPUT), { project, timerMs: declaredDelay(sessionMachine) });
  assert.ok(paths.length > 10, `replayed ${paths.length} paths`);
});

// ---------------------------------------------------------------------------------------------------
// Serialisation: the config is literal JSON-like data and every action/guard/delay is named.

test('toJSON() names every action and guard (no inline functions serialised as null)', () => {
  assert.ok(assertNamedInJson(sessionMachine).includes('failOpenJobs'));
});

test('the config is literal: only named references, each declared, each used', () => {
  assertLiteralConfig(sessionMachine, sessionContextFromInput);
});

test.run();
