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
import { assertLiteralConfig, assertNamedInJson, effectNames, handledEvents, leafPaths, leafStates, replayPath, shortestPaths, spyEffects, unsampledEvents } from './machine-checks.ts';

/** Starts a session actor on a SimulatedClock with every side effect replaced by a recording spy. */
function start(input: SessionInput = { capacity: 2 }) {
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

/** A session for an accepted hello of worker `w1`. */
const open = (capacity = 2, disabled = false) => start({ capacity, disabled });

test('the side-effect placeholders are the ones the runtime must provide', () => {
  assert.equal(effectNames(sessionMachine), ['failOpenJobs', 'sendDisable', 'sendEnable', 'sendShutdown']);
});

test('without input the context builds, not throws: xstate\'s pure transition() makes an actor without input per call (issue 13)', () => {
  // The hub steps its sessions with `transition()`, which builds a throwaway actor with no input and
  // computes its initial snapshot: a context function that threw made an Error, stack trace and all, on
  // every job's start and end.
  const inert = createActor(sessionMachine, { input: undefined as unknown as SessionInput }).getSnapshot();
  assert.is(inert.status, 'active');
  assert.equal(sessionContextFromInput({ input: undefined }), { running: 0, capacity: 0, startsDisabled: false });
});

test('input: the accepted hello; the session starts active, idle, with no side effect', () => {
  assert.equal(sessionContextFromInput({ input: { capacity: 3 } }), {
    running: 0,
    capacity: 3,
    startsDisabled: false,
  });
  const s = open(3);
  assert.equal(s.value(), { active: 'idle' });
  s.clock.increment(60_000);
  assert.equal(s.value(), { active: 'idle' }, 'no timer: the hello timeout is the connection router\'s');
  assert.equal(s.names(), []);
  assert.ok(canAcceptJob(s.actor.getSnapshot()));
  assert.is(freeSlots(s.actor.getSnapshot()), 3);
});

test('a worker disabled in the registry starts disabled', () => {
  const s = open(2, true);
  assert.is(s.value(), 'disabled');
  assert.equal(s.names(), [], 'no `disable` frame: the welcome said so');
  assert.not.ok(canAcceptJob(s.actor.getSnapshot()));
});

test('only states and events the hub drives: no hello or heartbeat step left in the machine', () => {
  assert.equal(leafStates(sessionMachine), ['active.busy', 'active.idle', 'closed', 'disabled', 'opening', 'shuttingDown']);
  assert.equal([...handledEvents(sessionMachine)].sort(), ['DISABLE', 'ENABLE', 'JOB_ASSIGNED', 'JOB_DONE', 'SHUTDOWN', 'SOCKET_CLOSED']);
});

test('active is busy at capacity and idle below it', () => {
  const s = open(2);
  s.actor.send({ type: 'JOB_ASSIGNED' });
  assert.equal(s.value(), { active: 'idle' });
  assert.is(freeSlots(s.actor.getSnapshot()), 1);
  s.actor.send({ type: 'JOB_ASSIGNED' });
  assert.equal(s.value(), { active: 'busy' });
  assert.not.ok(canAcceptJob(s.actor.getSnapshot()));
  assert.is(freeSlots(s.actor.getSnapshot()), 0);
  s.actor.send({ type: 'JOB_DONE' });
  assert.equal(s.value(), { active: 'idle' });
  assert.is(s.context().running, 1);
  s.actor.send({ type: 'JOB_DONE' });
  s.actor.send({ type: 'JOB_DONE' });
  assert.is(s.context().running, 0, 'a JOB_DONE without a job leaves the count at zero');
  assert.equal(s.value(), { active: 'idle' });
});

test('capacity 0 is always busy', () => {
  const s = open(0);
  assert.equal(s.value(), { active: 'busy' });
  assert.not.ok(canAcceptJob(s.actor.getSnapshot()));
});

test('DISABLE / ENABLE tell the worker and keep tracking jobs', () => {
  const s = open(1);
  s.actor.send({ type: 'JOB_ASSIGNED' });
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
  s.actor.send({ type: 'JOB_DONE' });
  s.actor.send({ type: 'ENABLE' });
  assert.equal(s.value(), { active: 'idle' });
});

test('SHUTDOWN sends shutdown and waits for the socket to close', () => {
  const s = open(2);
  s.actor.send({ type: 'JOB_ASSIGNED' });
  s.actor.send({ type: 'SHUTDOWN' });
  assert.is(s.value(), 'shuttingDown');
  assert.equal(s.names(), ['sendShutdown']);
  assert.not.ok(canAcceptJob(s.actor.getSnapshot()));
  s.actor.send({ type: 'SHUTDOWN' });
  assert.equal(s.names(), ['sendShutdown'], 'sent once');
  s.actor.send({ type: 'JOB_DONE' });
  s.clock.increment(60_000);
  assert.is(s.value(), 'shuttingDown');
  s.actor.send({ type: 'SOCKET_CLOSED', code: 1000 });
  assert.is(s.value(), 'closed');
  assert.equal(s.calls.at(-1)?.action, 'failOpenJobs');
  assert.is(s.calls.at(-1)?.context.running, 0);
});

test('SOCKET_CLOSED (a close, or the transport terminating a peer that stopped answering pings) fails the open jobs', () => {
  const s = open(2);
  s.actor.send({ type: 'JOB_ASSIGNED' });
  s.actor.send({ type: 'JOB_ASSIGNED' });
  s.actor.send({ type: 'SOCKET_CLOSED', code: 1006 });
  assert.is(s.value(), 'closed');
  assert.equal(s.names(), ['failOpenJobs']);
  assert.is(s.calls[0]!.context.running, 2);
});

test('events after closed are ignored', () => {
  const s = open();
  s.actor.send({ type: 'SOCKET_CLOSED', code: 1006 });
  s.actor.send({ type: 'JOB_ASSIGNED' });
  s.actor.send({ type: 'SHUTDOWN' });
  assert.equal(s.names(), ['failOpenJobs']);
  assert.is(s.context().running, 0);
});

test('getPathsFromEvents: a scripted session ends closed', () => {
  const [path] = getPathsFromEvents(
    sessionMachine,
    [
      { type: 'JOB_ASSIGNED' },
      { type: 'SHUTDOWN' },
      { type: 'JOB_DONE' },
      { type: 'SOCKET_CLOSED', code: 1000 },
    ],
    // getPathsFromEvents computes its start state without `input` (xstate 5.33), so pass it explicitly.
    // The states told apart as in the model below: the raw count would be an infinite state space.
    { fromState: createActor(sessionMachine, { input: { capacity: 1 } }).getSnapshot(), serializeState: project },
  );
  assert.equal(
    path!.steps.map((step) => step.state.value),
    [{ active: 'idle' }, { active: 'busy' }, 'shuttingDown', 'shuttingDown', 'closed'],
  );
});

// ---------------------------------------------------------------------------------------------------
// Model-based: reach every leaf state from sample events, then replay each path on a real actor.

const sampleEvents: SessionEvent[] = [
  { type: 'JOB_ASSIGNED' },
  { type: 'JOB_DONE' },
  { type: 'DISABLE' },
  { type: 'ENABLE' },
  { type: 'SHUTDOWN' },
  { type: 'SOCKET_CLOSED', code: 1006 },
];

/**
 * A state for the exploration: the count only as far as it matters (a `JOB_ASSIGNED` in `disabled` or
 * `busy` counts on without end, so the raw count would make the state space infinite).
 */
function project(snapshot: SessionSnapshot): string {
  const { context } = snapshot;
  return JSON.stringify({ value: snapshot.value, status: snapshot.status, context: { ...context, running: Math.min(context.running, context.capacity + 1) } });
}

/** An enabled and a disabled start: `opening` leads to both. */
const INPUTS: SessionInput[] = [
  { capacity: 1 },
  { capacity: 2, disabled: true },
];

const explore = () => INPUTS.flatMap((input) => shortestPaths(sessionMachine, { input, events: sampleEvents, serializeState: project }).map((path) => ({ input, path })));

test('model: the sample events include every event the machine handles', () => {
  assert.equal(unsampledEvents(sessionMachine, sampleEvents), []);
});

test('model: shortest paths reach every leaf state of the machine', () => {
  const reached = new Set(explore().flatMap(({ path }) => leafPaths(path.state.value)));
  // `opening` is left in the same step it is entered (an `always` transition): no path rests there.
  assert.equal([...reached].sort(), leafStates(sessionMachine).filter((state) => state !== 'opening'));
});

test('model: every path replays on a real actor with a simulated clock', () => {
  const paths = explore();
  for (const { input, path } of paths) replayPath(path, start(input), { project });
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
