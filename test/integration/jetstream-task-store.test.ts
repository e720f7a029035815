/**
 * The JetStream task store (issue 10) against a real nats-server: the same conformance suite as SQLite
 * and memory (each test its own bucket prefix on one server), then what only a shared engine has: several
 * hubs (each its own connection) leasing the same tasks exactly once, learning of each other's changes,
 * and taking over the expired leases of a hub that died.
 */
import { suite } from 'uvu';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import * as assert from 'uvu/assert';
import { connectEngine, type NatsEngine } from '../../src/engine/nats-connect.ts';
import { KvFollower } from '../../src/engine/jetstream-kv-follower.ts';
import { JetStreamTaskStore, openJetStreamTaskStore, taskKey } from '../../src/engine/jetstream-task-store.ts';
import type { NewTask, TaskRow } from '../../src/hub/tasks/task-store.ts';
import { TaskHub } from '../../src/hub/tasks/task-hub.ts';
import { systemClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/logger.ts';
import { taskStoreConformance } from '../unit/task-store-conformance.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { startNatsServer } from './nats-server.ts';
import { encodeValue } from '../../src/protocol/codec.ts';

const folder = tempDir('cla-js-tasks-');
const server = await startNatsServer(folder.dir);
const engines: NatsEngine[] = [];
const engine = async () => {
  const e = await connectEngine([server.url], { name: 'jetstream-task-store test' });
  engines.push(e);
  return e;
};
const shared = await engine();
let buckets = 0;

const conformance = taskStoreConformance('jetstream (one bucket per test, one nats-server)', () => {
  const prefix = `t${++buckets}`;
  return { open: (hubId) => new JetStreamTaskStore(shared.nc, { hubId, prefix }), cleanup: () => undefined };
});
conformance.run();

const T0 = 1_000_000;
const task = (id: string, extra: Partial<NewTask> = {}): NewTask => ({ id, name: 'tag', attrs: {}, data: encodeValue({ id }), createdAt: T0, deadlineMs: 600_000, maxAttempts: 3, ...extra });

/** Waits until `check` holds, re-checking on each event of the store. */
const until = (store: JetStreamTaskStore, check: () => Promise<boolean>) =>
  new Promise<void>((resolve, reject) => {
    let running = false;
    let again = false;
    const look = () => {
      if (running) return void (again = true);
      running = true;
      check().then(
        (ok) => {
          running = false;
          if (ok) {
            off();
            resolve();
          } else if (again) {
            again = false;
            look();
          }
        },
        (error: unknown) => {
          off();
          reject(error);
        },
      );
    };
    const off = store.subscribe({ pending: look, ended: look });
    look();
  });

const hubs = suite('jetstream task store: several hubs');

hubs('ids that are not plain KV tokens are kept under an encoded key and read back as given', async () => {
  const store = await openJetStreamTaskStore(shared.nc, { hubId: 'h', prefix: `k${++buckets}` });
  assert.is(taskKey('3f2a-b_C'), '3f2a-b_C');
  assert.ok(taskKey('a.b c').startsWith('x.'));
  assert.ok(await store.insert(task('a.b c/ü')));
  assert.is((await store.get('a.b c/ü'))!.id, 'a.b c/ü');
  assert.equal((await store.pending(0, ['tag'], 10)).map((r) => r.id), ['a.b c/ü']);
  await store.close();
});

hubs('a record written before data and results were msgpack bytes (no `mp`) is read with its values encoded; new records keep the bytes', async () => {
  const prefix = `m${++buckets}`;
  const store = await openJetStreamTaskStore(shared.nc, { hubId: 'h', prefix });
  assert.ok(await store.insert(task('new', { data: encodeValue({ b: new Uint8Array([1, 2]) }) })));
  const kv = await new Kvm(shared.nc).open(store.bucket);
  const fresh = JSON.parse((await kv.get(taskKey('new')))!.string()) as Record<string, unknown>;
  assert.is(fresh.mp, 1, 'a record says its values are msgpack bytes');
  assert.equal([...(await store.get('new'))!.data], [...encodeValue({ b: new Uint8Array([1, 2]) })]);
  // As the store wrote a done row before: the values themselves, binary under the marker key.
  const old: Record<string, unknown> = { ...fresh, id: 'old', seq: 0, state: 'done', data: { n: 1 }, result: { raw: { '\u0000b64': 'AQI=' } } };
  delete old.mp;
  await kv.put(taskKey('old'), JSON.stringify(old));
  const row = (await store.get('old'))!;
  assert.equal([...row.data], [...encodeValue({ n: 1 })]);
  assert.equal([...row.result!], [...encodeValue({ raw: new Uint8Array([1, 2]) })]);
  await store.close();
});

hubs("a bucket whose last message is gone: a store opens, lists and counts (no watch reaches the stream's last_seq)", async () => {
  const prefix = `d${++buckets}`;
  const a = await openJetStreamTaskStore(shared.nc, { hubId: 'a', prefix });
  assert.ok(await a.insert(task('kept')));
  assert.ok(await a.insert(task('removed')));
  // An operator's `nats stream rmm`: the stream keeps its last_seq, but no watch delivers that sequence
  // again. Before sync marks, a store opening here (a hub starting) and its lists waited for it until
  // some other write came; replicas that numbered the same messages differently did the same for good.
  const jsm = await jetstreamManager(shared.nc);
  const stream = `KV_${a.bucket}`;
  const last = (await jsm.streams.info(stream)).state.last_seq;
  assert.ok(await jsm.streams.deleteMessage(stream, last, false));
  assert.is((await jsm.streams.info(stream)).state.last_seq, last, 'the stream keeps its last_seq');
  const b = await openJetStreamTaskStore(shared.nc, { hubId: 'b', prefix });
  assert.equal((await b.list({ limit: 10 })).map((r) => r.id), ['kept']);
  assert.is((await b.counts()).pending, 1);
  // A write after the mark is seen by the next list, from either store.
  assert.ok(await a.insert(task('later')));
  assert.equal((await b.list({ limit: 10 })).map((r) => r.id), ['later', 'kept']);
  assert.is((await a.counts()).pending, 3, "a's index still has the row it wrote; the bucket's readers do not see marks as tasks");
  await Promise.all([a.close(), b.close()]);
});

hubs('a followed bucket whose last message is gone: the follower starts and syncs; marks never reach its entries', async () => {
  const bucket = `f${++buckets}_follow`;
  const kv = await new Kvm(shared.nc).create(bucket, { history: 1 });
  await kv.put('one', '1');
  await kv.put('two', '2');
  const jsm = await jetstreamManager(shared.nc);
  const stream = `KV_${bucket}`;
  assert.ok(await jsm.streams.deleteMessage(stream, (await jsm.streams.info(stream)).state.last_seq, false));
  const seen = new Map<string, string | undefined>();
  const follower = await KvFollower.start(kv, (key, value) => seen.set(key, value), { nc: shared.nc, bucket });
  assert.equal([...seen], [['one', '1']]);
  await kv.put('three', '3');
  await follower.sync();
  assert.equal([...seen], [['one', '1'], ['three', '3']]);
  const keys = async () => {
    const out: string[] = [];
    for await (const key of await kv.keys()) out.push(key);
    return out.sort();
  };
  const running = await keys();
  assert.is(running.filter((key) => key.startsWith('_sync/')).length, 1, "the follower's mark key is in the bucket while it runs");
  assert.equal(running.filter((key) => !key.startsWith('_sync/')), ['one', 'three']);
  await follower.stop();
  assert.equal(await keys(), ['one', 'three'], 'stopped, the follower leaves no key (nor delete marker) behind');
  assert.is((await jsm.streams.info(stream)).state.messages, 2);
  await kv.destroy();
});

hubs('three hubs on their own connections lease 300 tasks: each exactly once; ends reach the other hubs', async () => {
  const prefix = `m${++buckets}`;
  const stores = await Promise.all(['h1', 'h2', 'h3'].map(async (hubId) => openJetStreamTaskStore((await engine()).nc, { hubId, prefix })));
  const [h1, h2, h3] = stores as [JetStreamTaskStore, JetStreamTaskStore, JetStreamTaskStore];
  const ended: string[] = [];
  h1.subscribe({ pending: () => undefined, ended: (row) => ended.push(row.id) });
  const ids = Array.from({ length: 300 }, (_, i) => `t${i}`);
  await Promise.all(ids.map((id) => h1.insert(task(id))));
  // h2 and h3 learn of h1's tasks through the watch (no call of theirs wrote them).
  await until(h2, async () => (await h2.pending(0, ['tag'], 1000)).length === 300);
  await until(h3, async () => (await h3.pending(0, ['tag'], 1000)).length === 300);
  // Every hub tries to lease every task at once, as three dispatchers racing would.
  const won = await Promise.all(stores.map((store) => Promise.all(ids.map((id) => store.lease(id, `w-${store.hubId}`, `L-${store.hubId}-${id}`, T0, T0 + 60_000)))));
  for (let i = 0; i < ids.length; i++) assert.is(won.filter((byHub) => byHub[i]).length, 1, `task ${ids[i]} leased exactly once`);
  // Each winner completes; the losers' tokens are stale.
  await Promise.all(
    stores.flatMap((store, s) =>
      ids.map(async (id, i) => {
        const row = await store.complete(id, `L-${store.hubId}-${id}`, encodeValue({ by: store.hubId }), T0 + 1);
        assert.is(row !== undefined, won[s]![i]!, `completion of ${id} by ${store.hubId}`);
      }),
    ),
  );
  const counts = await h3.counts();
  assert.equal(counts, { pending: 0, claimed: 0, done: 300, failed: 0 });
  // h1 hears of every end written by h2 and h3, and of none of its own.
  const byOthers = won[1]!.filter(Boolean).length + won[2]!.filter(Boolean).length;
  await until(h1, async () => ended.length >= byOthers);
  assert.is(new Set(ended).size, byOthers);
  for (const store of stores) await store.close();
});

hubs('a hub that died: its leases expire and another hub leases each again once; recovery at its restart releases nothing of others', async () => {
  const prefix = `d${++buckets}`;
  const deadEngine = await engine();
  const dead = await openJetStreamTaskStore(deadEngine.nc, { hubId: 'dead', prefix });
  const [a, b] = await Promise.all(['a', 'b'].map(async (hubId) => openJetStreamTaskStore((await engine()).nc, { hubId, prefix })));
  for (let i = 0; i < 20; i++) {
    await dead.insert(task(`t${i}`));
    assert.ok(await dead.lease(`t${i}`, 'w-dead', `L${i}`, T0, T0 + 3000));
  }
  await b!.insert(task('b-own'));
  assert.ok(await b!.lease('b-own', 'w-b', 'Lb', T0, T0 + 999_999));
  await deadEngine.close(); // the hub is gone without closing anything
  await until(a!, async () => (await a!.counts()).claimed === 21);
  // Both surviving hubs sweep at the same moment: each expired lease is released by exactly one of them.
  const [ea, eb] = await Promise.all([a!.expire(T0 + 3000), b!.expire(T0 + 3000)]);
  assert.is(ea.released.length + eb.released.length, 20);
  assert.equal(new Set([...ea.released, ...eb.released].map((r) => r.id)).size, 20);
  // Leased again once, by whichever hub asks first.
  const again = await Promise.all(Array.from({ length: 20 }, (_, i) => Promise.all([a!.lease(`t${i}`, 'w-a', `A${i}`, T0 + 3001, T0 + 9000), b!.lease(`t${i}`, 'w-b', `B${i}`, T0 + 3001, T0 + 9000)])));
  for (const pair of again) assert.is(pair.filter(Boolean).length, 1);
  // The dead hub restarts: it had nothing left, and b's lease is untouched.
  const restarted = await openJetStreamTaskStore((await engine()).nc, { hubId: 'dead', prefix });
  assert.is(await restarted.recover(T0 + 4000), 0);
  const bOwn = (await restarted.get('b-own')) as TaskRow;
  assert.equal([bOwn.state, bOwn.owner, bOwn.lease], ['claimed', 'b', 'Lb']);
  for (const store of [a!, b!, restarted]) await store.close();
});

hubs('a TaskHub waiting on a task learns of its end written through another hub', async () => {
  const prefix = `w${++buckets}`;
  const store = await openJetStreamTaskStore((await engine()).nc, { hubId: 'one', prefix });
  const other = await openJetStreamTaskStore((await engine()).nc, { hubId: 'two', prefix });
  const tasks = new TaskHub({ store, ownsStore: true });
  await tasks.start({ clock: systemClock, log: silentLogger() });
  try {
    const id = await tasks.submit({ name: 'echo', data: 'hi' });
    const waiting = tasks.wait(id);
    // Hub two's dispatcher leases it to one of its workers, which completes it.
    await until(other, async () => (await other.pending(0, ['echo'], 10)).length === 1);
    assert.ok(await other.lease(id, 'w-two', 'L', Date.now(), Date.now() + 60_000));
    await other.complete(id, 'L', encodeValue('hi'), Date.now());
    const row = await waiting;
    assert.equal([row.state, row.result, row.worker], ['done', 'hi', 'w-two']);
  } finally {
    await tasks.stop();
    await other.close();
  }
});

hubs('the watch survives a nats-server restart: a task inserted afterwards through another hub is seen', async () => {
  const own = tempDir('cla-js-restart-');
  let restartable = await startNatsServer(own.dir);
  const a = await connectEngine([restartable.url], { name: 'restart a' });
  try {
    const store = await openJetStreamTaskStore(a.nc, { hubId: 'a' });
    await store.insert(task('before'));
    await restartable.stop();
    restartable = await startNatsServer(own.dir, ['-p', String(restartable.port)]);
    const b = await connectEngine([restartable.url], { name: 'restart b' });
    const other = await openJetStreamTaskStore(b.nc, { hubId: 'b' });
    assert.ok(await other.insert(task('after')));
    await until(store, async () => (await store.pending(0, ['tag'], 10)).length === 2);
    assert.equal((await store.pending(0, ['tag'], 10)).map((r) => r.id), ['before', 'after']);
    assert.ok(await store.lease('after', 'w', 'L', T0, T0 + 1000), 'writes go on after the reconnect');
    await other.close();
    await store.close();
    await b.close();
  } finally {
    await a.close();
    await restartable.stop();
    own.cleanup();
  }
});

hubs.after(async () => {
  for (const e of engines) await e.close();
  await server.stop();
  folder.cleanup();
});

hubs.run();
