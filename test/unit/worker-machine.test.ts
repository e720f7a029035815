import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, SimulatedClock } from 'xstate';
import { getPathsFromEvents } from 'xstate/graph';
import { backoffMs, isAcceptingJobs, type WorkerSnapshot } from '../../machines/worker.helpers.ts';
import {
  workerContextFromInput,
  workerMachine,
  type WorkerContext,
  type WorkerEvent,
  type WorkerInput,
} from '../../machines/worker.machine.ts';
import { afterEvent, assertLiteralConfig, assertNamedInJson, declaredDelay, effectNames, leafPaths, leafStates, replayPath, shortestPaths, spyEffects, unsampledEvents } from './machine-checks.ts';

const CREDS = { id: 'w1', token: 'tok' } as const;

/** Starts a worker actor on a SimulatedClock with every side effect replaced by a recording spy. */
function start(input: WorkerInput = {}) {
  const { calls, spies } = spyEffects<WorkerContext, WorkerEvent>(workerMachine);
  const clock = new SimulatedClock();
  const actor = createActor(workerMachine.provide({ actions: spies }), { input, clock }).start();
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

function welcome(w: Harness, disabled = false): void {
  w.actor.send({ type: 'CONNECT' });
  w.actor.send({ type: 'SOCKET_OPEN' });
  w.actor.send({ type: 'WELCOME', disabled });
}

/** Advances the clock 1 ms at a time until the actor leaves `state`; returns the ms waited. */
function msUntilLeaving(w: Harness, state: string, limit = 120_000): number {
  for (let ms = 1; ms <= limit; ms++) {
    w.clock.increment(1);
    if (!w.actor.getSnapshot().matches(state as never)) return ms;
  }
  throw new Error(`still in ${state} after ${limit} ms`);
}

test('the side-effect placeholders are the ones the runtime must provide', () => {
  assert.equal(effectNames(workerMachine), [
    'cancelAllJobs',
    'closeConnection',
    'drainJobs',
    'exitProcess',
    'openConnection',
    'saveCredentials',
    'sendBye',
    'sendHello',
  ]);
});

test('input defaults and initial state', () => {
  assert.equal(workerContextFromInput({ input: {} }), {
    id: null,
    token: null,
    attempt: 0,
    running: 0,
    backoffBaseMs: 500,
    backoffMaxMs: 30_000,
    closeCode: null,
    reason: null,
    graceMs: 10_000,
  });
  assert.is(start().value(), 'unregistered');
  assert.is(start({ id: 'w1' }).value(), 'unregistered');
  assert.is(start(CREDS).value(), 'registered');
});

test('CREDENTIALS stores and persists the credentials', () => {
  const w = start();
  w.actor.send({ type: 'CREDENTIALS', id: 'w9', token: 'secret' });
  assert.is(w.value(), 'registered');
  assert.equal([w.context().id, w.context().token], ['w9', 'secret']);
  assert.equal(w.names(), ['saveCredentials']);
  assert.is(w.calls[0]!.context.token, 'secret', 'saveCredentials runs after the assign');
});

test('CONNECT opens, SOCKET_OPEN says hello, WELCOME connects', () => {
  const w = start(CREDS);
  w.actor.send({ type: 'CONNECT' });
  assert.is(w.value(), 'connecting');
  assert.equal(w.names(), ['openConnection']);
  w.actor.send({ type: 'SOCKET_OPEN' });
  assert.equal(w.names(), ['openConnection', 'sendHello']);
  w.actor.send({ type: 'WELCOME', disabled: false });
  assert.equal(w.value(), { connected: 'idle' });
  assert.ok(isAcceptingJobs(w.actor.getSnapshot()));
});

test('WELCOME {disabled: true} lands in disabled, which refuses work', () => {
  const w = start(CREDS);
  welcome(w, true);
  assert.is(w.value(), 'disabled');
  assert.not.ok(isAcceptingJobs(w.actor.getSnapshot()));
});

test('reconnect backoff grows 500, 1000, 2000, ... and is capped at backoffMaxMs', () => {
  const w = start(CREDS);
  w.actor.send({ type: 'CONNECT' });
  const waited: number[] = [];
  for (let i = 0; i < 8; i++) {
    w.actor.send({ type: 'SOCKET_CLOSED', code: 1006, final: false });
    assert.is(w.value(), 'reconnecting');
    waited.push(msUntilLeaving(w, 'reconnecting'));
    assert.is(w.value(), 'connecting');
  }
  assert.equal(waited, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.is(w.context().attempt, 8);
  assert.is(w.names().filter((n) => n === 'openConnection').length, 9);
  assert.is(w.context().closeCode, 1006);
});

test('backoff honours custom base and cap', () => {
  const w = start({ ...CREDS, backoffBaseMs: 100, backoffMaxMs: 350 });
  w.actor.send({ type: 'CONNECT' });
  const waited: number[] = [];
  for (let i = 0; i < 4; i++) {
    w.actor.send({ type: 'SOCKET_CLOSED', code: 1006, final: false });
    waited.push(msUntilLeaving(w, 'reconnecting'));
  }
  assert.equal(waited, [100, 200, 350, 350]);
  assert.equal([0, 1, 2, 3, 60].map((n) => backoffMs(n, 500, 30_000)), [500, 1000, 2000, 4000, 30_000]);
});

test('the runtime can supply a jittered reconnectDelay', () => {
  const clock = new SimulatedClock();
  const machine = workerMachine.provide({ delays: { reconnectDelay: ({ context }) => 7 + context.attempt } });
  const actor = createActor(machine, { input: CREDS, clock }).start();
  actor.send({ type: 'CONNECT' });
  actor.send({ type: 'SOCKET_CLOSED', code: 1006, final: false });
  clock.increment(6);
  assert.is(actor.getSnapshot().value, 'reconnecting');
  clock.increment(1);
  assert.is(actor.getSnapshot().value, 'connecting');
});

test('WELCOME resets attempt, so the next loss waits the base delay again', () => {
  const w = start(CREDS);
  w.actor.send({ type: 'CONNECT' });
  for (let i = 0; i < 3; i++) {
    w.actor.send({ type: 'SOCKET_CLOSED', code: 1006, final: false });
    msUntilLeaving(w, 'reconnecting');
  }
  assert.is(w.context().attempt, 3);
  w.actor.send({ type: 'SOCKET_OPEN' });
  w.actor.send({ type: 'WELCOME', disabled: false });
  assert.is(w.context().attempt, 0);
  w.actor.send({ type: 'SOCKET_CLOSED', code: 1006, final: false });
  assert.is(msUntilLeaving(w, 'reconnecting'), 500);
});

test('a final close while connecting shuts down without reconnecting', () => {
  const w = start(CREDS);
  w.actor.send({ type: 'CONNECT' });
  w.actor.send({ type: 'SOCKET_CLOSED', code: 4001, final: true });
  assert.is(w.value(), 'shutdown');
  assert.is(w.actor.getSnapshot().status, 'done');
  assert.is(w.context().closeCode, 4001);
  w.clock.increment(60_000);
  assert.equal(w.names(), ['openConnection', 'closeConnection', 'exitProcess']);
});

const load = (running: number) => ({ type: 'LOAD', running }) as const;

test('LOAD moves connected between idle and busy: busy while anything runs', () => {
  const w = start(CREDS);
  welcome(w);
  w.actor.send(load(1));
  assert.equal(w.value(), { connected: 'busy' });
  w.actor.send(load(3));
  assert.equal(w.value(), { connected: 'busy' });
  assert.is(w.context().running, 3);
  w.actor.send(load(0));
  assert.equal(w.value(), { connected: 'idle' });
  assert.is(w.context().running, 0);
  assert.equal(w.names(), ['openConnection', 'sendHello'], 'no side effect for a change of load');
});

test('a LOAD that crosses no boundary changes nothing a subscriber would report', () => {
  const w = start(CREDS);
  welcome(w);
  const values: string[] = [];
  w.actor.subscribe((snapshot) => values.push(JSON.stringify(snapshot.value)));
  w.actor.send(load(1));
  w.actor.send(load(2));
  w.actor.send(load(0));
  assert.equal([...new Set(values)], ['{"connected":"busy"}', '{"connected":"idle"}']);
});

test('load reported before WELCOME (work still ending after a reconnect) makes the worker busy at once', () => {
  const w = start(CREDS);
  w.actor.send(load(1));
  welcome(w);
  assert.equal(w.value(), { connected: 'busy' });
});

test('DISABLE keeps tracking the load; ENABLE returns to busy while work runs', () => {
  const w = start(CREDS);
  welcome(w);
  w.actor.send(load(1));
  w.actor.send({ type: 'DISABLE' });
  assert.is(w.value(), 'disabled');
  assert.not.ok(isAcceptingJobs(w.actor.getSnapshot()));
  assert.is(w.context().running, 1);
  w.actor.send({ type: 'ENABLE' });
  assert.equal(w.value(), { connected: 'busy' });
  w.actor.send({ type: 'DISABLE' });
  w.actor.send(load(0));
  w.actor.send({ type: 'ENABLE' });
  assert.equal(w.value(), { connected: 'idle' });
  assert.not.ok(w.names().includes('cancelAllJobs'));
});

test('losing the socket while busy cancels the work and reconnects; the runtime reports it gone', () => {
  const w = start(CREDS);
  welcome(w);
  w.actor.send(load(1));
  w.actor.send({ type: 'SOCKET_CLOSED', code: 1006, final: false });
  assert.is(w.value(), 'reconnecting');
  const cancel = w.calls.find((c) => c.action === 'cancelAllJobs');
  assert.is(cancel?.context.running, 1);
  // Still running until the runtime says the cancelled work ended: a reconnect before that is busy.
  assert.is(w.context().running, 1);
  w.actor.send(load(0));
  assert.is(w.context().running, 0);
});

test('a final close while disabled drains instead of reconnecting', () => {
  const w = start(CREDS);
  welcome(w, true);
  w.actor.send(load(1));
  w.actor.send({ type: 'SOCKET_CLOSED', code: 4003, final: true });
  assert.is(w.value(), 'stopping');
  assert.not.ok(w.names().includes('sendBye'), 'no bye on a closed socket');
  w.actor.send(load(0));
  assert.is(w.value(), 'shutdown');
});

test('SHUTDOWN says bye, drains, and exits when the last job finishes', () => {
  const w = start(CREDS);
  welcome(w);
  w.actor.send(load(1));
  w.calls.length = 0;
  w.actor.send({ type: 'SHUTDOWN', reason: 'hub restarting' });
  assert.is(w.value(), 'stopping');
  assert.is(w.context().reason, 'hub restarting');
  assert.equal(w.names(), ['sendBye', 'drainJobs']);
  w.actor.send(load(0));
  assert.is(w.value(), 'shutdown');
  assert.equal(w.names(), ['sendBye', 'drainJobs', 'closeConnection', 'exitProcess']);
});

test('the grace timeout cancels jobs that outlive graceMs', () => {
  const w = start({ ...CREDS, graceMs: 2000 });
  welcome(w);
  w.actor.send(load(1));
  w.actor.send({ type: 'STOP' });
  assert.is(w.context().reason, 'local stop');
  w.clock.increment(1999);
  assert.is(w.value(), 'stopping');
  assert.not.ok(w.names().includes('cancelAllJobs'));
  w.clock.increment(1);
  assert.is(w.value(), 'shutdown');
  const tail = w.calls.slice(-3);
  assert.equal(
    tail.map((c) => c.action),
    ['cancelAllJobs', 'closeConnection', 'exitProcess'],
  );
  assert.is(tail[0]!.context.running, 1);
});

test('STOP with no jobs shuts down at once; a second STOP forces shutdown', () => {
  const idle = start(CREDS);
  welcome(idle);
  idle.actor.send({ type: 'STOP' });
  assert.is(idle.value(), 'shutdown');

  const busy = start(CREDS);
  welcome(busy);
  busy.actor.send(load(1));
  busy.actor.send({ type: 'STOP' });
  busy.actor.send({ type: 'STOP' });
  assert.is(busy.value(), 'shutdown');
  assert.ok(busy.names().includes('cancelAllJobs'));
});

test('STOP while reconnecting shuts down and never dials again', () => {
  const w = start(CREDS);
  w.actor.send({ type: 'CONNECT' });
  w.actor.send({ type: 'SOCKET_CLOSED', code: 1006, final: false });
  w.actor.send({ type: 'STOP', reason: 'SIGTERM' });
  assert.is(w.value(), 'shutdown');
  w.clock.increment(60_000);
  assert.equal(w.names(), ['openConnection', 'closeConnection', 'exitProcess']);
  assert.is(w.context().reason, 'SIGTERM');
});

test('STOP before registering exits cleanly', () => {
  const w = start();
  w.actor.send({ type: 'STOP' });
  assert.is(w.value(), 'shutdown');
  assert.equal(w.names(), ['drainJobs', 'closeConnection', 'exitProcess']);
});

test('getPathsFromEvents: a scripted run ends in shutdown', () => {
  const [path] = getPathsFromEvents(
    workerMachine,
    [
      { type: 'CONNECT' },
      { type: 'SOCKET_OPEN' },
      { type: 'WELCOME', disabled: false },
      { type: 'LOAD', running: 1 },
      { type: 'SHUTDOWN' },
      { type: 'LOAD', running: 0 },
    ],
    // getPathsFromEvents computes its start state without `input` (xstate 5.33), so pass it explicitly.
    { fromState: createActor(workerMachine, { input: CREDS }).getSnapshot() },
  );
  assert.is(path!.state.value, 'shutdown');
  assert.is(path!.state.status, 'done');
});

// ---------------------------------------------------------------------------------------------------
// Model-based: reach every leaf state from sample events, then replay each path on a real actor.

const sampleEvents: WorkerEvent[] = [
  { type: 'CREDENTIALS', id: 'w1', token: 'tok' },
  { type: 'CONNECT' },
  { type: 'SOCKET_OPEN' },
  { type: 'WELCOME', disabled: false },
  { type: 'WELCOME', disabled: true },
  { type: 'SOCKET_CLOSED', code: 1006, final: false },
  { type: 'SOCKET_CLOSED', code: 4001, final: true },
  { type: 'LOAD', running: 1 },
  { type: 'LOAD', running: 0 },
  { type: 'DISABLE' },
  { type: 'ENABLE' },
  { type: 'SHUTDOWN' },
  { type: 'STOP' },
  afterEvent('reconnectDelay', 'worker.reconnecting'),
  afterEvent('graceDelay', 'worker.stopping'),
];

/** `attempt` grows without bound along reconnect loops; leave it out so the state space is finite. */
function project(snapshot: WorkerSnapshot): string {
  const { attempt: _attempt, ...rest } = snapshot.context;
  return JSON.stringify({ value: snapshot.value, status: snapshot.status, context: rest });
}

const explore = (input: WorkerInput) => shortestPaths(workerMachine, { input, events: sampleEvents, serializeState: project });

test('model: the sample events include every event the machine handles', () => {
  assert.equal(unsampledEvents(workerMachine, sampleEvents), []);
});

test('model: shortest paths reach every leaf state of the machine', () => {
  const reached = new Set<string>();
  for (const input of [{}, CREDS]) {
    for (const path of explore(input)) for (const leaf of leafPaths(path.state.value)) reached.add(leaf);
  }
  assert.equal([...reached].sort(), leafStates(workerMachine));
});

test('model: every path replays on a real actor with a simulated clock', () => {
  let replayed = 0;
  for (const input of [{}, CREDS]) {
    for (const path of explore(input)) {
      replayPath(path, start(input), { project, timerMs: declaredDelay(workerMachine) });
      replayed++;
    }
  }
  assert.ok(replayed > 20, `replayed ${replayed} paths`);
});

// ---------------------------------------------------------------------------------------------------
// Serialisation: the config is literal JSON-like data and every action/guard/delay is named.

test('toJSON() names every action and guard (no inline functions serialised as null)', () => {
  assert.ok(assertNamedInJson(workerMachine).includes('openConnection'));
});

test('the config is literal: only named references, each declared, each used', () => {
  assertLiteralConfig(workerMachine, workerContextFromInput);
});

test.run();
