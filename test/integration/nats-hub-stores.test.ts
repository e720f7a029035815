/**
 * Issue 10: `createHub({ engine })` keeps workflow runs and resource graphs in the engine's JetStream
 * buckets, so a run started on hub A, and the graph it stored, are seen from hub B (two hubs in this
 * process, each its own engine connection, one real nats-server).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Kvm } from '@nats-io/kv';
import { connectEngine } from '../../src/engine/nats-connect.ts';
import { createHub } from '../../src/hub/create-hub.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { startNatsServer } from './nats-server.ts';

type Hub = Awaited<ReturnType<typeof createHub>>;

/**
 * Both hubs created together (as hubs started at the same moment on a fresh server race to create the
 * buckets); when one fails, the other is stopped before the failure is thrown, so nothing outlives the test.
 */
async function createBoth(create: (i: number) => Promise<Hub>): Promise<[Hub, Hub]> {
  const settled = await Promise.allSettled([create(0), create(1)]);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
    throw failed.reason;
  }
  return settled.map((s) => (s as PromiseFulfilledResult<Hub>).value) as [Hub, Hub];
}

test('a run started on hub A and a graph stored there are read from hub B', async () => {
  const { dir, cleanup } = tempDir('cla-nats-hub-stores-');
  const server = await startNatsServer(path.join(dir, 'nats'));
  const workflowsDir = path.join(dir, 'workflows');
  fs.mkdirSync(workflowsDir);
  fs.writeFileSync(path.join(workflowsDir, 'collect.yml'), 'name: collect\ntriggers: [manual]\nsteps:\n  - name: collect\n    action: collect\n    timeout: 60s\n');
  const engines = [await connectEngine([server.url], { name: 'hub a' }), await connectEngine([server.url], { name: 'hub b' })];
  let hubs: [Hub, Hub] | undefined;
  try {
    hubs = await createBoth((i) => createHub({ store: 'memory', port: 0, cron: false, workflowsDir, engine: engines[i]!, hubId: `hub-${i}` }));
    const [a, b] = hubs;
    await Promise.all([a!.start(), b!.start()]);
    const { run } = await a!.actions.engine.runManual('collect');
    await a!.actions.engine.whenIdle();
    const seen = await b!.actions.store.getRun(run);
    assert.is(seen.run.workflow, 'collect');
    assert.is(seen.run.state, (await a!.actions.store.getRun(run)).run.state);
    assert.ok(seen.run.finishedAt !== null, `the run finished (${seen.run.state}) and B reads its final state`);
    assert.equal((await b!.actions.store.getStoredRun(run))?.owner, 'hub-0');
    await a!.actions.resources.replaceGraph('w1', 'fs', [{ id: '/a', kind: 'file', attrs: {}, tags: {}, edges: [] }], 1, run);
    assert.equal((await b!.actions.resources.search({ all: [] })).map((r) => [r.worker, r.id, r.runId]), [['w1', '/a', run]]);
  } finally {
    if (hubs) await Promise.all(hubs.map((hub) => hub.stop()));
    for (const engine of engines) await engine.close();
    await server.stop();
    cleanup();
  }
});

test('when hub A stops, hub B adopts its unfinished run and runs it to its end', async () => {
  const { dir, cleanup } = tempDir('cla-nats-hub-adopt-');
  const server = await startNatsServer(path.join(dir, 'nats'));
  const engines = [await connectEngine([server.url], { name: 'hub a' }), await connectEngine([server.url], { name: 'hub b' })];
  let hubs: [Hub, Hub] | undefined;
  let stopped = false;
  try {
    hubs = await createBoth((i) => createHub({ store: 'memory', port: 0, cron: false, engine: engines[i]!, hubId: `hub-${i}` }));
    const [a, b] = hubs;
    await Promise.all([a!.start(), b!.start()]);
    // A run A stored but has not run yet (as one it was running when it died would be).
    const definition = JSON.stringify(a!.actions.engine.workflows.get('collect'));
    await a!.actions.store.createRun({ id: 'orphan', workflow: 'collect', trigger: 'manual', state: 'pending', createdAt: Date.now(), startedAt: null, finishedAt: null, reason: null, definition });
    const runs = await new Kvm(engines[1]!.nc).open('cla_wfruns');
    const watch = await runs.watch({ key: 'orphan' });
    const ended = (async () => {
      for await (const entry of watch) {
        const run = entry.operation === 'PUT' ? entry.json<{ owner: string; finishedAt: number | null; state: string }>() : undefined;
        if (run?.owner === 'hub-1' && run.finishedAt !== null) return run.state;
      }
      return undefined;
    })();
    await a!.stop();
    stopped = true;
    const state = await ended;
    watch.stop();
    assert.ok(state !== undefined && state !== 'pending' && state !== 'running', `hub B ran the run to its end (${state})`);
    assert.is(await b!.actions.engine.whenIdle(), undefined);
  } finally {
    if (hubs) await Promise.all([stopped ? undefined : hubs[0].stop(), hubs[1].stop()]);
    for (const engine of engines) await engine.close();
    await server.stop();
    cleanup();
  }
});

test.run();
