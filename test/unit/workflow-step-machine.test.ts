import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, SimulatedClock } from 'xstate';
import { nearestDeadline, packStepSnapshot, pendingSubscribers, stepOutcome, unpackStepSnapshot, type WorkflowStepSnapshot } from '../../machines/workflow-step.helpers.ts';
import {
  workflowStepContextFromInput,
  workflowStepMachine,
  type WorkflowStepContext,
  type WorkflowStepEvent,
  type WorkflowStepInput,
} from '../../machines/workflow-step.machine.ts';
import { assertLiteralConfig, assertNamedInJson, effectNames, leafPaths, leafStates, replayPath, shortestPaths, spyEffects, unsampledEvents } from './machine-checks.ts';

/** a and b are waited for (a: 5 s of its own, b: 8 s), c is fire and forget; the step has 6 s. */
const INPUT: WorkflowStepInput = {
  runId: 'run-1',
  index: 0,
  step: 'collect',
  action: 'collect',
  messageId: 'run-1.0',
  timeoutMs: 6000,
  graceMs: 1000,
  now: 0,
  subscribers: [
    { id: 'a', wait: true, timeoutMs: 5000 },
    { id: 'b', wait: true, timeoutMs: 8000 },
    { id: 'c', wait: false, timeoutMs: 1000 },
  ],
};

/** A step actor on a SimulatedClock (which starts at 0, like INPUT.now) with every effect recorded. */
function start(input: WorkflowStepInput = INPUT, snapshot?: WorkflowStepSnapshot) {
  const { calls, spies } = spyEffects<WorkflowStepContext, WorkflowStepEvent>(workflowStepMachine);
  const clock = new SimulatedClock();
  const actor = createActor(workflowStepMachine.provide({ actions: spies }), (snapshot ? { snapshot, clock } : { input, clock }) as never).start();
  const send = (event: Record<string, unknown> & { type: WorkflowStepEvent['type'] }) => actor.send({ now: clock.now(), ...event } as WorkflowStepEvent);
  return {
    actor,
    clock,
    calls,
    send,
    names: () => calls.map((c) => c.action),
    value: () => actor.getSnapshot().value,
    context: () => actor.getSnapshot().context,
    status: (id: string) => actor.getSnapshot().context.subscribers.find((s) => s.id === id)?.status,
  };
}

test('the side-effect placeholders are the ones the runtime must provide', () => {
  assert.equal(effectNames(workflowStepMachine), ['abortExpired', 'abortPending', 'broadcastAction', 'resendAction']);
});

test('input: deadlines are absolute; fire-and-forget subscribers are `sent`', () => {
  const context = workflowStepContextFromInput({ input: { ...INPUT, now: 1000 } });
  assert.is(context.startedAt, 1000);
  assert.is(context.deadline, 7000);
  assert.equal(
    context.subscribers.map((s) => [s.id, s.status, s.timeoutAt]),
    [
      ['a', 'pending', 6000],
      ['b', 'pending', 9000],
      ['c', 'sent', 2000],
    ],
  );
  assert.is(workflowStepContextFromInput({ input: { ...INPUT, graceMs: undefined } }).graceMs, 10_000);
});

test('the action is broadcast once, then the step waits', () => {
  const s = start();
  assert.is(s.value(), 'waiting');
  assert.equal(s.names(), ['broadcastAction']);
  s.send({ type: 'ANSWER', subscriber: 'a', ok: true });
  assert.equal(s.names(), ['broadcastAction'], 're-entering waiting does not broadcast again');
});

test('every awaited answer done: succeeded; a fire-and-forget subscriber never blocks', () => {
  const s = start();
  s.clock.increment(100);
  s.send({ type: 'ANSWER', subscriber: 'a', ok: true });
  assert.is(s.value(), 'waiting');
  s.send({ type: 'ANSWER', subscriber: 'b', ok: true });
  assert.is(s.value(), 'succeeded');
  assert.is(stepOutcome(s.actor.getSnapshot()), 'succeeded');
  assert.equal(s.context().subscribers.map((x) => [x.id, x.status, x.answeredAt]), [
    ['a', 'done', 100],
    ['b', 'done', 100],
    ['c', 'sent', null],
  ]);
});

test('an action_error makes the step fail once everyone answered', () => {
  const s = start();
  s.send({ type: 'ANSWER', subscriber: 'a', ok: false });
  assert.is(s.value(), 'waiting');
  s.send({ type: 'ANSWER', subscriber: 'c', ok: true });
  assert.is(s.status('c'), 'done', 'a fire-and-forget answer is recorded');
  s.send({ type: 'ANSWER', subscriber: 'b', ok: true });
  assert.is(s.value(), 'failed');
});

test('a second answer from the same subscriber changes nothing', () => {
  const s = start();
  s.send({ type: 'ANSWER', subscriber: 'a', ok: true });
  s.send({ type: 'ANSWER', subscriber: 'a', ok: false });
  assert.is(s.status('a'), 'done');
});

test("a subscriber's own timeout expires it (abort sent) and the step goes on", () => {
  const s = start();
  s.send({ type: 'ANSWER', subscriber: 'b', ok: true });
  s.clock.increment(4999);
  assert.is(s.status('a'), 'pending');
  s.clock.increment(1);
  assert.is(s.status('a'), 'timeout');
  assert.is(s.value(), 'failed');
  assert.equal(s.names(), ['broadcastAction', 'abortExpired']);
  assert.equal(s.calls[1]!.context.expired, ['a']);
});

test('the step deadline times out every pending subscriber', () => {
  const s = start({ ...INPUT, subscribers: [{ id: 'a', wait: true, timeoutMs: 60_000 }, { id: 'b', wait: true, timeoutMs: 60_000 }] });
  s.send({ type: 'ANSWER', subscriber: 'a', ok: true });
  s.clock.increment(5999);
  assert.is(s.value(), 'waiting');
  s.clock.increment(1);
  assert.is(s.value(), 'timedOut');
  assert.equal(s.calls.at(-1)!.action, 'abortExpired');
  assert.equal(s.calls.at(-1)!.context.expired, ['b']);
  assert.is(s.status('a'), 'done');
  assert.is(s.status('b'), 'timeout');
  assert.is(s.context().now, 6000);
});

test('a subscriber back within the grace period gets the action again and is still awaited', () => {
  const s = start();
  s.clock.increment(1000);
  s.send({ type: 'DISCONNECTED', subscriber: 'a' });
  assert.is(s.context().subscribers[0]!.graceUntil, 2000);
  s.clock.increment(999);
  s.send({ type: 'RECONNECTED', subscriber: 'a' });
  assert.equal(s.names(), ['broadcastAction', 'resendAction']);
  assert.is(s.calls[1]!.event.type, 'RECONNECTED');
  s.clock.increment(10);
  assert.is(s.status('a'), 'pending');
  assert.is(s.context().subscribers[0]!.graceUntil, null);
});

test('a subscriber not back within the grace period is gone: the step does not wait for it', () => {
  const s = start();
  s.send({ type: 'ANSWER', subscriber: 'b', ok: true });
  s.clock.increment(1000);
  s.send({ type: 'DISCONNECTED', subscriber: 'a' });
  s.clock.increment(999);
  assert.is(s.value(), 'waiting');
  s.clock.increment(1);
  assert.is(s.status('a'), 'gone');
  assert.is(s.value(), 'succeeded', 'a subscriber that left is not a failure');
  assert.equal(s.names(), ['broadcastAction', 'abortExpired']);
  assert.equal(s.calls[1]!.context.expired, [], 'nobody is left to abort');
});

test('a reconnect of a subscriber that already answered resends nothing', () => {
  const s = start();
  s.send({ type: 'ANSWER', subscriber: 'a', ok: true });
  s.send({ type: 'DISCONNECTED', subscriber: 'a' });
  s.send({ type: 'RECONNECTED', subscriber: 'a' });
  s.send({ type: 'RECONNECTED', subscriber: 'c' });
  assert.equal(s.names(), ['broadcastAction']);
});

test('an unsubscribed subscriber is gone at once', () => {
  const s = start();
  s.send({ type: 'ANSWER', subscriber: 'a', ok: true });
  s.send({ type: 'UNSUBSCRIBED', subscriber: 'b' });
  assert.is(s.value(), 'succeeded');
  assert.is(s.status('b'), 'gone');
});

test('ABORT tells the pending subscribers and ends aborted', () => {
  const s = start();
  s.send({ type: 'ANSWER', subscriber: 'a', ok: true });
  s.send({ type: 'ABORT', reason: 'replaced by run-2' });
  assert.is(s.value(), 'aborted');
  assert.equal(s.names(), ['broadcastAction', 'abortPending']);
  assert.equal(pendingSubscribers({ ...s.actor.getSnapshot(), context: s.calls[1]!.context } as WorkflowStepSnapshot), ['b']);
  assert.is(s.status('b'), 'aborted');
  assert.is(s.context().reason, 'replaced by run-2');
  s.clock.increment(60_000);
  assert.equal(s.names(), ['broadcastAction', 'abortPending'], 'no timer survives the end');
});

test('no awaited subscriber: the step succeeds at once (still broadcast)', () => {
  const s = start({ ...INPUT, subscribers: [{ id: 'c', wait: false, timeoutMs: 1000 }] });
  assert.is(s.value(), 'succeeded');
  assert.equal(s.names(), ['broadcastAction']);
});

test('a subscriber disconnected at the start has its grace from input and gets the action on reconnect', () => {
  const s = start({ ...INPUT, subscribers: [{ id: 'a', wait: true, timeoutMs: 5000, graceUntil: 300 }] });
  assert.is(nearestDeadline(s.context()), 300);
  s.clock.increment(200);
  s.send({ type: 'RECONNECTED', subscriber: 'a' });
  assert.equal(s.names(), ['broadcastAction', 'resendAction']);
});

test('restored snapshot: no timer until RESUME; RESUME starts a grace period for every pending subscriber', () => {
  const first = start();
  first.clock.increment(2000);
  first.send({ type: 'ANSWER', subscriber: 'b', ok: true });
  const persisted = first.actor.getPersistedSnapshot() as WorkflowStepSnapshot;
  first.actor.stop();
  const json = JSON.parse(JSON.stringify(persisted)) as WorkflowStepSnapshot;

  // The hub restarts at t = 3000 (the simulated clock of the new actor is moved there first).
  const s = start(INPUT, json);
  s.clock.set(3000);
  s.clock.increment(10_000);
  assert.is(s.value(), 'waiting', 'a restored snapshot does not re-arm `after` timers (statelyai/xstate#4860)');

  const r = start(INPUT, json);
  r.clock.set(3000);
  r.send({ type: 'RESUME', graceMs: 1500 });
  assert.is(r.context().subscribers[0]!.graceUntil, 4500);
  r.clock.increment(1000);
  r.send({ type: 'RECONNECTED', subscriber: 'a' });
  assert.equal(r.names(), ['resendAction']);
  // a's own deadline (5000) is kept from the store: it expires there.
  r.clock.increment(999);
  assert.is(r.status('a'), 'pending');
  r.clock.increment(1);
  assert.is(r.status('a'), 'timeout');
  assert.is(r.value(), 'failed');
});

test('restored and never reconnected: the pending subscriber is gone after the resume grace', () => {
  const first = start({ ...INPUT, subscribers: [{ id: 'a', wait: true, timeoutMs: 60_000 }] , timeoutMs: 60_000 });
  const json = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot())) as WorkflowStepSnapshot;
  const r = start(INPUT, json);
  r.clock.set(5000);
  r.send({ type: 'RESUME', graceMs: 2000 });
  r.clock.increment(2000);
  assert.is(r.status('a'), 'gone');
  assert.is(r.value(), 'succeeded');
});

test('ANSWERS (the answers of one turn) ends as one ANSWER each, in order: the first answer of a subscriber counts', () => {
  const answers = [
    { subscriber: 'c', ok: true },
    { subscriber: 'a', ok: false },
    { subscriber: 'a', ok: true },
    { subscriber: 'x', ok: true },
    { subscriber: 'b', ok: true },
  ];
  const batch = start();
  batch.clock.set(100);
  batch.send({ type: 'ANSWERS', answers });
  const single = start();
  single.clock.set(100);
  for (const a of answers) single.send({ type: 'ANSWER', ...a });
  assert.equal(batch.context(), single.context());
  assert.equal([batch.status('a'), batch.status('b'), batch.status('c')], ['error', 'done', 'done']);
  assert.is(batch.value(), 'failed');
  const partial = start();
  partial.send({ type: 'ANSWERS', answers: [{ subscriber: 'a', ok: true }] });
  assert.is(partial.value(), 'waiting');
  assert.is(partial.status('b'), 'pending');
});

// ---------------------------------------------------------------------------------------------------
// Model-based: every event carries the context's own `now`, and the timer's event moves `now` to the
// nearest deadline, so a replay on a SimulatedClock keeps `clock.now() === context.now` throughout.

const AFTER = { type: 'xstate.after.nextDeadline.workflowStep.waiting' } as unknown as WorkflowStepEvent;

function sampleEvents(snapshot: WorkflowStepSnapshot): WorkflowStepEvent[] {
  const now = snapshot.context.now;
  return [
    { type: 'ANSWER', subscriber: 'a', ok: true, now },
    { type: 'ANSWER', subscriber: 'a', ok: false, now },
    { type: 'ANSWER', subscriber: 'b', ok: true, now },
    { type: 'ANSWER', subscriber: 'c', ok: true, now },
    { type: 'ANSWERS', answers: [{ subscriber: 'b', ok: false }, { subscriber: 'b', ok: true }, { subscriber: 'c', ok: true }], now },
    { type: 'DISCONNECTED', subscriber: 'a', now },
    { type: 'RECONNECTED', subscriber: 'a', now },
    { type: 'UNSUBSCRIBED', subscriber: 'b', now },
    { type: 'ABORT', reason: 'stop', now },
    { type: 'RESUME', graceMs: 500, now },
    AFTER,
  ];
}

const project = (snapshot: WorkflowStepSnapshot) => JSON.stringify({ value: snapshot.value, status: snapshot.status, context: snapshot.context });

const explore = () => shortestPaths(workflowStepMachine, { input: INPUT, events: sampleEvents, serializeState: project });

test('model: the sample events include every event the machine handles', () => {
  assert.equal(unsampledEvents(workflowStepMachine, sampleEvents(createActor(workflowStepMachine, { input: INPUT }).getSnapshot())), []);
});

test('model: shortest paths reach every resting leaf state', () => {
  const reached = new Set(explore().flatMap((path) => leafPaths(path.state.value)));
  // `broadcasting` and `settled` are transient (eventless transitions leave them at once).
  const resting = leafStates(workflowStepMachine).filter((s) => s !== 'broadcasting' && s !== 'settled');
  assert.equal([...reached].sort(), resting);
});

test('model: every path replays on a real actor with a simulated clock', () => {
  const paths = explore();
  for (const path of paths) {
    const s = start(INPUT);
    replayPath(path, s, {
      project,
      timerMs: (_delay, { context }) => Math.max(0, nearestDeadline(context) - context.now),
      send: (event) => {
        assert.is(s.clock.now(), s.context().now);
        s.actor.send(event);
        return event;
      },
    });
  }
  assert.ok(paths.length > 20, `replayed ${paths.length} paths`);
});

// ---------------------------------------------------------------------------------------------------

test('toJSON() names every action and guard', () => {
  const seen = assertNamedInJson(workflowStepMachine);
  assert.ok(seen.includes('broadcastAction'));
});

test('the config is literal: only named references, each declared, each used', () => {
  assertLiteralConfig(workflowStepMachine, workflowStepContextFromInput);
});

test('a stored snapshot keeps its subscribers packed in columns and unpacks to the persisted snapshot', () => {
  const s = start();
  s.clock.increment(100);
  s.send({ type: 'ANSWER', subscriber: 'a', ok: true });
  s.send({ type: 'DISCONNECTED', subscriber: 'b' });
  const persisted = s.actor.getPersistedSnapshot() as unknown as { context: WorkflowStepContext };
  const stored = JSON.parse(JSON.stringify(packStepSnapshot(persisted))) as { context: Record<string, unknown> };
  assert.not.ok('subscribers' in stored.context, 'the subscribers are stored as columns, not as objects');
  assert.equal(stored.context.packed, {
    id: ['a', 'b', 'c'],
    wait: [true, true, false],
    timeoutAt: [5000, 8000, 1000],
    graceUntil: [null, 1100, null],
    status: ['done', 'pending', 'sent'],
    answeredAt: [100, null, null],
  });
  assert.equal(unpackStepSnapshot(stored), JSON.parse(JSON.stringify(persisted)));
  // A column whose values are all equal is one value: a broadcast's 1,000 subscribers differ in their ids alone.
  const fresh = start({ ...INPUT, subscribers: INPUT.subscribers.map((x) => ({ ...x, wait: true, timeoutMs: 5000 })) });
  const packed = (packStepSnapshot(fresh.actor.getPersistedSnapshot() as unknown as { context: WorkflowStepContext }) as { context: { packed: unknown } }).context.packed;
  assert.equal(packed, { id: ['a', 'b', 'c'], wait: true, timeoutAt: 5000, graceUntil: null, status: 'pending', answeredAt: null });
  // A snapshot stored before the packing (subscribers as objects) is read as it is; the restored actor runs from either.
  assert.equal(unpackStepSnapshot(JSON.parse(JSON.stringify(persisted))), JSON.parse(JSON.stringify(persisted)));
  const restored = start(INPUT, unpackStepSnapshot(stored) as unknown as WorkflowStepSnapshot);
  assert.equal(restored.context().subscribers, s.context().subscribers);
  restored.send({ type: 'ANSWER', subscriber: 'b', ok: true });
  assert.is(restored.value(), 'succeeded');
});

test.run();
