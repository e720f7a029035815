/**
 * The worker's one capacity model (src/worker/work-load.ts) seen from the hub: the `state` frames a real
 * WorkerAgent sends while it runs a burst of tasks, and the state the hub shows for it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FrameOf } from '../../src/protocol/frames.ts';
import { WorkLoad } from '../../src/worker/work-load.ts';
import { startTaskHarness, until } from './task-harness.ts';

/** A WorkLoad whose end-of-turn checks run when the test says so. */
function manualLoad(capacities: ConstructorParameters<typeof WorkLoad>[0]) {
  const reports: number[] = [];
  const deferred: Array<() => void> = [];
  const load = new WorkLoad(capacities, (running) => reports.push(running), (fn) => deferred.push(fn));
  const endTurn = () => {
    for (const fn of deferred.splice(0)) fn();
  };
  return { load, reports, deferred, endTurn };
}

test('WorkLoad: one total over every kind, reported only when it leaves and reaches zero; capacity per kind', () => {
  const { load, reports, endTurn } = manualLoad({ job: 2, task: 3 });
  const job = load.take('job');
  const task = load.take('task');
  const action = load.take('action');
  endTurn();
  assert.equal([load.running(), load.running('job'), load.running('task'), load.running('action')], [3, 1, 1, 1]);
  assert.ok(load.hasRoom('job'));
  const job2 = load.take('job');
  assert.not.ok(load.hasRoom('job'), 'two jobs: the job capacity');
  assert.ok(load.hasRoom('action'), 'no capacity given: unbounded');
  job();
  job(); // a second release of the same unit changes nothing
  assert.is(load.running('job'), 1);
  task();
  action();
  endTurn();
  assert.equal(reports, [3], 'the total when it left zero, at the end of that turn');
  job2();
  assert.equal(reports, [3], 'reported at the end of the turn, not at once');
  endTurn();
  assert.equal(reports, [3, 0]);
});

test('WorkLoad: a unit taken and released within one turn reports nothing; settle() reports a pending crossing at once, once', () => {
  const { load, reports, deferred, endTurn } = manualLoad({ task: 1 });
  load.take('task')();
  assert.is(deferred.length, 1, 'one end-of-turn check scheduled');
  endTurn();
  assert.equal(reports, [], 'left and reached zero in one turn: the machine is not stepped');
  const release = load.take('task');
  load.settle(); // e.g. before a STOP: the machine must see the running task
  assert.equal(reports, [1]);
  endTurn();
  assert.equal(reports, [1], 'already reported');
  release();
  load.take('action')();
  endTurn();
  assert.equal(reports, [1, 0]);
});

test('a burst of 40 tasks costs two state frames (busy, then idle), and the hub shows the state the worker is in', async () => {
  const h = await startTaskHarness();
  try {
    const running: Array<() => void> = [];
    const worker = await h.worker('w1', (tasks) => tasks.handle('job', {}, () => new Promise<unknown>((resolve) => running.push(() => resolve('ok')))), { concurrency: 4, prefetch: 4 });
    const session = h.hub.session('w1')!;
    await until(() => session.info.workerState === 'connected.idle', 'w1 idle');
    const states: string[] = [];
    session.transport.frames$.subscribe((f) => {
      if (f.t === 'state') states.push((f as FrameOf<'state'>).value);
    });
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => h.tasks.submit({ name: 'job', data: i })));
    let done = 0;
    while (done < ids.length) {
      // The hub refills each freed slot: the worker holds 8 (its taskCapacity) until the burst runs out.
      await until(() => worker.tasks.heldCount() === Math.min(8, ids.length - done) && running.length > 0, 'the hub to refill the worker');
      if (done === 20) assert.is(session.info.workerState, 'connected.busy', 'the hub shows busy mid-burst');
      running.shift()!();
      done += 1;
    }
    await until(async () => (await h.tasks.counts()).done === 40, 'all done');
    await until(() => session.info.workerState === 'connected.idle', 'w1 idle again');
    assert.equal(states, ['connected.busy', 'connected.idle']);
  } finally {
    await h.close();
  }
});

test('tasks one at a time whose handler returns at once cost no state frames: each is taken and released within one turn', async () => {
  const h = await startTaskHarness();
  try {
    await h.worker('w1', (tasks) => tasks.handle('echo', {}, (task) => task.data), { concurrency: 1 });
    const session = h.hub.session('w1')!;
    await until(() => session.info.workerState === 'connected.idle', 'w1 idle');
    const states: string[] = [];
    session.transport.frames$.subscribe((f) => {
      if (f.t === 'state') states.push((f as FrameOf<'state'>).value);
    });
    for (let i = 0; i < 5; i++) {
      const row = await h.tasks.wait(await h.tasks.submit({ name: 'echo', data: i }));
      assert.equal([row.state, row.result], ['done', i]);
    }
    assert.equal(states, [], 'no busy/idle per task');
    assert.is(session.info.workerState, 'connected.idle');
  } finally {
    await h.close();
  }
});

test.run();
