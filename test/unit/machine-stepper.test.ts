import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initialTransition, transition } from 'xstate';
import { sessionMachine, type SessionEvent, type SessionInput } from '../../machines/session.machine.ts';
import { createStepper } from '../../src/hub/machine-stepper.ts';

/** What a step is: the snapshot's value, status and context, and the actions it asks for, by type. */
function described([snapshot, actions]: [{ value: unknown; status: string; context: unknown }, ReadonlyArray<{ type: string }>]): string {
  return JSON.stringify({ value: snapshot.value, status: snapshot.status, context: snapshot.context, actions: actions.map((a) => a.type) });
}

const events: SessionEvent[] = [
  { type: 'JOB_ASSIGNED' },
  { type: 'JOB_ASSIGNED' },
  { type: 'DISABLE' },
  { type: 'JOB_DONE' },
  { type: 'ENABLE' },
  { type: 'JOB_DONE' },
  { type: 'JOB_ASSIGNED' },
  { type: 'SHUTDOWN' },
  { type: 'JOB_DONE' },
  { type: 'JOB_ASSIGNED' },
  { type: 'SOCKET_CLOSED', code: 1006 },
];

test('a stepper steps the session machine exactly as xstate\'s transition() does, actions included', () => {
  const step = createStepper(sessionMachine);
  for (const input of [{ capacity: 1 }, { capacity: 2 }, { capacity: 2, disabled: true }] satisfies SessionInput[]) {
    let [ours] = initialTransition(sessionMachine, input);
    let [theirs] = initialTransition(sessionMachine, input);
    const seen = new Set<string>();
    for (const event of events) {
      const mine = step(ours, event);
      const reference = transition(sessionMachine, theirs, event);
      assert.is(described(mine), described(reference), `${JSON.stringify(input)}, ${event.type}`);
      for (const action of mine[1]) seen.add(action.type);
      [ours] = mine;
      [theirs] = reference;
    }
    assert.ok(seen.has('failOpenJobs'), 'the sequence reaches a step with actions');
    assert.is(ours.status, 'done');
  }
});

test('each step returns its own actions: those of an earlier step are not carried into a later one', () => {
  const step = createStepper(sessionMachine);
  const [start] = initialTransition(sessionMachine, { capacity: 1 });
  const [disabled, first] = step(start, { type: 'DISABLE' });
  const [enabled, second] = step(disabled, { type: 'ENABLE' });
  const [, third] = step(enabled, { type: 'JOB_ASSIGNED' });
  assert.equal(first.map((a) => a.type), ['sendDisable']);
  assert.equal(second.map((a) => a.type), ['sendEnable']);
  assert.equal(third, []);
  // Snapshots stay values: stepping an old one again gives the same result.
  assert.is(described(step(start, { type: 'DISABLE' })), described([disabled, first]));
});

test.run();
