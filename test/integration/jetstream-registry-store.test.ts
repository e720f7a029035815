/**
 * The JetStream registry store (issue 10) against a real nats-server: the same conformance suite as SQLite
 * and memory (each test its own bucket prefix on one server), then what only a shared engine has: two hubs
 * (each its own connection) seeing one registry, and their compare-and-sets deciding races once.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectEngine, type NatsEngine } from '../../src/engine/nats-connect.ts';
import { JetStreamRegistryStore, openJetStreamRegistryStore } from '../../src/engine/jetstream-registry-store.ts';
import { storeConformance } from '../unit/store-conformance.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { startNatsServer } from './nats-server.ts';

const folder = tempDir('cla-js-registry-');
const server = await startNatsServer(folder.dir);
const engines: NatsEngine[] = [];
const engine = async () => {
  const e = await connectEngine([server.url], { name: 'jetstream-registry-store test' });
  engines.push(e);
  return e;
};
const shared = await engine();
let buckets = 0;

storeConformance('jetstream (one bucket prefix per test, one nats-server)', () => {
  const store = new JetStreamRegistryStore(shared.nc, { prefix: `r${++buckets}` });
  return { store, cleanup: () => store.close() };
}).run();

const hash = (c: string) => c.repeat(64);
const test = suite('JetStream registry: several hubs');

test('a worker created through one hub is seen, updated and counted through another', async () => {
  const prefix = `two${++buckets}`;
  const [a, b] = await Promise.all([openJetStreamRegistryStore(shared.nc, { prefix }), openJetStreamRegistryStore((await engine()).nc, { prefix })]);
  assert.ok(await a.createProject({ name: 'alpha', passkey: 'pk', passkeyHash: hash('a'), createdAt: 1 }));
  assert.ok(await a.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 2 }, { project: 'alpha', at: 2 }));
  assert.is((await b.findProjectByPasskeyHash(hash('a')))?.name, 'alpha');
  assert.equal((await b.getWorker('w1'))?.projects, ['alpha']);
  assert.equal((await b.listWorkers('alpha')).map((w) => w.id), ['w1'], 'the list of the other hub sees it (watch caught up)');
  assert.ok(await b.insertJob({ id: 'j1', workerId: 'w1', kind: 'exec', command: 'true', startedAt: 3, owner: 'hub-b' }));
  const ends = await Promise.all([a, b, a, b].map((s) => s.finishJob('j1', { finishedAt: 4, exitCode: 1, signal: null, outcome: 'failed', errorCode: null })));
  assert.is(ends.filter(Boolean).length, 1, 'a job finishes once across hubs');
  const w = (await a.getWorker('w1'))!;
  assert.equal([w.jobsRun, w.failures], [1, 1]);
  assert.equal((await a.listRecentJobs(5)).map((j) => j.id), ['j1']);
  await Promise.all([a.close(), b.close()]);
});

test('races between hubs: one name, one passkey hash, one worker id, one setting each', async () => {
  const prefix = `race${++buckets}`;
  const [a, b] = await Promise.all([openJetStreamRegistryStore(shared.nc, { prefix }), openJetStreamRegistryStore((await engine()).nc, { prefix })]);
  const names = await Promise.all([a.createProject({ name: 'x', passkey: 'p', passkeyHash: hash('1'), createdAt: 1 }), b.createProject({ name: 'x', passkey: 'q', passkeyHash: hash('2'), createdAt: 1 })]);
  assert.equal(names.filter(Boolean).length, 1);
  // One race often passes whatever the code does: 20 races of one hash each, every one with one winner.
  const races = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const h = `race${i}`.padEnd(64, 'r'); // no other project's hash
      const won = await Promise.all([a.createProject({ name: `y${i}`, passkey: 'p', passkeyHash: h, createdAt: 1 }), b.createProject({ name: `z${i}`, passkey: 'p', passkeyHash: h, createdAt: 1 })]);
      return { h, won, winner: won[0] ? `y${i}` : `z${i}` };
    }),
  );
  for (const { h, won, winner } of races) {
    assert.equal(won.filter(Boolean).length, 1, 'a passkey hash is held by one project');
    assert.is((await b.findProjectByPasskeyHash(h))?.name, winner);
  }
  const winner = races[0]!.winner;
  assert.is((await a.listProjects()).length, 21, 'the losers wrote nothing');
  const workers = await Promise.all([a.createWorker({ id: 'w', tokenHash: hash('a'), createdAt: 1 }), b.createWorker({ id: 'w', tokenHash: hash('b'), createdAt: 1 })]);
  assert.equal(workers.filter(Boolean).length, 1);
  const settings = await Promise.all([a.setSettingIfAbsent('k', 'a'), b.setSettingIfAbsent('k', 'b')]);
  assert.equal(settings.filter(Boolean).length, 1);
  const joins = await Promise.all([a.addWorkerProject('w', winner, 2, { lastSeen: 1 }), b.addWorkerProject('w', winner, 2, { lastSeen: 2 })]);
  assert.equal(joins.filter(Boolean).length, 1, 'a membership is added once');
  await Promise.all([a.close(), b.close()]);
});

test('a stale passkey index key (a crash between the two writes) is ignored and taken over', async () => {
  const prefix = `stale${++buckets}`;
  const store = await openJetStreamRegistryStore(shared.nc, { prefix });
  const { Kvm } = await import('@nats-io/kv');
  const kv = await new Kvm(shared.nc).open(`${prefix}_registry`);
  await kv.create(`ph.${hash('s')}`, JSON.stringify('ghost'));
  assert.is(await store.findProjectByPasskeyHash(hash('s')), undefined, 'no project behind it');
  assert.ok(await store.createProject({ name: 'real', passkey: 'p', passkeyHash: hash('s'), createdAt: 1 }));
  assert.is((await store.findProjectByPasskeyHash(hash('s')))?.name, 'real');
  await store.close();
});

test('closeLostJobs closes many jobs of one worker and counts each (no compare-and-set race with itself)', async () => {
  const store = await openJetStreamRegistryStore(shared.nc, { prefix: `lost${++buckets}` });
  await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 1 });
  const count = 80;
  for (let i = 0; i < count; i++) await store.insertJob({ id: `j${i}`, workerId: 'w1', kind: 'exec', command: 'true', startedAt: i, owner: 'hub-a' });
  const closed = await store.closeLostJobs('hub-a', { finishedAt: 1000, exitCode: null, signal: null, outcome: 'lost', errorCode: 'WORKER_LOST' });
  assert.is(closed.length, count);
  assert.equal([(await store.getWorker('w1'))?.jobsRun, (await store.getWorker('w1'))?.failures], [count, count]);
  assert.equal(await store.listUnfinishedJobs(), []);
  await store.close();
});

test.after(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await server.stop();
  folder.cleanup();
});

test.run();
