/**
 * Issue 10, workflows across the fleet (one real nats-server, hubs by createHub in this process, real
 * workers over websockets): a run adopted by another hub is fenced against its old owner; `workflow abort`
 * and `on_conflict` see the runs of every hub; a disabled worker on another hub is no subscriber of new
 * steps, and `subscribers.list` is the same through every hub.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JetStreamWorkflowStore } from '../../src/engine/jetstream-workflow-store.ts';
import type { ActionHandler } from '../../src/worker/actions/action-extension.ts';
import { eventually } from '../unit/test-helpers.ts';
import { startFleet, type Fleet } from './nats-fleet.ts';

const COLLECT = 'name: collect\ntriggers: [manual]\nsteps:\n  - name: collect\n    action: collect\n    timeout: 600s\n';

/** A promise and its resolve. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('a hub whose run another hub adopted is fenced: its writes are refused, it stops driving the run, the adopter ends it', async () => {
  const fleet = await startFleet(2, { collect: COLLECT });
  try {
    const [a, b] = fleet.hubs.map((h) => h.created) as [(typeof fleet.hubs)[0]['created'], (typeof fleet.hubs)[0]['created']];
    const started = deferred();
    const release = deferred();
    await fleet.worker('w1', 0, {
      collect: async (ctx) => {
        ctx.info('info', 'before the adoption');
        started.resolve();
        await release.promise;
        ctx.info('info', 'after the adoption');
      },
    });
    assert.ok(await eventually(() => a.actions.bus.isConnected('w1') && b.actions.bus.isConnected('w1'), 3000), 'both hubs know subscriber w1');
    const { run } = await a.actions.engine.runManual('collect');
    await started.promise;
    await a.actions.engine.settled();
    // Hub B takes A for dead (A is alive: as when A was cut off from the engine for a while) and adopts its run.
    assert.is(await b.actions.engine.adopt('hub-0'), 1);
    assert.equal((await b.actions.store.getStoredRun(run))?.owner, 'hub-1');
    // The answer reaches A (the worker's hub) and, over the engine, B.
    release.resolve();
    await b.actions.engine.whenIdle();
    await a.actions.engine.whenIdle();
    await Promise.all([a.actions.engine.settled(), b.actions.engine.settled()]);
    assert.equal(a.actions.engine.activeRuns(), [], 'A no longer drives the run');
    const detail = await a.actions.store.getRun(run);
    assert.is(detail.run.state, 'succeeded');
    assert.equal((await a.actions.store.getStoredRun(run))?.owner, 'hub-1');
    const messages = detail.steps[0]!.messages.map((m) => m.message);
    assert.equal(
      messages.filter((m) => m === 'after the adoption').length,
      1,
      `the message sent after the adoption is stored once, by the owner, not also by the fenced hub (${JSON.stringify(messages)})`,
    );
    assert.equal(detail.steps[0]!.answers.map((x) => [x.subscriber, x.status]), [['w1', 'done']]);
  } finally {
    await fleet.close();
  }
});

/** Deferreds by key, made on first use. */
function gates(): (key: string) => ReturnType<typeof deferred> {
  const all = new Map<string, ReturnType<typeof deferred>>();
  return (key) => {
    let gate = all.get(key);
    if (!gate) all.set(key, (gate = deferred()));
    return gate;
  };
}

/** An action handler that holds each run's action until `release(run)` or the run's abort; `started(run)` resolves when it got it. */
function heldAction(): { handler: ActionHandler; started: (run: string) => Promise<void>; release: (run: string) => void } {
  const started = gates();
  const released = gates();
  return {
    handler: async (ctx) => {
      started(ctx.run).resolve();
      await new Promise<void>((resolve) => {
        void released(ctx.run).promise.then(resolve);
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    },
    started: (run) => started(run).promise,
    release: (run) => released(run).resolve(),
  };
}

const workflow = (name: string, onConflict: string) => `name: ${name}\ntriggers: [manual]\non_conflict: ${onConflict}\nsteps:\n  - name: collect\n    action: collect\n    timeout: 600s\n`;

async function twoHubsOneWorker(fleet: Fleet, held: ReturnType<typeof heldAction>) {
  const [a, b] = fleet.hubs.map((h) => h.created) as [Fleet['hubs'][0]['created'], Fleet['hubs'][0]['created']];
  await fleet.worker('w1', 1, { collect: held.handler });
  assert.ok(await eventually(() => a.actions.bus.isConnected('w1') && b.actions.bus.isConnected('w1'), 3000), 'both hubs know subscriber w1');
  return { a, b };
}

test('workflow abort through hub 0 ends a run owned by hub 1; a run whose owner is not on the engine is adopted and aborted', async () => {
  const fleet = await startFleet(2, { hold: workflow('hold', 'parallel') });
  try {
    const held = heldAction();
    const { a, b } = await twoHubsOneWorker(fleet, held);
    const { run } = await b.actions.engine.runManual('hold');
    await held.started(run);
    const result = await a.actions.engine.abort(run.slice(0, 8), 'stop it');
    assert.equal(result, { run, workflow: 'hold', state: 'aborted' });
    await b.actions.engine.whenIdle();
    await b.actions.engine.settled();
    const stored = (await a.actions.store.getStoredRun(run))!;
    assert.equal([stored.state, stored.reason, stored.owner], ['aborted', 'stop it', 'hub-1'], 'aborted by its owner, not taken over');
    // A run owned by a hub that is not on the engine (its presence gone, its runs not adopted yet).
    const ghost = new JetStreamWorkflowStore(fleet.hubs[0]!.engine.nc, { hubId: 'ghost' });
    const definition = JSON.stringify(a.actions.engine.workflows.get('hold'));
    await ghost.createRun({ id: 'ghost-run', workflow: 'hold', trigger: 'manual', state: 'pending', createdAt: Date.now(), startedAt: null, finishedAt: null, reason: null, definition });
    await ghost.close();
    assert.equal(await a.actions.engine.abort('ghost-run'), { run: 'ghost-run', workflow: 'hold', state: 'aborted' });
    const adopted = (await b.actions.store.getStoredRun('ghost-run'))!;
    assert.equal([adopted.state, adopted.owner], ['aborted', 'hub-0']);
  } finally {
    await fleet.close();
  }
});

test('on_conflict weighs the runs of every hub: skip, wait (starts once the other hub\'s run ended), replace (aborts it on its hub)', async () => {
  const fleet = await startFleet(2, { once: workflow('once', 'skip'), queue: workflow('queue', 'wait'), swap: workflow('swap', 'replace') });
  try {
    const held = heldAction();
    const { a, b } = await twoHubsOneWorker(fleet, held);
    // skip
    const first = await b.actions.engine.runManual('once');
    await held.started(first.run);
    const skipped = await a.actions.engine.runManual('once');
    assert.is(skipped.state, 'skipped', 'a run of `once` is running on hub 1');
    assert.match((await a.actions.store.getStoredRun(skipped.run))!.reason ?? '', first.run);
    held.release(first.run);
    await b.actions.engine.whenIdle();
    // wait
    const running = await b.actions.engine.runManual('queue');
    await held.started(running.run);
    const waiting = await a.actions.engine.runManual('queue');
    assert.is(waiting.state, 'pending', 'it waits for the run on hub 1');
    held.release(running.run);
    await held.started(waiting.run);
    assert.equal((await b.actions.store.getStoredRun(running.run))!.state, 'succeeded', 'it started after the other run ended');
    held.release(waiting.run);
    await a.actions.engine.whenIdle();
    await a.actions.engine.settled();
    assert.is((await b.actions.store.getStoredRun(waiting.run))!.state, 'succeeded');
    // replace
    const old = await b.actions.engine.runManual('swap');
    await held.started(old.run);
    const fresh = await a.actions.engine.runManual('swap');
    assert.is(fresh.state, 'running');
    await b.actions.engine.whenIdle();
    await b.actions.engine.settled();
    const replaced = (await a.actions.store.getStoredRun(old.run))!;
    assert.equal([replaced.state, replaced.owner], ['aborted', 'hub-1']);
    assert.match(replaced.reason ?? '', /replaced by a new run/);
    held.release(fresh.run);
    await a.actions.engine.whenIdle();
  } finally {
    await fleet.close();
  }
});

test('a worker disabled on another hub is not a subscriber of a new step; subscribers.list through any hub shows it alike', async () => {
  const fleet = await startFleet(2, { hold: workflow('hold', 'parallel') });
  try {
    const [a, b] = fleet.hubs.map((h) => h.created) as [Fleet['hubs'][0]['created'], Fleet['hubs'][0]['created']];
    await fleet.worker('w0', 0, { collect: () => undefined });
    await fleet.worker('w1', 1, { collect: () => undefined });
    assert.ok(await eventually(() => a.actions.bus.isConnected('w1') && b.actions.bus.isConnected('w0'), 3000), 'both hubs know both subscribers');
    // Disabled through hub 0; hub 1 holds it.
    await a.hub.management.disable('w1');
    assert.ok(
      await eventually(() => !a.actions.bus.subscribersOf('collect').some((t) => t.workerId === 'w1'), 3000),
      'hub 0 counts the disabled w1 out of new steps',
    );
    const { run } = await a.actions.engine.runManual('hold');
    await a.actions.engine.whenIdle();
    await a.actions.engine.settled();
    const detail = await a.actions.store.getRun(run);
    assert.equal([detail.run.state, detail.steps[0]!.answers.map((x) => x.subscriber)], ['succeeded', ['w0']]);
    const list = async (i: number) => (await fleet.hubs[i]!.created.hub.methods.call('subscribers.list', {})) as Array<{ workerId: string; hub: string; disabled: boolean; since: number }>;
    const [through0, through1] = [await list(0), await list(1)];
    assert.equal(through0.map((v) => [v.workerId, v.hub, v.disabled]), [['w0', 'hub-0', false], ['w1', 'hub-1', true]]);
    assert.equal(through1, through0, 'the same list through either hub');
  } finally {
    await fleet.close();
  }
});

test.run();
