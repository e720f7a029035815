/** The fs plugin on a temp tree, with fixed mtimes and a simulated clock (no wall-clock reads). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { silentLogger } from '../../src/logger.ts';
import type { Resource } from '../../src/protocol/frames-bus.ts';
import type { ActionContext } from '../../src/worker/actions/action-extension.ts';
import { cleanupOrder } from '../../src/worker/plugins/cleanup-order.ts';
import { globToRegExp, parseNamePattern } from '../../src/worker/plugins/fs-match.ts';
import { FsCollector, fsPlugin, parseFsOptions } from '../../src/worker/plugins/fs-plugin.ts';
import { readTags, TAGS_FILE } from '../../src/worker/plugins/fs-tags.ts';
import { PluginConfig } from '../../src/worker/plugins/plugin-config.ts';
import type { CleanupContext, PlanContext } from '../../src/worker/plugins/plugin.ts';

const NOW = 1_800_000_000_000;
const DAY = 86_400_000;

/**
 * root/
 *   old.tmp            10 days
 *   new.tmp            1 hour
 *   keep.txt           10 days
 *   cache/             10 days (after its files are set)
 *     a.tmp            10 days
 *     deep/            10 days
 *       b.tmp          10 days
 *   mixed/             10 days
 *     old.tmp          10 days
 *     fresh.txt        1 hour
 */
function tree() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-fs-'));
  const root = path.join(dir, 'root');
  const files: Record<string, number> = {
    'old.tmp': 10 * DAY,
    'new.tmp': 3_600_000,
    'keep.txt': 10 * DAY,
    'cache/a.tmp': 10 * DAY,
    'cache/deep/b.tmp': 10 * DAY,
    'mixed/old.tmp': 10 * DAY,
    'mixed/fresh.txt': 3_600_000,
  };
  for (const [rel, age] of Object.entries(files)) {
    const full = path.join(root, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, rel);
    fs.utimesSync(full, new Date(NOW - age), new Date(NOW - age));
  }
  for (const folder of ['cache/deep', 'cache', 'mixed']) fs.utimesSync(path.join(root, folder), new Date(NOW - 10 * DAY), new Date(NOW - 10 * DAY));
  return { dir, root, p: (rel: string) => path.join(root, rel), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function context(data: unknown = {}) {
  const infos: string[] = [];
  const abort = new AbortController();
  const ctx = {
    id: 'm1',
    action: 'x',
    run: 'r',
    step: 's',
    data,
    signal: abort.signal,
    worker: undefined as never,
    info: (_level: string, message: string) => infos.push(message),
    progress: () => undefined,
    graph: () => ({ add: () => undefined, end: () => undefined }),
    flag: () => undefined,
  } satisfies ActionContext;
  return { ctx, infos, abort };
}

function collector(settings: Record<string, string>) {
  const clock = new SimulatedClock();
  clock.set(NOW);
  return new FsCollector(parseFsOptions(new PluginConfig('fs', settings)), { clock, workerId: 'w1', log: silentLogger() });
}

async function collect(plugin: FsCollector): Promise<Resource[]> {
  const out: Resource[] = [];
  for await (const r of plugin.collect(context().ctx)) out.push(r);
  return out;
}

const plan = (plugin: FsCollector) => plugin.planCleanup({ ...context().ctx, lastGraph: null } as PlanContext);
const clean = async (plugin: FsCollector, flagged: string[] | null = null) => {
  const c = context();
  await plugin.cleanup({ ...c.ctx, flagged } as CleanupContext);
  return c.infos;
};

test('collect: files and folders under the roots, attrs, tags from the sidecar, an edge to the parent', async () => {
  const t = tree();
  try {
    fs.writeFileSync(path.join(t.root, TAGS_FILE), JSON.stringify({ 'keep.txt': { owner: 'lukas' }, '.': { team: 'ops' } }));
    const graph = await collect(collector({ roots: t.root, host: 'box' }));
    assert.equal(graph.map((r) => [path.relative(t.root, r.id) || '.', r.kind]), [
      ['.', 'folder'],
      ['cache', 'folder'],
      ['keep.txt', 'file'],
      ['mixed', 'folder'],
      ['new.tmp', 'file'],
      ['old.tmp', 'file'],
      ['cache/a.tmp', 'file'],
      ['cache/deep', 'folder'],
      ['cache/deep/b.tmp', 'file'],
      ['mixed/fresh.txt', 'file'],
      ['mixed/old.tmp', 'file'],
    ]);
    const byId = new Map(graph.map((r) => [r.id, r]));
    const root = byId.get(t.root)!;
    assert.equal(root.edges, []);
    assert.equal(root.tags, { team: 'ops' });
    const keep = byId.get(t.p('keep.txt'))!;
    assert.equal(keep.tags, { owner: 'lukas' });
    assert.equal(keep.edges, [t.root]);
    assert.equal(keep.attrs, { path: t.p('keep.txt'), name: 'keep.txt', root: t.root, size: 8, mtime: NOW - 10 * DAY, age_s: 864_000, depth: 1, host: 'box' });
    assert.equal(byId.get(t.p('cache/deep/b.tmp'))!.edges, [t.p('cache/deep')]);
    assert.ok(!graph.some((r) => r.id.endsWith(TAGS_FILE)), 'the sidecar is not a resource');
  } finally {
    t.cleanup();
  }
});

test('plan: by age, by pattern, by both; never a root; no rule, no plan', async () => {
  const t = tree();
  try {
    const rel = (ids: readonly string[]) => ids.map((id) => path.relative(t.root, id)).sort();
    assert.equal(rel(await plan(collector({ roots: t.root, older_than: '7d' }))), ['cache', 'cache/a.tmp', 'cache/deep', 'cache/deep/b.tmp', 'keep.txt', 'mixed', 'mixed/old.tmp', 'old.tmp']);
    assert.equal(rel(await plan(collector({ roots: t.root, pattern: '*.tmp' }))), ['cache/a.tmp', 'cache/deep/b.tmp', 'mixed/old.tmp', 'new.tmp', 'old.tmp']);
    assert.equal(rel(await plan(collector({ roots: t.root, pattern: '*.tmp', older_than: '86400' }))), ['cache/a.tmp', 'cache/deep/b.tmp', 'mixed/old.tmp', 'old.tmp']);
    assert.equal(rel(await plan(collector({ roots: t.root, pattern: '/^cache\\//', kinds: 'file' }))), ['cache/a.tmp', 'cache/deep/b.tmp']);
    assert.equal(rel(await plan(collector({ roots: t.root, pattern: 'cache/**' }))), ['cache/a.tmp', 'cache/deep', 'cache/deep/b.tmp']);
    assert.equal(await plan(collector({ roots: t.root })), []);
    assert.equal(await plan(collector({ roots: t.root, older_than: '0' })).then((ids) => ids.includes(t.root)), false);
  } finally {
    t.cleanup();
  }
});

test('cleanup removes files before their folders, a folder only once empty, never a root', async () => {
  const t = tree();
  try {
    const plugin = collector({ roots: t.root, older_than: '7d' });
    await collect(plugin);
    await plan(plugin);
    const infos = await clean(plugin);
    const deleted = infos.filter((m) => m.startsWith('deleted ')).map((m) => m.replace(`${t.root}/`, '').replace(t.root, '.'));
    // every file or folder comes before its parent folder
    const position = new Map(deleted.map((m, i) => [m.split(' ')[2]!, i]));
    for (const [entry, i] of position) {
      const parent = path.dirname(entry);
      if (position.has(parent)) assert.ok(position.get(parent)! > i, `${entry} before ${parent}`);
    }
    assert.equal(deleted.sort(), ['deleted file cache/a.tmp', 'deleted file cache/deep/b.tmp', 'deleted file keep.txt', 'deleted file mixed/old.tmp', 'deleted file old.tmp', 'deleted folder cache', 'deleted folder cache/deep']);
    assert.ok(infos.includes(`fs: kept folder ${t.p('mixed')}: not empty`));
    assert.equal(fs.readdirSync(t.root).sort(), ['mixed', 'new.tmp']);
    assert.equal(fs.readdirSync(t.p('mixed')), ['fresh.txt']);
  } finally {
    t.cleanup();
  }
});

test('dry run: reports what it would delete and deletes nothing', async () => {
  const t = tree();
  try {
    const before = fs.readdirSync(t.root, { recursive: true }).map(String).sort();
    const plugin = collector({ roots: t.root, older_than: '7d', dry_run: 'true' });
    await collect(plugin);
    await plan(plugin);
    const infos = await clean(plugin);
    assert.equal(fs.readdirSync(t.root, { recursive: true }).map(String).sort(), before);
    assert.ok(infos.includes(`would delete file ${t.p('old.tmp')} (dry run)`));
    assert.ok(infos.includes(`would delete folder ${t.p('cache')} (dry run)`));
    assert.not.ok(infos.some((m) => m.startsWith('deleted ')));
    assert.match(infos.at(-1)!, /would delete 8 of 8 flagged entries \(dry run\)/);
  } finally {
    t.cleanup();
  }
});

test("cleanup uses the hub's flagged ids, and re-checks each: outside the roots, a root, gone, modified since collected", async () => {
  const t = tree();
  try {
    const plugin = collector({ roots: t.root, pattern: '*.tmp' });
    await collect(plugin);
    fs.writeFileSync(t.p('new.tmp'), 'changed');
    fs.utimesSync(t.p('new.tmp'), new Date(NOW), new Date(NOW));
    fs.rmSync(t.p('old.tmp'));
    const infos = await clean(plugin, [t.p('new.tmp'), t.p('old.tmp'), t.root, '/etc/passwd', t.p('cache/a.tmp')]);
    assert.ok(infos.includes(`fs: kept ${t.p('new.tmp')}: modified since it was collected`));
    assert.ok(infos.includes(`fs: ${t.p('old.tmp')} is already gone`));
    assert.ok(infos.includes(`fs: kept ${t.root}: not inside a configured root (or a root itself)`));
    assert.ok(infos.includes('fs: kept /etc/passwd: not inside a configured root (or a root itself)'));
    assert.ok(infos.includes(`deleted file ${t.p('cache/a.tmp')}`));
    assert.ok(fs.existsSync('/etc/passwd') || process.platform !== 'linux');
    assert.ok(fs.existsSync(t.p('new.tmp')));
  } finally {
    t.cleanup();
  }
});

test('the tag task writes the sidecar; the next collect reports the tags; a removed entry loses its tags', async () => {
  const t = tree();
  try {
    const plugin = collector({ roots: t.root, pattern: 'old.tmp' });
    const task = (data: unknown) => plugin.tag({ id: 't1', name: 'tag', attrs: { plugin: 'fs', worker: 'w1' }, data });
    assert.equal(task({ id: t.p('keep.txt'), set: { owner: 'lukas', team: 'ops' } }), { id: t.p('keep.txt'), tags: { owner: 'lukas', team: 'ops' } });
    assert.equal(task({ id: t.p('keep.txt'), set: {}, remove: ['team'] }).tags, { owner: 'lukas' });
    assert.equal(task({ id: t.root, set: { scope: 'tmp' } }).tags, { scope: 'tmp' });
    task({ id: t.p('old.tmp'), set: { doomed: 'yes' } });
    assert.equal(readTags(t.root), { 'keep.txt': { owner: 'lukas' }, '.': { scope: 'tmp' }, 'old.tmp': { doomed: 'yes' } });
    const graph = await collect(plugin);
    assert.equal(graph.find((r) => r.id === t.p('keep.txt'))!.tags, { owner: 'lukas' });
    await plan(plugin);
    await clean(plugin);
    assert.equal(readTags(t.root), { 'keep.txt': { owner: 'lukas' }, '.': { scope: 'tmp' } });
    assert.throws(() => task({ id: '/etc/hostname', set: { a: 'b' } }), /not under a root/);
    assert.throws(() => task({ id: t.p('nothing'), set: { a: 'b' } }), /does not exist/);
    assert.throws(() => task({ set: {} }), /needs `data.id`/);
    assert.equal(plugin.tasks[0]!.filter, { plugin: ['fs'], worker: ['w1'] });
  } finally {
    t.cleanup();
  }
});

test('a flagged folder whose only content is the sidecar is removed with it', async () => {
  const t = tree();
  try {
    const plugin = collector({ roots: t.root, pattern: 'deep' });
    fs.rmSync(t.p('cache/deep/b.tmp'));
    fs.writeFileSync(t.p(`cache/deep/${TAGS_FILE}`), '{}');
    await collect(plugin);
    await plan(plugin);
    const infos = await clean(plugin);
    assert.ok(infos.includes(`deleted folder ${t.p('cache/deep')}`));
    assert.not.ok(fs.existsSync(t.p('cache/deep')));
  } finally {
    t.cleanup();
  }
});

test('an aborted cleanup stops', async () => {
  const t = tree();
  try {
    const plugin = collector({ roots: t.root, older_than: '1d' });
    await collect(plugin);
    await plan(plugin);
    const c = context();
    c.abort.abort();
    await plugin.cleanup({ ...c.ctx, flagged: null } as CleanupContext).then(
      () => assert.unreachable(),
      (error: { code: string }) => assert.is(error.code, 'ABORTED'),
    );
    assert.ok(fs.existsSync(t.p('old.tmp')));
  } finally {
    t.cleanup();
  }
});

test('settings are checked, naming the key', () => {
  const parse = (s: Record<string, string>) => parseFsOptions(new PluginConfig('fs', s));
  assert.throws(() => parse({ rots: '/x' }), /Unknown setting `fs.rots`/);
  assert.throws(() => parse({ roots: 'relative/dir' }), /absolute folders, got `relative\/dir`/);
  assert.throws(() => parse({ roots: '/' }), /Refusing `\/`/);
  assert.throws(() => parse({ roots: '/a,/a/b' }), /overlap/);
  assert.throws(() => parse({ dry_run: 'maybe' }), /Expected `fs.dry_run` to be `true` or `false`, got `maybe`/);
  assert.throws(() => parse({ older_than: 'old' }), /Expected `fs.older_than` to be a number of seconds/);
  assert.throws(() => parse({ kinds: 'file,socket' }), /file, folder or symlink, got `socket`/);
  assert.throws(() => parse({ pattern: '/(/' }), /Expected `fs.pattern` to be a regular expression/);
  const o = parse({ roots: '/a/, /b', older_than: '12h', dry_run: 'yes', host: 'h' });
  assert.equal([o.roots, o.olderThanS, o.dryRun, o.host, [...o.kinds]], [['/a', '/b'], 43_200, true, 'h', ['file', 'folder']]);
  assert.is(fsPlugin.name, 'fs');
  assert.is(fsPlugin.kind, 'collector');
});

test('globs and regexes', () => {
  const m = (pattern: string, name: string, relative = name) => parseNamePattern(pattern).matches(name, relative);
  assert.ok(m('*.tmp', 'a.tmp', 'x/a.tmp'));
  assert.not.ok(m('*.tmp', 'a.tmpx'));
  assert.ok(m('core.[0-9]*', 'core.123'));
  assert.not.ok(m('core.[!0-9]*', 'core.123'));
  assert.ok(m('cache-??', 'cache-01'));
  assert.ok(m('build/**', 'x', 'build/a/x'));
  assert.not.ok(m('build/*', 'x', 'build/a/x'));
  assert.ok(m('**/logs/*.log', 'a.log', 'logs/a.log'));
  assert.ok(m('**/logs/*.log', 'a.log', 'x/y/logs/a.log'));
  assert.ok(m('/\\.LOG$/i', 'a.log', 'd/a.log'));
  assert.ok(m('re:^d/', 'a', 'd/a'));
  assert.is(globToRegExp('a.b+c'), '^a\\.b\\+c$');
});

test('cleanup order: dependents first, through unflagged links too; cycles last', () => {
  const nodes = [
    { id: '/r', edges: [] },
    { id: '/r/d', edges: ['/r'] },
    { id: '/r/d/e', edges: ['/r/d'] },
    { id: '/r/d/e/f', edges: ['/r/d/e'] },
    { id: '/r/x', edges: ['/r'] },
  ];
  assert.equal(cleanupOrder(nodes, ['/r/d', '/r/d/e/f', '/r/x']), ['/r/d/e/f', '/r/x', '/r/d']);
  assert.equal(cleanupOrder(nodes, ['/r', '/r/d', '/r/d/e', '/r/d/e/f']), ['/r/d/e/f', '/r/d/e', '/r/d', '/r']);
  assert.equal(cleanupOrder(nodes, ['unknown', '/r/x']), ['unknown', '/r/x']);
  const cycle = [
    { id: 'a', edges: ['b'] },
    { id: 'b', edges: ['a'] },
    { id: 'c', edges: [] },
  ];
  assert.equal(cleanupOrder(cycle, ['a', 'b', 'c']), ['c', 'a', 'b']);
});

test.run();
