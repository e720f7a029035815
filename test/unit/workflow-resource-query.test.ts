import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { matchesQuery, parseResourceQuery, type QueryableResource } from '../../src/hub/actions/resource-query.ts';
import { ResourceGraphIntake } from '../../src/hub/actions/resource-graph-intake.ts';
import { SqliteResourceStore } from '../../src/hub/actions/sqlite-resource-store.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { selectorQuery, parseTagPairs } from '../../src/cli/hub-resources.ts';

const file: QueryableResource = {
  worker: 'w1',
  plugin: 'fs',
  id: '/data/tmp/report.log',
  kind: 'file',
  attrs: { path: '/data/tmp/report.log', size: 2048, age_s: 90_000, name: 'report.log' },
  tags: { owner: 'lukas', team: 'ops' },
  clean: true,
  collectedAt: 1000,
};

const q = (text: string) => matchesQuery(parseResourceQuery(text), file);

test('parse: comparisons joined with and, bare and quoted values', () => {
  assert.equal(parseResourceQuery("kind = file and tags.owner='lukas' AND path ~ \"\\\\.log$\"").all.map(({ key, op, value }) => [key, op, value]), [
    ['kind', '=', 'file'],
    ['tags.owner', '=', 'lukas'],
    ['path', '~', '\\.log$'],
  ]);
  assert.equal(parseResourceQuery('').all, []);
  assert.equal(parseResourceQuery('   ').all, []);
});

test('=, != compare text; numbers and booleans by value', () => {
  assert.ok(q('id = /data/tmp/report.log'));
  assert.ok(q('kind = file'));
  assert.not.ok(q('kind = folder'));
  assert.ok(q('kind != folder'));
  assert.ok(q('tags.owner = lukas'));
  assert.ok(q('clean = true'));
  assert.not.ok(q('clean = false'));
  assert.ok(q('size = 2048'));
  assert.ok(q('size = 2048.0'));
  assert.ok(q('worker = w1 and plugin = fs'));
  assert.ok(q('attrs.name = report.log'));
});

test('~ and !~ are regular expressions; < <= > >= compare numbers', () => {
  assert.ok(q('path ~ \\.log$'));
  assert.ok(q("id ~ '^/data/'"));
  assert.not.ok(q('path ~ ^/var'));
  assert.ok(q('path !~ ^/var'));
  assert.ok(q('size > 1000 and size <= 2048 and age_s >= 86400'));
  assert.not.ok(q('size < 2048'));
  assert.ok(q('collected = 1000'));
});

test('a missing attribute matches only != and !~', () => {
  assert.not.ok(q('tags.missing = x'));
  assert.ok(q('tags.missing != x'));
  assert.ok(q('nothing !~ x'));
  assert.not.ok(q('nothing > 1'));
});

test('errors name the position', () => {
  assert.throws(() => parseResourceQuery('kind file'), /expected one of = != ~ .* after `kind` at position 6/);
  assert.throws(() => parseResourceQuery('kind ='), /expected a value after `kind =` at the end/);
  assert.throws(() => parseResourceQuery('kind = file or kind = folder'), /expected `and` at position 13/);
  assert.throws(() => parseResourceQuery('path ~ ('), /is not a regular expression/);
  assert.throws(() => parseResourceQuery('size > big'), /needs a number, got `big`/);
  assert.throws(() => parseResourceQuery('= x'), /expected a key at position 1/);
});

test('the store searches every graph; `id = X` uses the index; a new graph keeps flags of the resources still there', async () => {
  const store = openSqliteStore(':memory:');
  const resources = new SqliteResourceStore(store.db);
  const intake = new ResourceGraphIntake(resources);
  const r = (id: string, kind = 'file', tags: Record<string, string> = {}) => ({ id, kind, attrs: { path: id }, tags, edges: [] });
  const search = async (query: string) => resources.search(parseResourceQuery(query));
  await resources.replaceGraph('w1', 'fs', [r('/a', 'folder'), r('/a/x', 'file', { owner: 'lukas' })], 1, 'run-1');
  await resources.replaceGraph('w2', 'fs', [r('/a/x'), r('/b')], 2, 'run-1');
  assert.is((await search('id = /a/x')).length, 2);
  assert.equal((await search('tags.owner = lukas')).map((x) => x.worker), ['w1']);
  assert.is(await resources.setFlags('w1', 'fs', ['/a/x', '/not-there']), 1);
  assert.equal(await resources.flagged('w1'), { fs: ['/a/x'] });
  assert.equal(await resources.flagged('w2'), {});
  await resources.replaceGraph('w1', 'fs', [r('/a/x'), r('/a/y')], 3, 'run-2');
  assert.equal((await search('clean = true')).map((x) => `${x.worker}:${x.id}`), ['w1:/a/x']);
  assert.equal((await resources.counts()).map((c) => [c.worker, c.resources, c.flagged]), [
    ['w1', 2, 1],
    ['w2', 2, 0],
  ]);
  // Batches: out of order discards the graph being received; in order replaces on `last`.
  assert.equal(await intake.addBatch('w2', 'fs', 'm1', 0, false, [r('/c')], 4, null), { stored: true, complete: false });
  assert.ok('error' in (await intake.addBatch('w2', 'fs', 'm1', 2, true, [r('/d')], 4, null)));
  assert.equal((await search('worker = w2')).map((x) => x.id), ['/a/x', '/b']);
  await intake.addBatch('w2', 'fs', 'm2', 0, false, [r('/c')], 5, null);
  assert.equal(await intake.addBatch('w2', 'fs', 'm2', 1, true, [r('/d')], 5, null), { stored: true, complete: true, count: 2 });
  assert.equal((await search('worker = w2')).map((x) => x.id), ['/c', '/d']);
  await resources.close();
  store.close();
});

test('cla-hub resources tag: an id or a query; key=value pairs', () => {
  assert.is(selectorQuery('/data/tmp/x.log'), "id = '/data/tmp/x.log'");
  assert.is(selectorQuery("i-039e06bb2539e5484"), "id = 'i-039e06bb2539e5484'");
  assert.is(selectorQuery("/it's"), "id = '/it\\'s'");
  assert.equal(parseResourceQuery(selectorQuery("/it's")).all[0]!.value, "/it's");
  assert.is(selectorQuery('kind = file'), 'kind = file');
  assert.is(selectorQuery('tags.owner=lukas'), 'tags.owner=lukas');
  assert.equal(parseTagPairs(['owner=lukas', 'empty=', 'eq=a=b']), { owner: 'lukas', empty: '', eq: 'a=b' });
  assert.throws(() => parseTagPairs(['owner']), /key=value/);
});

test.run();
