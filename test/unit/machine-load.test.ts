import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, transition, type StateValue } from 'xstate';
import { workerMachine, type WorkerContext, type WorkerEvent } from '../../machines/worker.machine.ts';
import { stateName } from '../../src/worker/agent.ts';
import { MachineLoad } from '../../src/worker/machine-load.ts';
import { spyEffects } from './machine-checks.ts';

// machine-load.ts takes a learned LOAD step again without the machine. That is right only if, in
// `connected`, where a LOAD goes depends on nothing but the state and whether `running` is zero.
test('in connected, a LOAD goes where the state and the side of zero say, whatever else the context holds, and asks for no effect', () => {
  const base = createActor(workerMachine, { input: { id: 'w1', token: 't' } }).getSnapshot().context;
  const contexts: WorkerContext[] = [
    base,
    { ...base, attempt: 5, running: 0 },
    { ...base, running: 3, backoffBaseMs: 7, graceMs: 1 },
    { ...base, id: 'other', token: 'x', closeCode: 4000, reason: 'r' },
  ];
  for (const value of [{ connected: 'idle' }, { connected: 'busy' }]) {
    for (const busy of [false, true]) {
      const outcomes = new Set<string>();
      for (const context of contexts) {
        for (const running of busy ? [1, 2, 9] : [0]) {
          const snapshot = workerMachine.resolveState({ value, context: { ...context, running: value.connected === 'busy' ? Math.max(1, context.running) : 0 } });
          const [next, actions] = transition(workerMachine, snapshot, { type: 'LOAD', running });
          assert.equal(actions, [], `no effect from ${stateName(value)} with running ${running}`);
          assert.is(next.context.running, running);
          outcomes.add(stateName(next.value));
        }
      }
      assert.equal([...outcomes], [busy ? 'connected.busy' : 'connected.idle'], `from ${stateName(value)}, busy ${busy}`);
    }
  }
});

/** A started worker machine in `connected.idle`, its effects counted, its steps and MachineLoad's news recorded. */
function harness() {
  const { calls, spies } = spyEffects<WorkerContext, WorkerEvent>(workerMachine);
  const actor = createActor(workerMachine.provide({ actions: spies }), { input: { id: 'w1', token: 't' } }).start();
  actor.send({ type: 'CONNECT' });
  actor.send({ type: 'SOCKET_OPEN' });
  actor.send({ type: 'WELCOME', disabled: false });
  let steps = 0;
  actor.subscribe(() => (steps += 1));
  const told: string[] = [];
  const load = new MachineLoad(actor, () => calls.length, (value: StateValue) => told.push(stateName(value)), stateName);
  return { actor, load, told, steps: () => steps, value: () => stateName(actor.getSnapshot().value) };
}

test('a LOAD step is taken for real the first time, then without the machine, which gets the count before anything else', () => {
  const w = harness();
  w.load.report(1);
  w.load.report(0);
  assert.is(w.steps(), 2, 'the first busy and idle steps are the machine\'s own');
  assert.equal(w.told, [], 'the machine itself told those');
  w.load.report(1);
  assert.is(w.steps(), 2, 'learned: the machine is not stepped');
  assert.equal(w.told, ['connected.busy']);
  assert.is(w.value(), 'connected.idle', 'the machine has not had the count yet');
  w.load.deliver();
  assert.is(w.value(), 'connected.busy', 'delivered: the machine is where it was said to be');
  assert.is(w.actor.getSnapshot().context.running, 1);
  w.load.deliver();
  assert.is(w.steps(), 3, 'a second delivery sends nothing');
});

test('busy and idle again between two deliveries leave the machine unstepped', () => {
  const w = harness();
  w.load.report(2);
  w.load.report(0);
  const steps = w.steps();
  for (let i = 0; i < 5; i++) {
    w.load.report(1);
    w.load.report(0);
  }
  w.load.deliver();
  assert.is(w.steps(), steps, 'no step for ten crossings that end where the machine is');
  assert.equal(w.told, Array.from({ length: 5 }, () => ['connected.busy', 'connected.idle']).flat());
  assert.is(w.value(), 'connected.idle');
});

test('a LOAD that ends stopping is sent at once, after the pending count', () => {
  const w = harness();
  w.load.report(1);
  w.load.report(0);
  w.load.report(1); // learned: pending
  w.load.deliver(); // what the agent does before it steps the machine on STOP
  w.actor.send({ type: 'STOP', reason: 'test' });
  assert.is(w.value(), 'stopping', 'a job still runs');
  w.load.report(0);
  assert.is(w.actor.getSnapshot().status, 'done', 'the machine heard the zero load at once and shut down');
  assert.equal(w.told, ['connected.busy']);
});

test.run();
