// One suite every ResourceStore backend must pass (../../shared/STYLE.md, "backends on one suite"). A
// backend's test file calls `resourceStoreConformance(name, makeStore).run()`; each test gets a fresh store.
import { suite } from 'uvu';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseResourceQuery } from '../../src/hub/actions/resource-query.ts';
import type { ResourceStore } from '../../src/hub/actions/resource-store.ts';
import type { Resource } from '../../src/protocol/frames-bus.ts';

/** A fresh store and how to drop it. */
export interface ResourceBackend {
  store: ResourceStore;
  cleanup(): void | Promise<void>;
}

interface Context {
  store: ResourceStore;
  backend: ResourceBackend;
}

const r = (id: string, extra: Partial<Resource> = {}): Resource => ({ id, kind: 'file', attrs: { path: id, size: id.length }, tags: {}, edges: [], ...extra });
const ids = (list: Array<{ worker: string; plugin: string; id: string }>) => list.map((x) => `${x.worker}/${x.plugin}:${x.id}`);

/** Defines the ResourceStore conformance suite against stores made by `makeBackend`; call `.run()` on it. */
export function resourceStoreConformance(name: string, makeBackend: () => ResourceBackend): Test<Context> {
  const test = suite<Context>(`ResourceStore conformance: ${name}`, {} as Context);
  test.before.each((ctx) => {
    ctx.backend = makeBackend();
    ctx.store = ctx.backend.store;
  });
  test.after.each(async (ctx) => {
    await ctx.store.close();
    await ctx.backend.cleanup();
  });

  test('a graph is stored whole, per worker and plugin, ordered by worker, plugin and id; results are copies', async ({ store }) => {
    await store.replaceGraph('w2', 'fs', [r('/b')], 20, 'run-2');
    await store.replaceGraph('w1', 'fs', [r('/z', { kind: 'folder', tags: { owner: 'lukas' }, edges: ['/z/a'] }), r('/a')], 10, 'run-1');
    await store.replaceGraph('w1', 'aws', [r('i-1', { kind: 'instance', attrs: { region: 'eu' } })], 11, null);
    const all = await store.search({ all: [] });
    assert.equal(ids(all), ['w1/aws:i-1', 'w1/fs:/a', 'w1/fs:/z', 'w2/fs:/b']);
    assert.equal(all[2], {
      worker: 'w1',
      plugin: 'fs',
      id: '/z',
      kind: 'folder',
      attrs: { path: '/z', size: 2 },
      tags: { owner: 'lukas' },
      edges: ['/z/a'],
      clean: false,
      collectedAt: 10,
      runId: 'run-1',
    });
    all[2]!.tags.owner = 'mallory';
    all[2]!.attrs.path = '/elsewhere';
    const again = await store.search(parseResourceQuery('id = /z'));
    assert.equal([again[0]!.tags, again[0]!.attrs.path], [{ owner: 'lukas' }, '/z'], 'changing a result does not change the store');
  });

  test('a new graph replaces the old one of its worker+plugin only, keeping the flags of resources still there', async ({ store }) => {
    await store.replaceGraph('w1', 'fs', [r('/a'), r('/b'), r('/c')], 1, 'run-1');
    await store.replaceGraph('w2', 'fs', [r('/a')], 1, 'run-1');
    assert.is(await store.setFlags('w1', 'fs', ['/a', '/b']), 2);
    await store.replaceGraph('w1', 'fs', [r('/b'), r('/c'), r('/d')], 2, 'run-2');
    const all = await store.search({ all: [] });
    assert.equal(
      all.map((x) => [x.worker, x.id, x.clean, x.collectedAt, x.runId]),
      [
        ['w1', '/b', true, 2, 'run-2'],
        ['w1', '/c', false, 2, 'run-2'],
        ['w1', '/d', false, 2, 'run-2'],
        ['w2', '/a', false, 1, 'run-1'],
      ],
    );
    await store.replaceGraph('w1', 'fs', [], 3, null);
    assert.equal(ids(await store.search({ all: [] })), ['w2/fs:/a'], 'an empty graph leaves nothing of that worker+plugin');
  });

  test('setFlags replaces the plan of one worker+plugin and counts the listed ids found; flagged lists them by plugin', async ({ store }) => {
    await store.replaceGraph('w1', 'fs', [r('/a'), r('/b')], 1, null);
    await store.replaceGraph('w1', 'aws', [r('i-2'), r('i-1')], 1, null);
    await store.replaceGraph('w2', 'fs', [r('/a')], 1, null);
    assert.is(await store.setFlags('w1', 'fs', ['/a', '/not-there']), 1);
    assert.is(await store.setFlags('w1', 'aws', ['i-2', 'i-1']), 2);
    assert.is(await store.setFlags('w2', 'fs', ['/a']), 1);
    assert.equal(await store.flagged('w1'), { aws: ['i-1', 'i-2'], fs: ['/a'] });
    assert.is(await store.setFlags('w1', 'fs', ['/b']), 1);
    assert.equal(await store.flagged('w1'), { aws: ['i-1', 'i-2'], fs: ['/b'] }, 'a new plan clears the previous one of that plugin only');
    assert.is(await store.setFlags('w1', 'aws', []), 0);
    assert.equal(await store.flagged('w1'), { fs: ['/b'] });
    assert.equal(await store.flagged('w2'), { fs: ['/a'] });
    assert.equal(await store.flagged('nobody'), {});
    assert.is(await store.setFlags('nobody', 'fs', ['/a']), 0);
  });

  test('setTags changes one stored resource; false when it is not stored', async ({ store }) => {
    await store.replaceGraph('w1', 'fs', [r('/a', { tags: { a: '1' } })], 1, null);
    assert.ok(await store.setTags('w1', 'fs', '/a', { owner: 'lukas' }));
    assert.not.ok(await store.setTags('w1', 'fs', '/missing', { owner: 'x' }));
    assert.not.ok(await store.setTags('w2', 'fs', '/a', { owner: 'x' }));
    assert.equal((await store.search(parseResourceQuery('id = /a')))[0]!.tags, { owner: 'lukas' });
  });

  test('search applies the query language (id, tags, attrs, clean, numbers) and the limit', async ({ store }) => {
    await store.replaceGraph('w1', 'fs', [r('/a', { tags: { owner: 'lukas' } }), r('/bb'), r('/ccc', { kind: 'folder' })], 1, null);
    await store.replaceGraph('w2', 'fs', [r('/a')], 1, null);
    await store.setFlags('w1', 'fs', ['/bb']);
    const search = async (q: string, limit?: number) => ids(await store.search(parseResourceQuery(q), limit));
    assert.equal(await search('id = /a'), ['w1/fs:/a', 'w2/fs:/a']);
    assert.equal(await search('tags.owner = lukas'), ['w1/fs:/a']);
    assert.equal(await search('size > 2'), ['w1/fs:/bb', 'w1/fs:/ccc']);
    assert.equal(await search('clean = true'), ['w1/fs:/bb']);
    assert.equal(await search('kind = file and worker = w1'), ['w1/fs:/a', 'w1/fs:/bb']);
    assert.equal(await search('', 2), ['w1/fs:/a', 'w1/fs:/bb']);
    assert.equal(await search('id = nothing'), []);
  });

  test('counts: resources, flagged and the latest collection per worker+plugin', async ({ store }) => {
    assert.equal(await store.counts(), []);
    await store.replaceGraph('w2', 'fs', [r('/a')], 5, null);
    await store.replaceGraph('w1', 'fs', [r('/a'), r('/b')], 7, null);
    await store.replaceGraph('w1', 'aws', [r('i-1')], 3, null);
    await store.setFlags('w1', 'fs', ['/b']);
    assert.equal(await store.counts(), [
      { worker: 'w1', plugin: 'aws', resources: 1, flagged: 0, collectedAt: 3 },
      { worker: 'w1', plugin: 'fs', resources: 2, flagged: 1, collectedAt: 7 },
      { worker: 'w2', plugin: 'fs', resources: 1, flagged: 0, collectedAt: 5 },
    ]);
  });

  test('calls take effect in call order without awaiting each', async ({ store }) => {
    void store.replaceGraph('w1', 'fs', [r('/a'), r('/b')], 1, null);
    void store.setFlags('w1', 'fs', ['/a']);
    void store.replaceGraph('w1', 'fs', [r('/a')], 2, null);
    assert.equal(await store.flagged('w1'), { fs: ['/a'] });
  });

  return test;
}
