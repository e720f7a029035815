import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { ClaError, ErrorCode, InvalidArgumentError } from '../../src/errors.ts';
import {
  findConfigFile,
  loadConfigFile,
  parseConfigText,
  saveRegistration,
} from '../../src/worker/config-file.ts';

const made: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-worker-config-'));
  made.push(dir);
  return dir;
}
function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}
/** A cwd, a home and an etc path, each with a cla-worker.yml, plus an explicit file. */
function everywhere() {
  const root = tempDir();
  return {
    cwd: path.dirname(write(root, 'cwd/cla-worker.yml', 'id: cwd\ntoken: t\n')),
    home: path.dirname(write(root, 'home/cla-worker.yml', 'id: home\ntoken: t\n')),
    etcPath: write(root, 'etc/cla-worker.yml', 'id: etc\ntoken: t\n'),
    flag: write(root, 'flag.yml', 'id: flag\ntoken: t\n'),
    env: write(root, 'env.yml', 'id: env\ntoken: t\n'),
  };
}
function throwsWith(fn: () => unknown, check: (e: ClaError) => void): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ClaError);
    check(e as ClaError);
    return;
  }
  assert.unreachable('expected a throw');
}
const mode = (file: string) => fs.statSync(file).mode & 0o777;

test.after(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

// --- lookup -------------------------------------------------------------------------------------

test('lookup: --config wins over everything', () => {
  const p = everywhere();
  const found = findConfigFile({ explicit: p.flag, env: { CLA_WORKER_CONFIG: p.env }, cwd: p.cwd, home: p.home, etcPath: p.etcPath });
  assert.equal(found, { path: p.flag, source: 'flag' });
});

test('lookup: CLA_WORKER_CONFIG wins over cwd, home and etc', () => {
  const p = everywhere();
  const found = findConfigFile({ env: { CLA_WORKER_CONFIG: p.env }, cwd: p.cwd, home: p.home, etcPath: p.etcPath });
  assert.equal(found, { path: p.env, source: 'env' });
});

test('lookup: cwd wins over home and etc', () => {
  const p = everywhere();
  assert.equal(findConfigFile({ env: {}, cwd: p.cwd, home: p.home, etcPath: p.etcPath }), {
    path: path.join(p.cwd, 'cla-worker.yml'),
    source: 'cwd',
  });
});

test('lookup: home wins over etc; home defaults to $HOME', () => {
  const p = everywhere();
  const empty = tempDir();
  const expected = { path: path.join(p.home, 'cla-worker.yml'), source: 'home' };
  assert.equal(findConfigFile({ env: {}, cwd: empty, home: p.home, etcPath: p.etcPath }), expected);
  assert.equal(findConfigFile({ env: { HOME: p.home }, cwd: empty, etcPath: p.etcPath }), expected);
});

test('lookup: etc is last, and nothing found is null', () => {
  const p = everywhere();
  const empty = tempDir();
  assert.equal(findConfigFile({ env: {}, cwd: empty, home: empty, etcPath: p.etcPath }), { path: p.etcPath, source: 'etc' });
  assert.is(findConfigFile({ env: {}, cwd: empty, home: empty, etcPath: path.join(empty, 'none.yml') }), null);
});

test('lookup: a relative --config is resolved against cwd', () => {
  const p = everywhere();
  const found = findConfigFile({ explicit: '../flag.yml', env: {}, cwd: p.cwd, home: p.home, etcPath: p.etcPath });
  assert.equal(found, { path: p.flag, source: 'flag' });
});

test('lookup: a missing --config is an error, not a fall-through to cwd', () => {
  const p = everywhere();
  const missing = path.join(p.cwd, 'nope.yml');
  throwsWith(
    () => findConfigFile({ explicit: missing, env: {}, cwd: p.cwd, home: p.home, etcPath: p.etcPath }),
    (e) => {
      assert.is(e.code, ErrorCode.ConfigMissing);
      assert.ok(e.message.includes(missing), e.message);
      assert.ok(e.message.includes('--config'), e.message);
    },
  );
});

test('lookup: a missing CLA_WORKER_CONFIG is an error naming the variable', () => {
  const p = everywhere();
  const missing = path.join(p.cwd, 'gone.yml');
  throwsWith(
    () => findConfigFile({ env: { CLA_WORKER_CONFIG: missing }, cwd: p.cwd, home: p.home, etcPath: p.etcPath }),
    (e) => {
      assert.is(e.code, ErrorCode.ConfigMissing);
      assert.ok(e.message.includes(missing) && e.message.includes('CLA_WORKER_CONFIG'), e.message);
    },
  );
});

// --- format -------------------------------------------------------------------------------------

test('format: a flat file is one registration and the default id', () => {
  const dir = tempDir();
  const file = write(dir, 'cla-worker.yml', 'id: myworker\ntoken: 97d317df\nverbose: true\ntags: java, nodejs\nenvs: QA,PROD\npasskey: abc\n');
  const config = loadConfigFile(file);
  assert.equal(config.registrations, [{ id: 'myworker', token: '97d317df' }]);
  assert.is(config.defaultId, 'myworker');
  assert.equal(config.settings, { verbose: true, tags: ['java', 'nodejs'], envs: ['QA', 'PROD'], passkey: 'abc' });
  assert.equal(config.unknownKeys, []);
});

test('format: the registrations list, YAML lists and per-registration overrides', () => {
  const config = parseConfigText(
    [
      'url: http://hub.example:8733',
      'tags: [java, nodejs]',
      'concurrency: 4',
      'overrides: { collector.timeout: 30 }',
      'registrations:',
      '  - id: a',
      '    token: ta',
      '  - id: b',
      '    token: tb',
      '    url: https://other.example',
      '    envs: [PROD]',
    ].join('\n'),
    'cla-worker.yml',
  );
  assert.is(config.settings.url, 'ws://hub.example:8733');
  assert.equal(config.settings.tags, ['java', 'nodejs']);
  assert.is(config.settings.concurrency, 4);
  assert.equal(config.settings.overrides, { 'collector.timeout': '30' });
  assert.equal(config.registrations, [
    { id: 'a', token: 'ta' },
    { id: 'b', token: 'tb', url: 'wss://other.example', envs: ['PROD'] },
  ]);
  assert.is(config.defaultId, undefined);
});

test('format: ids and tokens keep their text even when they look like numbers', () => {
  const config = parseConfigText('registrations:\n  - id: 0123\n    token: 1e100\n', 'f.yml');
  assert.equal(config.registrations, [{ id: '0123', token: '1e100' }]);
});

test('format: an empty or comment-only file is an empty config; `key:` with no value is unset', () => {
  assert.equal(parseConfigText('', 'f.yml').registrations, []);
  assert.equal(parseConfigText('# nothing yet\n', 'f.yml').settings, {});
  assert.equal(parseConfigText('passkey:\ntags:\n', 'f.yml').settings, {});
});

test('format: Clarive-only keys are ignored, others are reported', () => {
  const config = parseConfigText('origin: me@host\ndaemon: true\ntag: java\nregistrations:\n  - id: a\n    token: t\n    tgs: x\n', 'f.yml');
  assert.equal(config.unknownKeys, ['tag', 'registrations[0].tgs']);
});

// --- errors -------------------------------------------------------------------------------------

function invalid(text: string, ...parts: string[]): void {
  throwsWith(
    () => parseConfigText(text, '/x/cla-worker.yml'),
    (e) => {
      assert.instance(e, InvalidArgumentError);
      assert.is(e.code, ErrorCode.InvalidArgument);
      for (const part of ['/x/cla-worker.yml', ...parts]) assert.ok(e.message.includes(part), `${part} not in: ${e.message}`);
    },
  );
}

test('errors: invalid YAML names the file', () => {
  invalid('tags: [java,\nid: x', 'not valid YAML');
});

test('errors: a bad value names the key and what is expected', () => {
  invalid('tags: {java: 1}\n', '`tags` must be a comma separated string or a list of strings');
  invalid('verbose: sometimes\n', '`verbose` must be true or false');
  invalid('concurrency: 0\n', '`concurrency` must be a positive integer');
  invalid('url: ftp://hub\n', '`url` must be a ws://, wss://, http:// or https:// URL');
  invalid('registrations: yes\n', '`registrations` must be a list');
  invalid('registrations:\n  - id: a\n    token: t\n  - id: b\n', '`registrations[1].token` is required');
  invalid('overrides: [a, b]\n', '`overrides` must be a mapping');
});

test('errors: a list at the top level, a token without an id, a repeated id', () => {
  invalid('- id: a\n', 'top level');
  invalid('token: t\n', '`token` is set without `id`');
  invalid('id: a\ntoken: t\nregistrations:\n  - id: a\n    token: u\n', '`registrations[0].id` repeats `a`');
});

// --- saving -------------------------------------------------------------------------------------

test('save: creates the file (and its folder) with mode 0600', () => {
  const file = path.join(tempDir(), 'sub', 'cla-worker.yml');
  saveRegistration(file, { id: 'w1', token: 'tok1', url: 'ws://hub:8733' });
  assert.is(mode(file), 0o600);
  assert.equal(loadConfigFile(file).registrations, [{ id: 'w1', token: 'tok1', url: 'ws://hub:8733' }]);
  assert.equal(fs.readdirSync(path.dirname(file)), ['cla-worker.yml']); // no temp file left behind
});

test('save: an existing file is made 0600', () => {
  const file = write(tempDir(), 'cla-worker.yml', 'verbose: true\n');
  fs.chmodSync(file, 0o644);
  saveRegistration(file, { id: 'w1', token: 'tok1' });
  assert.is(mode(file), 0o600);
  assert.is(loadConfigFile(file).settings.verbose, true);
});

test('save: keeps other registrations, settings and comments', () => {
  const file = write(
    tempDir(),
    'cla-worker.yml',
    '# worker settings\nurl: ws://hub:8733 # our hub\ntags: java,nodejs\nregistrations:\n  # the build box\n  - id: a\n    token: ta # keep me\n',
  );
  saveRegistration(file, { id: 'b', token: 'tb' });
  const text = fs.readFileSync(file, 'utf8');
  for (const comment of ['# worker settings', '# our hub', '# the build box', '# keep me']) {
    assert.ok(text.includes(comment), `${comment} lost:\n${text}`);
  }
  const config = loadConfigFile(file);
  assert.equal(config.registrations, [{ id: 'a', token: 'ta' }, { id: 'b', token: 'tb' }]);
  assert.equal(config.settings, { url: 'ws://hub:8733', tags: ['java', 'nodejs'] });
});

test('save: the same id replaces its token and keeps its other keys', () => {
  const file = write(tempDir(), 'cla-worker.yml', 'registrations:\n  - id: a\n    token: old\n    tags: gcc\n  - id: b\n    token: tb\n');
  saveRegistration(file, { id: 'a', token: 'new' });
  assert.equal(loadConfigFile(file).registrations, [{ id: 'a', token: 'new', tags: ['gcc'] }, { id: 'b', token: 'tb' }]);
  assert.not.ok(fs.readFileSync(file, 'utf8').includes('old'));
});

test('save: a flat file with the same id stays flat', () => {
  const file = write(tempDir(), 'cla-worker.yml', 'id: a\ntoken: old\nverbose: true\n');
  saveRegistration(file, { id: 'a', token: 'new' });
  assert.is(fs.readFileSync(file, 'utf8'), 'id: a\ntoken: new\nverbose: true\n');
});

test('save: a flat file with another id becomes a registrations list', () => {
  const file = write(tempDir(), 'cla-worker.yml', '# header\nid: a # first worker\ntoken: ta\nenvs: QA\n');
  saveRegistration(file, { id: 'b', token: 'tb' });
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.startsWith('# header\n'), text);
  assert.ok(text.includes('- id: a # first worker'), text);
  const raw = parse(text);
  assert.is(raw.id, undefined);
  assert.is(raw.token, undefined);
  const config = loadConfigFile(file);
  assert.equal(config.registrations, [{ id: 'a', token: 'ta' }, { id: 'b', token: 'tb' }]);
  assert.equal(config.settings.envs, ['QA']);
});

test('save: values a YAML 1.1/1.2 reader would take for numbers are quoted', () => {
  const file = path.join(tempDir(), 'cla-worker.yml');
  saveRegistration(file, { id: '0123', token: '1e100' });
  assert.equal(parse(fs.readFileSync(file, 'utf8')).registrations, [{ id: '0123', token: '1e100' }]);
});

test('save: a file that does not load is left alone', () => {
  const file = write(tempDir(), 'cla-worker.yml', 'tags: {bad: 1}\n');
  throwsWith(() => saveRegistration(file, { id: 'a', token: 't' }), (e) => assert.ok(e.message.includes('`tags`'), e.message));
  assert.is(fs.readFileSync(file, 'utf8'), 'tags: {bad: 1}\n');
});

test('plugins: section becomes NAME.key overrides; lists join with commas; overrides: wins', () => {
  const file = parseConfigText(
    ['plugins:', '  fs:', '    roots: [/data/a, /data/b]', '    dry_run: true', 'overrides:', '  fs.dry_run: "false"'].join('\n'),
    'cla-worker.yml',
  );
  assert.equal(file.settings.overrides, { 'fs.roots': '/data/a,/data/b', 'fs.dry_run': 'false' });
  assert.throws(() => parseConfigText('plugins:\n  fs: 3\n', 'cla-worker.yml'), /plugins.*must map plugin names to their settings/);
});

test.run();
