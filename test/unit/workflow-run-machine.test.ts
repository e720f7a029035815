import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, SimulatedClock, type SnapshotFrom } from 'xstate';
import {
  workflowRunContextFromInput,
  workflowRunMachine,
  type WorkflowRunContext,
  type WorkflowRunEvent,
  type WorkflowRunInput,
} from '../../machines/workflow-run.machine.ts';
import { assertLiteralConfig, assertNamedInJson, effectNames, leafPaths, leafStates, replayPath, shortestPaths, spyEffects, unsampledEvents } from './machine-checks.ts';

type RunSnapshot = SnapshotFrom<typeof workflowRunMachine>;

const INPUT: WorkflowRunInput = {
  runId: 'run-1',
  workflow: 'collect_and_cleanup',
  steps: [
    { name: 'collect', action: 'collect', onError: 'continue' },
    { name: 'plan_cleanup', action: 'plan_cleanup', onError: 'stop' },
    { name: 'cleanup', action: 'cleanup', onError: 'stop' },
  ],
};

function start(input: WorkflowRunInput = INPUT, snapshot?: RunSnapshot) {
  const { calls, spies } = spyEffects<WorkflowRunContext, WorkflowRunEvent>(workflowRunMachine);
  const clock = new SimulatedClock();
  const actor = createActor(workflowRunMachine.provide({ actions: spies }), (snapshot ? { snapshot, clock } : { input, clock }) as never).start();
  return {
    actor,
    clock,
    calls,
    names: () => calls.map((c) => `${c.action}${c.action === 'startStep' ? `:${c.context.index}` : ''}`),
    value: () => actor.getSnapshot().value,
    context: () => actor.getSnapshot().context,
    done: (result: 'succeeded' | 'failed' | 'timedOut' | 'aborted', index = actor.getSnapshot().context.index) =>
      actor.send({ type: 'STEP_DONE', index, result }),
  };
}

test('the side-effect placeholders are the ones the runtime must provide', () => {
  assert.equal(effectNames(workflowRunMachine), ['abortStep', 'runFinished', 'startStep']);
});

test('input', () => {
  assert.equal(workflowRunContextFromInput({ input: INPUT }), { ...INPUT, index: 0, results: [], reason: null });
  assert.is(start().value(), 'pending');
});

test('every step in order, then succeeded', () => {
  const s = start();
  s.actor.send({ type: 'START' });
  assert.equal(s.names(), ['startStep:0']);
  s.done('succeeded');
  s.done('succeeded');
  assert.equal(s.names(), ['startStep:0', 'startStep:1', 'startStep:2']);
  s.done('succeeded');
  assert.is(s.value(), 'succeeded');
  assert.equal(s.context().results, ['succeeded', 'succeeded', 'succeeded']);
  assert.equal(s.names().at(-1), 'runFinished');
});

test('on_error continue: a failed step goes on and the run ends failed', () => {
  const s = start();
  s.actor.send({ type: 'START' });
  s.done('timedOut');
  assert.is(s.context().index, 1);
  s.done('succeeded');
  s.done('succeeded');
  assert.is(s.value(), 'failed');
  assert.equal(s.context().results, ['timedOut', 'succeeded', 'succeeded']);
});

test('on_error stop: a failed step ends the run', () => {
  const s = start();
  s.actor.send({ type: 'START' });
  s.done('succeeded');
  s.done('failed');
  assert.is(s.value(), 'failed');
  assert.equal(s.names(), ['startStep:0', 'startStep:1', 'runFinished']);
});

test('a STEP_DONE for another step is ignored', () => {
  const s = start();
  s.actor.send({ type: 'START' });
  s.done('succeeded', 1);
  s.done('failed', 5);
  assert.equal(s.context().results, []);
  assert.is(s.context().index, 0);
});

test('ABORT while running aborts the step', () => {
  const s = start();
  s.actor.send({ type: 'START' });
  s.actor.send({ type: 'ABORT', reason: 'by admin' });
  assert.is(s.value(), 'aborted');
  assert.equal(s.names(), ['startStep:0', 'abortStep', 'runFinished']);
  assert.is(s.context().reason, 'by admin');
});

test('pending: SKIP and ABORT end it without starting a step', () => {
  const skipped = start();
  skipped.actor.send({ type: 'SKIP', reason: 'run-0 is running' });
  assert.is(skipped.value(), 'skipped');
  assert.equal(skipped.names(), ['runFinished']);
  const aborted = start();
  aborted.actor.send({ type: 'ABORT', reason: 'replaced' });
  assert.is(aborted.value(), 'aborted');
  assert.equal(aborted.names(), ['runFinished']);
});

test('a workflow without steps succeeds at START', () => {
  const s = start({ ...INPUT, steps: [] });
  s.actor.send({ type: 'START' });
  assert.is(s.value(), 'succeeded');
});

test('a restored running snapshot does not start its step again', () => {
  const first = start();
  first.actor.send({ type: 'START' });
  first.done('succeeded');
  const json = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot())) as RunSnapshot;
  const s = start(INPUT, json);
  assert.equal(s.names(), []);
  assert.is(s.context().index, 1);
  s.done('succeeded');
  assert.equal(s.names(), ['startStep:2']);
});

// ---------------------------------------------------------------------------------------------------

function sampleEvents(snapshot: RunSnapshot): WorkflowRunEvent[] {
  const index = snapshot.context.index;
  return [
    { type: 'START' },
    { type: 'SKIP', reason: 'busy' },
    { type: 'ABORT', reason: 'stop' },
    { type: 'STEP_DONE', index, result: 'succeeded' },
    { type: 'STEP_DONE', index, result: 'failed' },
    { type: 'STEP_DONE', index, result: 'timedOut' },
    { type: 'STEP_DONE', index: index + 1, result: 'succeeded' },
  ];
}

const project = (snapshot: RunSnapshot) => JSON.stringify({ value: snapshot.value, status: snapshot.status, context: snapshot.context });

const explore = () => shortestPaths(workflowRunMachine, { input: INPUT, events: sampleEvents, serializeState: project });

test('model: the sample events include every event the machine handles', () => {
  assert.equal(unsampledEvents(workflowRunMachine, sampleEvents(createActor(workflowRunMachine, { input: INPUT }).getSnapshot())), []);
});

test('model: shortest paths reach every resting leaf state', () => {
  const reached = new Set(explore().flatMap((path) => leafPaths(path.state.value)));
  assert.equal([...reached].sort(), leafStates(workflowRunMachine).filter((s) => s !== 'ending'));
});

test('model: every path replays on a real actor', () => {
  const paths = explore();
  // The run machine has no timers: a timer step would fail the replay.
  for (const path of paths) replayPath(path, start(), { project });
  assert.ok(paths.length > 8, `replayed ${paths.length} paths`);
});

test('toJSON() names every action and guard', () => {
  assert.ok(assertNamedInJson(workflowRunMachine).includes('startStep'));
});

test('the config is literal: only named references, each declared, each used', () => {
  assertLiteralConfig(workflowRunMachine, workflowRunContextFromInput);
});

test.run();
