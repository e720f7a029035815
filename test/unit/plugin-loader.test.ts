/** Plugin discovery (folder, packages), selection, settings and registration of their handlers. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { silentLogger } from '../../src/logger.ts';
import { frame, type Frame } from '../../src/protocol/frames.ts';
import type { ActionSubscription } from '../../src/protocol/frames-bus.ts';
import type { ExtensionContext } from '../../src/worker/agent-extension.ts';
import { PluginConfig, pluginSettings } from '../../src/worker/plugins/plugin-config.ts';
import { checkPlugin, discoverDir, discoverPackages, discoverPlugins, packageEntry, selectPlugins } from '../../src/worker/plugins/plugin-loader.ts';
import { createPluginWorker } from '../../src/worker/plugins/setup.ts';

function temp() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-plugins-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

const HELLO = `export const plugin = {
  name: 'hello',
  kind: 'action',
  configKeys: ['who'],
  create: ({ config }) => ({
    actions: { hello: (ctx) => ctx.info('info', 'hello ' + (config.get('who') ?? 'world')) },
    subscriptions: { hello: { timeoutMs: 5000, waitForCompletion: false } },
  }),
};
`;

function writePackage(nodeModules: string, name: string, body: string, manifest: Record<string, unknown> = {}) {
  const dir = path.join(nodeModules, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, type: 'module', ...manifest }));
  fs.writeFileSync(path.join(dir, (manifest.main as string | undefined) ?? 'index.js'), body);
  return dir;
}

test('a plugins folder: every module exporting plugin or plugins', async () => {
  const t = temp();
  try {
    fs.writeFileSync(path.join(t.dir, 'hello.mjs'), HELLO);
    fs.writeFileSync(
      path.join(t.dir, 'two.mjs'),
      "export const plugins = [{ name: 'a', kind: 'action', create: () => ({}) }, { name: 'b', kind: 'collector', create: () => ({}) }];",
    );
    fs.writeFileSync(path.join(t.dir, 'README.md'), 'not a plugin');
    const found = await discoverDir(t.dir);
    assert.equal(found.map((f) => [f.plugin.name, f.origin, path.basename(f.source)]), [
      ['hello', 'dir', 'hello.mjs'],
      ['a', 'dir', 'two.mjs'],
      ['b', 'dir', 'two.mjs'],
    ]);
    fs.writeFileSync(path.join(t.dir, 'zbad.mjs'), 'export const nothing = 1;');
    await discoverDir(t.dir).then(
      () => assert.unreachable(),
      (error: Error) => assert.match(error.message, /zbad\.mjs: exports no `plugin`/),
    );
  } finally {
    t.cleanup();
  }
});

test('a plugin object is checked, naming where it came from', () => {
  assert.throws(() => checkPlugin({ name: 'Bad Name', kind: 'action', create: () => ({}) }, 'x.mjs'), /x\.mjs: the plugin's `name` is not valid/);
  assert.throws(() => checkPlugin({ name: 'ok', kind: 'other', create: () => ({}) }, 'x.mjs'), /`kind`/);
  assert.throws(() => checkPlugin({ name: 'ok', kind: 'action' }, 'x.mjs'), /`create`/);
  assert.throws(() => checkPlugin(5, 'x.mjs'), /must be an object/);
});

test('installed packages named cla-worker-plugin-* (and scoped ones); the first node_modules wins', async () => {
  const t = temp();
  try {
    const near = path.join(t.dir, 'app', 'node_modules');
    const far = path.join(t.dir, 'node_modules');
    writePackage(near, 'cla-worker-plugin-hello', HELLO);
    writePackage(far, 'cla-worker-plugin-hello', "export const plugin = { name: 'shadowed', kind: 'action', create: () => ({}) };");
    writePackage(far, '@acme/cla-worker-plugin-x', "export const plugin = { name: 'acme', kind: 'action', create: () => ({}) };", { main: 'main.js' });
    writePackage(far, 'unrelated', 'throw new Error("never loaded")');
    const found = await discoverPackages([near, far]);
    assert.equal(found.map((f) => [f.plugin.name, f.origin]), [
      ['hello', 'package'],
      ['acme', 'package'],
    ]);
    assert.is(packageEntry(path.join(far, '@acme/cla-worker-plugin-x')), path.join(far, '@acme/cla-worker-plugin-x/main.js'));
    fs.writeFileSync(path.join(near, 'cla-worker-plugin-hello', 'package.json'), JSON.stringify({ exports: { '.': { import: './esm.js' } } }));
    assert.is(packageEntry(path.join(near, 'cla-worker-plugin-hello')), path.join(near, 'cla-worker-plugin-hello/esm.js'));
  } finally {
    t.cleanup();
  }
});

test('discoverPlugins: built-ins + folder + packages; one name twice is an error naming both', async () => {
  const t = temp();
  try {
    const plugins = path.join(t.dir, 'plugins');
    fs.mkdirSync(plugins);
    fs.writeFileSync(path.join(plugins, 'hello.mjs'), HELLO);
    const found = await discoverPlugins({ pluginsDir: plugins, cwd: t.dir });
    assert.equal(found.map((f) => `${f.plugin.name}:${f.origin}`), ['fs:builtin', 'hello:dir']);
    fs.writeFileSync(path.join(plugins, 'fs.mjs'), "export const plugin = { name: 'fs', kind: 'collector', create: () => ({}) };");
    await discoverPlugins({ pluginsDir: plugins, cwd: t.dir }).then(
      () => assert.unreachable(),
      (error: Error) => assert.match(error.message, /Two plugins are named fs: built-in and .*fs\.mjs/),
    );
  } finally {
    t.cleanup();
  }
});

test('selection: --plugin names, configured ones, and found ones when no --plugin is given; built-ins only on request', () => {
  const p = (name: string, origin: 'builtin' | 'dir' | 'package') => ({ plugin: { name, kind: 'action' as const, create: () => ({}) }, source: name, origin });
  const found = [p('fs', 'builtin'), p('hello', 'dir'), p('aws', 'package')];
  const names = (list: ReturnType<typeof selectPlugins>) => list.map((f) => f.plugin.name);
  assert.equal(names(selectPlugins(found, [], [])), ['hello', 'aws']);
  assert.equal(names(selectPlugins(found, [], ['fs'])), ['fs', 'hello', 'aws']);
  assert.equal(names(selectPlugins(found, ['fs'], [])), ['fs']);
  assert.equal(names(selectPlugins(found, ['hello'], ['fs', 'collector'])), ['fs', 'hello']);
  assert.throws(() => selectPlugins(found, ['nope'], []), /--plugin nope: no such plugin \(found: aws, fs, hello\)/);
});

test('settings: NAME.key overrides per plugin; typed getters name the key', () => {
  const settings = pluginSettings({ 'fs.roots': '/a,/b', 'fs.dry_run': 'true', 'aws.region': 'eu', plain: 'x', '.bad': 'y', 'bad.': 'z' });
  assert.equal([...settings.entries()], [
    ['fs', { roots: '/a,/b', dry_run: 'true' }],
    ['aws', { region: 'eu' }],
  ]);
  const c = new PluginConfig('fs', { n: '5', b: 'off', s: '30m', l: ' a, ,b ', bad: 'x' });
  assert.is(c.number('n', 0, 1, 10), 5);
  assert.is(c.boolean('b', true), false);
  assert.is(c.seconds('s', null), 1800);
  assert.equal(c.list('l', []), ['a', 'b']);
  assert.is(c.number('missing', 7), 7);
  assert.throws(() => c.number('bad', 0), /Expected `fs.bad` to be a number, got `x`/);
  assert.throws(() => c.number('n', 0, 6), /a number >= 6/);
  assert.throws(() => c.checkKeys(['n']), /Unknown setting `fs.b`/);
});

test('createPluginWorker: plugin handlers become subscriptions and answer actions; settings reach the plugin', async () => {
  const t = temp();
  try {
    fs.writeFileSync(path.join(t.dir, 'hello.mjs'), HELLO);
    const subs: ActionSubscription[] = [];
    const handled: Array<[string, Record<string, string[]>]> = [];
    const worker = await createPluginWorker({
      workerId: 'w1',
      pluginsDir: t.dir,
      packages: false,
      overrides: { 'hello.who': 'lukas', 'fs.roots': t.dir },
      subscriptions: { addAction: (s) => subs.push(s) },
      tasks: { handle: (name, filter) => handled.push([name, filter]) },
    });
    assert.equal(worker.plugins.map((p) => [p.name, p.actions, p.tasks]), [
      ['fs', ['collect', 'plan_cleanup', 'cleanup'], ['tag']],
      ['hello', ['hello'], []],
    ]);
    assert.equal(handled, [['tag', { plugin: ['fs'], worker: ['w1'] }]]);
    assert.equal(subs.find((s) => s.action === 'hello'), { action: 'hello', waitForCompletion: false, timeoutMs: 5000 });
    const sent: Frame[] = [];
    const ctx: ExtensionContext = {
      workerId: 'w1',
      tags: [],
      clock: new SimulatedClock(),
      log: silentLogger(),
      send: (f) => sent.push(f),
      sendEncoded: (encoded) => sent.push(encoded.frame),
      trackWork: () => () => undefined,
      pause: () => undefined,
      resume: () => undefined,
    };
    worker.extension.welcomed!(ctx);
    worker.extension.frame!(frame('action', { id: 'm1', action: 'hello', run: 'r', step: 's', data: {} }), ctx);
    worker.extension.frame!(frame('action', { id: 'm2', action: 'collect', run: 'r', step: 's', data: {} }), ctx);
    // The collect walks a real folder (fs promises): let I/O complete, no timer involved.
    // Bounded by count, not by a time limit: 2000 polls of 10 ms leave room for a loaded CI machine.
    for (let i = 0; i < 2000 && !sent.some((f) => f.t === 'action_done' && f.re === 'm2'); i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(sent.filter((f) => f.t === 'action_info' && f.re === 'm1').map((f) => (f as { message: string }).message), ['hello lukas']);
    const graph = sent.filter((f) => f.t === 'resources');
    assert.is(graph.length, 1);
    assert.ok((graph[0] as { last: boolean; plugin: string }).last);
    assert.ok(sent.some((f) => f.t === 'action_done' && f.re === 'm2'));
    await worker.extension.stop!();
    await createPluginWorker({ workerId: 'w1', packages: false, overrides: { 'fs.rots': '/x' }, subscriptions: { addAction: () => undefined } }).then(
      () => assert.unreachable(),
      (error: Error) => assert.match(error.message, /Unknown setting `fs.rots`/),
    );
  } finally {
    t.cleanup();
  }
});

test.run();
