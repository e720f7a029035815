import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, SimulatedClock } from 'xstate';
import { filterSpecificity, formatAttrs, noWorkerError } from '../../machines/task.helpers.ts';
import { taskContextFromInput, taskMachine, type TaskContext, type TaskEvent, type TaskInput } from '../../machines/task.machine.ts';
import { assertLiteralConfig, assertNamedInJson, effectNames, leafStates, spyEffects, unsampledEvents } from './machine-checks.ts';
import { MODEL_INPUT, modelKey, modelPaths, replayOnActor, SAMPLE_EVENTS } from './task-machine-paths.ts';

const INPUT: TaskInput = { id: 't1', name: 'tag', attrs: { cloud: 'aws', account: '123' }, createdAt: 1_000_000 };

/** An event without `at` (the clock's time is filled in). */
type Untimed<E> = E extends unknown ? Omit<E, 'at'> & { at?: number } : never;

/** A task actor on a SimulatedClock at `createdAt`, every side effect a recording spy. */
function start(input: TaskInput = INPUT) {
  const { calls, spies } = spyEffects<TaskContext, TaskEvent>(taskMachine);
  const clock = new SimulatedClock();
  clock.set(input.createdAt);
  const actor = createActor(taskMachine.provide({ actions: spies }), { input, clock }).start();
  const send = (event: Untimed<TaskEvent>) => actor.send({ ...event, at: event.at ?? clock.now() } as TaskEvent);
  return { actor, clock, calls, send, names: () => calls.map((c) => c.action), value: () => actor.getSnapshot().value, context: () => actor.getSnapshot().context };
}

test('the side-effect placeholders are the ones the runtime must provide', () => {
  assert.equal(effectNames(taskMachine), ['freeSlot', 'notifyFinished', 'refuseCompletion', 'refuseRenew', 'sendPush', 'sendRevoked']);
});

test('input defaults: 60 s deadline, 30 s lease, 5 attempts', () => {
  const context = taskContextFromInput({ input: INPUT });
  assert.equal(
    { deadlineAt: context.deadlineAt, leaseTtlMs: context.leaseTtlMs, maxAttempts: context.maxAttempts, attempts: context.attempts },
    { deadlineAt: 1_060_000, leaseTtlMs: 30_000, maxAttempts: 5, attempts: 0 },
  );
  assert.is(start().value(), 'pending');
});

test('pending fails with NO_WORKER exactly at its deadline, with the clear message', () => {
  const s = start({ ...INPUT, deadlineMs: 5000 });
  s.clock.increment(4999);
  assert.is(s.value(), 'pending');
  s.clock.increment(1);
  assert.is(s.value(), 'failed');
  assert.is(s.actor.getSnapshot().status, 'done');
  assert.is(s.context().error?.code, 'NO_WORKER');
  assert.is(s.context().error?.message, 'No worker for task tag with attributes {account=123, cloud=aws} within its deadline of 5 s');
  assert.equal(s.names(), ['notifyFinished']);
});

test('lease, renew, done: the lease is renewed and the timer re-armed', () => {
  const s = start();
  s.clock.increment(500);
  s.send({ type: 'LEASE', workerId: 'w1', lease: 'L1' });
  assert.is(s.value(), 'claimed');
  assert.equal([s.context().attempts, s.context().lease, s.context().expiresAt], [1, 'L1', 1_030_500]);
  s.clock.increment(20_000);
  s.send({ type: 'RENEW', lease: 'L1' });
  assert.is(s.context().expiresAt, 1_050_500);
  // The first lease would have run out at 1_030_500; the renewal moved it.
  s.clock.increment(29_999);
  assert.is(s.value(), 'claimed');
  s.send({ type: 'DONE', lease: 'L1', result: { tagged: true } });
  assert.is(s.value(), 'done');
  assert.equal(s.context().result, { tagged: true });
  assert.equal(s.names(), ['sendPush', 'freeSlot', 'notifyFinished']);
});

test('a leased task is not leased again: a second LEASE changes nothing', () => {
  const s = start();
  s.send({ type: 'LEASE', workerId: 'w1', lease: 'L1' });
  s.send({ type: 'LEASE', workerId: 'w2', lease: 'L2' });
  assert.equal([s.value(), s.context().worker, s.context().lease, s.context().attempts], ['claimed', 'w1', 'L1', 1]);
  assert.equal(s.names(), ['sendPush']);
});

test('a stale lease is refused for renew, done and fail; the task stays claimed', () => {
  const s = start();
  s.send({ type: 'LEASE', workerId: 'w1', lease: 'L1' });
  const expires = s.context().expiresAt;
  s.clock.increment(100);
  s.send({ type: 'RENEW', lease: 'old' });
  s.send({ type: 'DONE', lease: 'old', result: 1 });
  s.send({ type: 'FAIL', lease: 'old', error: { code: 'INTERNAL', message: 'x', retryable: false } });
  assert.is(s.value(), 'claimed');
  assert.is(s.context().expiresAt, expires);
  assert.equal(s.names().slice(1), ['refuseRenew', 'refuseCompletion', 'refuseCompletion']);
});

test('a lease that is not renewed expires: revoked, leased again, the old lease is then stale', () => {
  const s = start({ ...INPUT, leaseTtlMs: 3000 });
  s.send({ type: 'LEASE', workerId: 'w1', lease: 'L1' });
  s.clock.increment(2999);
  assert.is(s.value(), 'claimed');
  s.clock.increment(1);
  assert.is(s.value(), 'pending');
  assert.is(s.calls[1]!.context.worker, 'w1', 'sendRevoked sees the worker to tell');
  s.send({ type: 'LEASE', workerId: 'w2', lease: 'L2' });
  s.send({ type: 'DONE', lease: 'L1', result: 'from w1' });
  assert.is(s.value(), 'claimed');
  s.send({ type: 'DONE', lease: 'L2', result: 'from w2' });
  assert.equal([s.value(), s.context().result, s.context().attempts], ['done', 'from w2', 2]);
  assert.equal(s.names(), ['sendPush', 'sendRevoked', 'sendPush', 'refuseCompletion', 'freeSlot', 'notifyFinished']);
});

test('WORKER_LOST from the holder releases; from another worker it is ignored', () => {
  const s = start();
  s.send({ type: 'LEASE', workerId: 'w1', lease: 'L1' });
  s.send({ type: 'WORKER_LOST', workerId: 'w2' });
  assert.is(s.value(), 'claimed');
  s.send({ type: 'WORKER_LOST', workerId: 'w1' });
  assert.equal([s.value(), s.context().attempts, s.context().worker], ['pending', 1, 'w1']);
});

test('after maxAttempts lost claims the task fails with WORKER_LOST', () => {
  const s = start({ ...INPUT, maxAttempts: 2, leaseTtlMs: 1000 });
  s.send({ type: 'LEASE', workerId: 'w1', lease: 'L1' });
  s.send({ type: 'WORKER_LOST', workerId: 'w1' });
  s.send({ type: 'LEASE', workerId: 'w2', lease: 'L2' });
  s.clock.increment(1000);
  assert.is(s.value(), 'failed');
  assert.is(s.context().error?.code, 'WORKER_LOST');
  assert.match(s.context().error!.message, /lost its worker 2 time\(s\), the last being w2/);
});

test('a task released after its deadline fails at once (the deadline is re-armed from context)', () => {
  const s = start({ ...INPUT, deadlineMs: 1000, leaseTtlMs: 5000 });
  s.send({ type: 'LEASE', workerId: 'w1', lease: 'L1' });
  s.clock.increment(2000);
  assert.is(s.value(), 'claimed', 'the deadline does not cut a running task');
  s.send({ type: 'WORKER_LOST', workerId: 'w1' });
  s.clock.increment(0);
  assert.is(s.value(), 'failed');
  assert.match(s.context().error!.message, /^No worker for task tag with attributes \{account=123, cloud=aws\} within its deadline of 1 s \(its 1 claim\(s\) were lost, the last by worker w1\)$/);
});

test('events after the end are ignored', () => {
  const s = start({ ...INPUT, deadlineMs: 10 });
  s.clock.increment(10);
  s.send({ type: 'LEASE', workerId: 'w1', lease: 'L1' });
  s.send({ type: 'DONE', lease: 'x', result: null });
  assert.is(s.value(), 'failed');
  assert.equal(s.names(), ['notifyFinished']);
});

test('a pushed lease: pending -> claimed in one step; a rejection with the lease puts it back unrun; a stale one is ignored', () => {
  const t = start();
  t.send({ type: 'LEASE', workerId: 'w1', lease: 'L1' });
  assert.is(t.value(), 'claimed');
  assert.equal([t.context().worker, t.context().lease, t.context().attempts], ['w1', 'L1', 1]);
  assert.ok(t.names().includes('sendPush'));
  t.send({ type: 'REJECT', lease: 'stale' });
  assert.is(t.value(), 'claimed');
  t.send({ type: 'REJECT', lease: 'L1' });
  assert.is(t.value(), 'pending');
  assert.equal([t.context().lease, t.context().attempts], [null, 0]);
  t.send({ type: 'LEASE', workerId: 'w2', lease: 'L2' });
  t.send({ type: 'DONE', lease: 'L1', result: 'stale' });
  assert.ok(t.names().includes('refuseCompletion'));
  t.send({ type: 'DONE', lease: 'L2', result: 'ok' });
  assert.is(t.value(), 'done');
});

test('helpers: specificity and attribute formatting', () => {
  assert.is(filterSpecificity({}, { cloud: 'aws' }), 0);
  assert.is(filterSpecificity({ cloud: ['aws', 'gcp'] }, { cloud: 'gcp', account: '1' }), 1);
  assert.is(filterSpecificity({ cloud: ['aws'], account: ['1'] }, { cloud: 'aws', account: '1' }), 2);
  assert.is(filterSpecificity({ cloud: ['aws'] }, { cloud: 'azure' }), -1);
  assert.is(filterSpecificity({ region: ['eu'] }, { cloud: 'aws' }), -1, 'a filtered attribute the task lacks does not match');
  assert.is(filterSpecificity({ constructor: ['x'] }, {}), -1, 'only own attributes count');
  assert.is(formatAttrs({}), '{}');
  assert.is(noWorkerError({ id: 'i', name: 'n', attrs: {}, deadlineMs: 1500, attempts: 0, worker: null }).message, 'No worker for task n with attributes {} within its deadline of 1.5 s');
});

// ---------------------------------------------------------------------------------------------------
// Model-based: reach every state from sample events, then replay each path on a real actor.

test('model: the sample events include every event the machine handles', () => {
  assert.equal(unsampledEvents(taskMachine, SAMPLE_EVENTS), []);
});

test('model: shortest paths reach every state, both final outcomes and both failure codes', () => {
  const paths = modelPaths();
  const reached = new Set(paths.map((p) => p.state.value as string));
  assert.equal([...reached].sort(), leafStates(taskMachine));
  const codes = new Set(paths.map((p) => p.state.context.error?.code).filter(Boolean));
  assert.equal([...codes].sort(), ['INTERNAL', 'NO_WORKER', 'WORKER_LOST']);
});

test('model: every path replays on a real actor with a simulated clock', () => {
  const paths = modelPaths();
  for (const path of paths) {
    const { actor } = replayOnActor(path);
    const snapshot = actor.getSnapshot();
    assert.is(modelKey(snapshot.value, snapshot.context, snapshot.status), modelKey(path.state.value, path.state.context, path.state.status));
  }
  assert.ok(paths.length > 15, `replayed ${paths.length} paths`);
  assert.is(MODEL_INPUT.maxAttempts, 2);
});

// ---------------------------------------------------------------------------------------------------
// Serialisation: the config is literal JSON-like data and every action/guard/delay is named.

test('the config is literal: only named references, each declared, each used', () => {
  assertLiteralConfig(taskMachine, taskContextFromInput);
  assertNamedInJson(taskMachine);
});

test.run();
