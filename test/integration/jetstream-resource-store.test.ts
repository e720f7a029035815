/**
 * The JetStream resource store (issue 10) against a real nats-server: the same conformance suite as SQLite
 * and memory (each test its own bucket prefix on one server), then a graph larger than one value read by
 * another hub on its own connection.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Kvm } from '@nats-io/kv';
import { connectEngine } from '../../src/engine/nats-connect.ts';
import { CHUNK_BYTES, JetStreamResourceStore, openJetStreamResourceStore } from '../../src/engine/jetstream-resource-store.ts';
import { parseResourceQuery } from '../../src/hub/actions/resource-query.ts';
import type { Resource } from '../../src/protocol/frames-bus.ts';
import { resourceStoreConformance } from '../unit/resource-store-conformance.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { startNatsServer } from './nats-server.ts';

const folder = tempDir('cla-js-resources-');
const server = await startNatsServer(folder.dir);
const engine = await connectEngine([server.url], { name: 'jetstream-resource-store test' });
let buckets = 0;

resourceStoreConformance('jetstream (one bucket prefix per test, one nats-server)', () => ({
  store: new JetStreamResourceStore(engine.nc, { prefix: `r${++buckets}` }),
  cleanup: () => undefined,
})).run();

const hubs = suite('JetStreamResourceStore: hubs on their own connections');

hubs('a graph larger than one value is stored in chunks and read whole by another hub; flags survive a new graph', async () => {
  const other = await connectEngine([server.url], { name: 'jetstream-resource-store test b' });
  const a = await openJetStreamResourceStore(engine.nc, { prefix: 'big' });
  const b = await openJetStreamResourceStore(other.nc, { prefix: 'big' });
  try {
    const pad = 'x'.repeat(600);
    const graph: Resource[] = Array.from({ length: 2500 }, (_, i) => ({ id: `/f${String(i).padStart(5, '0')}`, kind: 'file', attrs: { pad, size: i, raw: new Uint8Array([i % 256]) }, tags: {}, edges: [] }));
    assert.ok(graph.length * pad.length > 4 * CHUNK_BYTES, 'the graph needs several chunks');
    await a.replaceGraph('w1', 'fs', graph, 10, 'run-1');
    const chunkKeys = async () => {
      const keys: string[] = [];
      for await (const k of await (await new Kvm(engine.nc).open('big_reschunks')).keys()) keys.push(k);
      return keys.length;
    };
    const chunks = await chunkKeys();
    assert.ok(chunks > 4, `several chunks, got ${chunks}`);
    const read = await b.search({ all: [] });
    assert.is(read.length, graph.length);
    assert.equal(read[1234]!.attrs, graph[1234]!.attrs, 'binary attrs kept');
    assert.is(await b.setFlags('w1', 'fs', ['/f00001', '/f02400']), 2);
    assert.ok(await b.setTags('w1', 'fs', '/f02400', { owner: 'lukas' }));
    assert.equal((await a.search(parseResourceQuery('tags.owner = lukas'))).map((r) => r.id), ['/f02400'], 'a tag set by one hub is read by the other');
    await a.replaceGraph('w1', 'fs', graph.slice(1), 20, 'run-2');
    assert.equal(await b.flagged('w1'), { fs: ['/f00001', '/f02400'] });
    assert.is(await chunkKeys(), chunks, 'the replaced chunks are deleted');
    assert.equal(await a.counts(), [{ worker: 'w1', plugin: 'fs', resources: graph.length - 1, flagged: 2, collectedAt: 20 }]);
  } finally {
    await a.close();
    await b.close();
    await other.close();
  }
});

hubs.after(async () => {
  await engine.close();
  await server.stop();
  folder.cleanup();
});
hubs.run();
