import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, SimulatedClock, type AnyStateMachine, type StateValue } from 'xstate';
import { getPathsFromEvents, getShortestPaths, getStateNodes } from 'xstate/graph';
import { backoffMs, isAcceptingJobs, type WorkerSnapshot } from '../../machines/worker.helpers.ts';
import {
  workerContextFromInput,
  workerMachine,
  type WorkerContext,
  type WorkerEvent,
  type WorkerInput,
} from '../../machines/worker.machine.ts';

const CREDS = { id: 'w1', token: 'tok' } as const;

/** The side-effect placeholders: every declared action that is not a named `assign`. */
const effects = Object.entries(workerMachine.implementations.actions)
  .filter(([, impl]) => (impl as { type?: string }).type !== 'xstate.assign')
  .map(([name]) => name);

interface Call {
  action: string;
  event: WorkerEvent;
  context: WorkerContext;
}

/** Starts a worker actor on a SimulatedClock with every side effect replaced by a recording spy. */
function start(input: WorkerInput = {}) {
  const calls: Call[] = [];
  const clock = new SimulatedClock();
  const spies = Object.fromEntries(
    effects.map((action) => [
      action,
      ({ context, event }: { context: WorkerContext; event: WorkerEvent }) => {
        calls.push({ action, event, context: structuredClone(context) });
      },
    ]),
  );
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
  assert.equal([...effects].sort(), [
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
    jobs: [],
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

test('jobs move connected between idle and busy', () => {
  const w = start(CREDS);
  welcome(w);
  w.actor.send({ type: 'JOB_STARTED', jobId: 'j1' });
  assert.equal(w.value(), { connected: 'busy' });
  w.actor.send({ type: 'JOB_STARTED', jobId: 'j2' });
  w.actor.send({ type: 'JOB_STARTED', jobId: 'j2' });
  assert.equal(w.context().jobs, ['j1', 'j2']);
  w.actor.send({ type: 'JOB_FINISHED', jobId: 'j1' });
  assert.equal(w.value(), { connected: 'busy' });
  w.actor.send({ type: 'JOB_FINISHED', jobId: 'j2' });
  assert.equal(w.value(), { connected: 'idle' });
  assert.equal(w.context().jobs, []);
});

test('DISABLE keeps tracking running jobs; ENABLE returns to busy while they run', () => {
  const w = start(CREDS);
  welcome(w);
  w.actor.send({ type: 'JOB_STARTED', jobId: 'j1' });
  w.actor.send({ type: 'DISABLE' });
  assert.is(w.value(), 'disabled');
  assert.not.ok(isAcceptingJobs(w.actor.getSnapshot()));
  assert.equal(w.context().jobs, ['j1']);
  w.actor.send({ type: 'ENABLE' });
  assert.equal(w.value(), { connected: 'busy' });
  w.actor.send({ type: 'DISABLE' });
  w.actor.send({ type: 'JOB_FINISHED', jobId: 'j1' });
  w.actor.send({ type: 'ENABLE' });
  assert.equal(w.value(), { connected: 'idle' });
  assert.not.ok(w.names().includes('cancelAllJobs'));
});

test('losing the socket while busy cancels jobs and reconnects', () => {
  const w = start(CREDS);
  welcome(w);
  w.actor.send({ type: 'JOB_STARTED', jobId: 'j1' });
  w.actor.send({ type: 'SOCKET_CLOSED', code: 1006, final: false });
  assert.is(w.value(), 'reconnecting');
  const cancel = w.calls.find((c) => c.action === 'cancelAllJobs');
  assert.equal(cancel?.context.jobs, ['j1'], 'cancelAllJobs sees the jobs before they are cleared');
  assert.equal(w.context().jobs, []);
});

test('a final close while disabled drains instead of reconnecting', () => {
  const w = start(CREDS);
  welcome(w, true);
  w.actor.send({ type: 'JOB_STARTED', jobId: 'j1' });
  w.actor.send({ type: 'SOCKET_CLOSED', code: 4003, final: true });
  assert.is(w.value(), 'stopping');
  assert.not.ok(w.names().includes('sendBye'), 'no bye on a closed socket');
  w.actor.send({ type: 'JOB_FINISHED', jobId: 'j1' });
  assert.is(w.value(), 'shutdown');
});

test('SHUTDOWN says bye, drains, and exits when the last job finishes', () => {
  const w = start(CREDS);
  welcome(w);
  w.actor.send({ type: 'JOB_STARTED', jobId: 'j1' });
  w.calls.length = 0;
  w.actor.send({ type: 'SHUTDOWN', reason: 'hub restarting' });
  assert.is(w.value(), 'stopping');
  assert.is(w.context().reason, 'hub restarting');
  assert.equal(w.names(), ['sendBye', 'drainJobs']);
  w.actor.send({ type: 'JOB_FINISHED', jobId: 'j1' });
  assert.is(w.value(), 'shutdown');
  assert.equal(w.names(), ['sendBye', 'drainJobs', 'closeConnection', 'exitProcess']);
});

test('the grace timeout cancels jobs that outlive graceMs', () => {
  const w = start({ ...CREDS, graceMs: 2000 });
  welcome(w);
  w.actor.send({ type: 'JOB_STARTED', jobId: 'j1' });
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
  assert.equal(tail[0]!.context.jobs, ['j1']);
});

test('STOP with no jobs shuts down at once; a second STOP forces shutdown', () => {
  const idle = start(CREDS);
  welcome(idle);
  idle.actor.send({ type: 'STOP' });
  assert.is(idle.value(), 'shutdown');

  const busy = start(CREDS);
  welcome(busy);
  busy.actor.send({ type: 'JOB_STARTED', jobId: 'j1' });
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
      { type: 'JOB_STARTED', jobId: 'j1' },
      { type: 'SHUTDOWN' },
      { type: 'JOB_FINISHED', jobId: 'j1' },
    ],
    // getPathsFromEvents computes its start state without `input` (xstate 5.33), so pass it explicitly.
    { fromState: createActor(workerMachine, { input: CREDS }).getSnapshot() },
  );
  assert.is(path!.state.value, 'shutdown');
  assert.is(path!.state.status, 'done');
});

// ---------------------------------------------------------------------------------------------------
// Model-based: reach every leaf state from sample events, then replay each path on a real actor.

/** Delayed transitions are taken by `xstate.after.<delay>.<stateId>` events. */
function afterEvent(delay: string, stateId: string): WorkerEvent {
  return { type: `xstate.after.${delay}.${stateId}` } as unknown as WorkerEvent;
}

const sampleEvents: WorkerEvent[] = [
  { type: 'CREDENTIALS', id: 'w1', token: 'tok' },
  { type: 'CONNECT' },
  { type: 'SOCKET_OPEN' },
  { type: 'WELCOME', disabled: false },
  { type: 'WELCOME', disabled: true },
  { type: 'SOCKET_CLOSED', code: 1006, final: false },
  { type: 'SOCKET_CLOSED', code: 4001, final: true },
  { type: 'JOB_STARTED', jobId: 'j1' },
  { type: 'JOB_STARTED', jobId: 'j2' },
  { type: 'JOB_FINISHED', jobId: 'j1' },
  { type: 'JOB_FINISHED', jobId: 'j2' },
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

function explore(input: WorkerInput) {
  return getShortestPaths(workerMachine, {
    input,
    events: sampleEvents,
    serializeState: project,
    // The pure transition function still handles events in a final state; a real actor ignores them.
    stopWhen: (snapshot) => snapshot.status !== 'active',
  });
}

test('model: the sample events include every event the machine handles', () => {
  const handled = new Set([workerMachine.root, ...getStateNodes(workerMachine.root)].flatMap((n) => n.ownEvents));
  const sampled = new Set(sampleEvents.map((e) => e.type as string));
  assert.equal([...handled].filter((t) => !sampled.has(t)), []);
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
      const w = start(input);
      for (const step of path.steps) {
        const type = step.event.type as string;
        if (type === 'xstate.init') continue;
        if (type.startsWith('xstate.after.')) {
          // Fire the timer by advancing time exactly to its computed delay.
          const delay = type.split('.')[2] as keyof typeof workerMachine.implementations.delays;
          const impl = workerMachine.implementations.delays[delay] as (a: { context: WorkerContext }) => number;
          const ms = impl({ context: w.context() });
          const before = project(w.actor.getSnapshot());
          w.clock.increment(ms - 1);
          assert.is(project(w.actor.getSnapshot()), before, `${type} fired early`);
          w.clock.increment(1);
        } else {
          w.actor.send(step.event);
        }
        assert.equal(w.value(), step.state.value, `after ${type}`);
      }
      assert.is(project(w.actor.getSnapshot()), project(path.state));
      replayed++;
    }
  }
  assert.ok(replayed > 20, `replayed ${replayed} paths`);
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

const isEffectOrAssign = (name: string) => name in workerMachine.implementations.actions;

test('toJSON() names every action and guard (no inline functions serialised as null)', () => {
  const json = JSON.stringify(workerMachine.toJSON());
  const seen: string[] = [];
  (function walk(node: unknown, key: string): void {
    if (Array.isArray(node)) {
      if (key === 'actions' || key === 'entry' || key === 'exit') {
        for (const action of node) {
          const name = typeof action === 'string' ? action : (action as { type?: unknown } | null)?.type;
          assert.type(name, 'string', `${key} holds ${JSON.stringify(action)}`);
          // xstate.raise / xstate.cancel are the scheduling of `after` timers.
          assert.ok(isEffectOrAssign(name as string) || /^xstate\.(raise|cancel)$/.test(name as string), `${name}`);
          seen.push(name as string);
        }
      } else node.forEach((child) => walk(child, key));
      return;
    }
    if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'guard') assert.ok(typeof v === 'string' && v in workerMachine.implementations.guards, `guard ${v}`);
        walk(v, k);
      }
    }
  })(JSON.parse(json), '');
  assert.ok(seen.includes('openConnection'));
});

test('the config is literal: only named references, each declared, each used', () => {
  const { implementations } = workerMachine;
  const used = { actions: new Set<string>(), guards: new Set<string>(), delays: new Set<string>() };
  (function walk(node: unknown, path: string): void {
    if (typeof node === 'function') {
      // The context factory is the one allowed function; it is a named export.
      assert.is(path, 'context', `function at ${path}`);
      assert.is(node, workerContextFromInput);
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
  })(workerMachine.config, '');
  assert.equal([...used.actions].sort(), Object.keys(implementations.actions).sort());
  assert.equal([...used.guards].sort(), Object.keys(implementations.guards).sort());
  assert.equal([...used.delays].sort(), Object.keys(implementations.delays).sort());
  const { context: _context, ...data } = workerMachine.config;
  assert.equal(jsonIssues(data, 'config'), [], 'config holds only JSON values');
});

test.run();
