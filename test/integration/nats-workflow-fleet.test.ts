/**
 * Issue 10, workflows across the fleet (one real nats-server, hubs by createHub in this process, real
 * workers over websockets): a run adopted by another hub is fenced against its old owner.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually } from '../unit/test-helpers.ts';
import { startFleet } from './nats-fleet.ts';

const COLLECT = 'name: collect\ntriggers: [manual]\nsteps:\n  - name: collect\n    action: collect\n    timeout: 600s\n';

/** A promise and its resolve. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
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

test.run();
