/**
 * The JetStream stores' watches after a leader election of their bucket's stream (issue 10): each store
 * watches anew from where it got to ({@link LeaderElections}), and an entry both watches deliver is applied
 * once. One nats-server: the election is its advisory, published by the test; the new watch is seen as its
 * consumer-create request. The real failover runs in nats-cluster3.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectEngine } from '../../src/engine/nats-connect.ts';
import { BucketWatch, openRetryingBucket } from '../../src/engine/jetstream-buckets.ts';
import { openJetStreamRegistryStore } from '../../src/engine/jetstream-registry-store.ts';
import { openJetStreamTaskStore } from '../../src/engine/jetstream-task-store.ts';
import { openJetStreamWorkflowStore } from '../../src/engine/jetstream-workflow-store.ts';
import { Presence } from '../../src/engine/presence.ts';
import { systemClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/logger.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { startNatsServer } from './nats-server.ts';
import { encodeValue } from '../../src/protocol/codec.ts';

const folder = tempDir('cla-js-rewatch-');
const server = await startNatsServer(folder.dir);
const engine = await connectEngine([server.url], { name: 'jetstream-rewatch test' });
const other = await connectEngine([server.url], { name: 'jetstream-rewatch test, another hub' });
const it = suite('jetstream watches after a leader election');

/** Announces a leader election of `bucket`'s stream; resolves once a new consumer (the new watch) is asked for. */
async function elect(bucket: string): Promise<void> {
  const requests = engine.nc.subscribe(`$JS.API.CONSUMER.CREATE.KV_${bucket}.>`, { max: 1 });
  await engine.nc.flush();
  engine.nc.publish(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.KV_${bucket}`, JSON.stringify({ stream: `KV_${bucket}` }));
  for await (const _ of requests) break;
}

it('BucketWatch: watched anew after an election, from where it got to; each revision applied once', async () => {
  const kv = await openRetryingBucket(engine.nc, 'rw_plain', 1);
  const applied: string[] = [];
  const watch = new BucketWatch((entry) => applied.push(`${entry.key}=${entry.string()}`));
  await kv.put('a', '1');
  await kv.put('b', '1');
  await watch.start(kv, { nc: engine.nc, bucket: 'rw_plain' });
  await elect('rw_plain');
  await kv.put('a', '2');
  await elect('rw_plain');
  await kv.put('c', '1');
  await watch.sync(kv);
  assert.equal(applied, ['a=1', 'b=1', 'a=2', 'c=1'], 'each write applied once, in order; no sync mark applied');
  await watch.stop();
});

it('registry store: another hub\'s writes still seen after elections of both buckets', async () => {
  const a = await openJetStreamRegistryStore(engine.nc, { prefix: 'rwr' });
  const b = await openJetStreamRegistryStore(other.nc, { prefix: 'rwr' });
  try {
    await elect('rwr_registry');
    await elect('rwr_jobs');
    assert.ok(await b.addEnv('prod'));
    assert.equal(await a.listEnvs(), ['prod']);
  } finally {
    await a.close();
    await b.close();
  }
});

it('workflow store: another hub\'s run still seen after an election of the runs bucket', async () => {
  const a = await openJetStreamWorkflowStore(engine.nc, { hubId: 'a', prefix: 'rww' });
  const b = await openJetStreamWorkflowStore(other.nc, { hubId: 'b', prefix: 'rww' });
  try {
    await elect('rww_wfruns');
    const T0 = 1_700_000_000_000;
    await b.createRun({ id: 'r1', workflow: 'collect', trigger: 'manual', state: 'pending', createdAt: T0, startedAt: null, finishedAt: null, reason: null, definition: '{}' });
    assert.equal((await a.listRuns()).map((r) => r.id), ['r1']);
  } finally {
    await a.close();
    await b.close();
  }
});

it("task store: another hub's task still seen (and announced) after an election of the tasks bucket", async () => {
  const a = await openJetStreamTaskStore(engine.nc, { hubId: 'a', prefix: 'rwt' });
  const b = await openJetStreamTaskStore(other.nc, { hubId: 'b', prefix: 'rwt' });
  try {
    await elect('rwt_tasks');
    const pending = new Promise<void>((resolve) => a.subscribe({ pending: resolve, ended: () => undefined }));
    assert.ok(await b.insert({ id: 't1', name: 'tag', attrs: {}, data: encodeValue({}), createdAt: 1_700_000_000_000, deadlineMs: 600_000, maxAttempts: 3 }));
    await pending;
    assert.equal((await a.list({ limit: 10 })).map((r) => r.id), ['t1']);
  } finally {
    await a.close();
    await b.close();
  }
});

it('presence: a worker claimed on another hub still seen after an election of the presence bucket', async () => {
  const buckets = { presence: 'rwp_presence', hubs: 'rwp_hubs' };
  // No beat during the test: the first one is at start, the next an hour later (cleared at stop).
  const presence = (engineOf: typeof engine, hubId: string) => new Presence(engineOf, { hubId, clock: systemClock, log: silentLogger(), heartbeatMs: 3_600_000, buckets, onReplaced: () => undefined });
  const a = presence(engine, 'a');
  const b = presence(other, 'b');
  await a.start();
  await b.start();
  try {
    await elect('rwp_presence');
    const seen = new Promise<string>((resolve) => a.onChange((workerId, entry) => entry && resolve(`${workerId}@${entry.hub}`)));
    await b.claim('w1', 1);
    assert.is(await seen, 'w1@b');
  } finally {
    await a.stop();
    await b.stop();
  }
});

it.after(async () => {
  await other.close();
  await engine.close();
  await server.stop();
  folder.cleanup();
});

it.run();
