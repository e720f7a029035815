import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError, ErrorCode, InvalidArgumentError } from '../../src/errors.ts';
import {
  DEFAULT_HUB_URL,
  envVarName,
  parseWorkerOptions,
  requireCredentials,
  type ParseWorkerOptionsInput,
  type WorkerOptions,
} from '../../src/worker/options.ts';

const made: string[] = [];
test.after(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Parses in a fresh temp dir used as cwd and home, with `/etc` replaced by a missing file, so the
 * machine's own config never leaks in. `file` becomes `<cwd>/cla-worker.yml`.
 */
function parseIn(file: string | null, input: Partial<ParseWorkerOptionsInput> = {}): WorkerOptions {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-worker-options-'));
  made.push(dir);
  if (file !== null) fs.writeFileSync(path.join(dir, 'cla-worker.yml'), file);
  return parseWorkerOptions({ flags: {}, env: {}, cwd: dir, home: dir, etcPath: path.join(dir, 'no-etc.yml'), ...input });
}
function throwsWith(fn: () => unknown, code: string, ...parts: string[]): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ClaError);
    assert.is((e as ClaError).code, code);
    for (const part of parts) assert.ok((e as Error).message.includes(part), `${part} not in: ${(e as Error).message}`);
    return;
  }
  assert.unreachable('expected a throw');
}

const TWO = 'url: ws://file:1\ntags: filetag\nregistrations:\n  - id: a\n    token: ta\n  - id: b\n    token: tb\n    url: ws://b:2\n    tags: [btag]\n';

test('defaults with no flags, env or file', () => {
  const o = parseIn(null);
  assert.is(o.url, DEFAULT_HUB_URL);
  assert.is(o.id, undefined);
  assert.is(o.token, undefined);
  assert.equal(o.tags, []);
  assert.equal(o.envs, []);
  assert.is(o.verbose, false);
  assert.is(o.quiet, false);
  assert.is(o.concurrency, 1);
  assert.is(o.subscriberId, 'cla.worker');
  assert.is(o.noVerifyCerts, false);
  assert.equal(o.overrides, {});
  assert.is(o.config, undefined);
  // cwd and home are the same folder here, so it is looked at once.
  assert.equal(o.configSearched.map((p) => path.basename(p)), ['cla-worker.yml', 'no-etc.yml']);
});

test('env var names follow the option names', () => {
  assert.is(envVarName('id'), 'CLA_WORKER_ID');
  assert.is(envVarName('subscriberId'), 'CLA_WORKER_SUBSCRIBER_ID');
  assert.is(envVarName('noVerifyCerts'), 'CLA_WORKER_NO_VERIFY_CERTS');
  assert.is(envVarName('cert-key-pass'), 'CLA_WORKER_CERT_KEY_PASS');
});

test('a flat file fills id, token and settings', () => {
  const o = parseIn('id: myworker\ntoken: tok\nverbose: true\ntags: java,nodejs\nenvs: QA,PROD\npasskey: pk\n');
  assert.is(o.id, 'myworker');
  assert.is(o.token, 'tok');
  assert.is(o.verbose, true);
  assert.equal(o.tags, ['java', 'nodejs']);
  assert.equal(o.envs, ['QA', 'PROD']);
  assert.is(o.passkey, 'pk');
  assert.is(o.subscriberId, 'myworker');
  assert.is(o.configSource, 'cwd');
  assert.equal(o.configSearched, [o.config]);
});

test('the only registration in a list is used without --id', () => {
  const o = parseIn('registrations:\n  - id: only\n    token: t1\n');
  assert.is(o.id, 'only');
  assert.is(o.token, 't1');
});

test('several registrations and no id: an error listing the ids and --id', () => {
  throwsWith(() => parseIn(TWO), ErrorCode.InvalidArgument, 'a, b', '--id');
});

test('several registrations: --id or CLA_WORKER_ID picks one, its token and overrides', () => {
  const byFlag = parseIn(TWO, { flags: { id: 'b' } });
  assert.is(byFlag.token, 'tb');
  assert.is(byFlag.url, 'ws://b:2');
  assert.equal(byFlag.tags, ['btag']);
  const byEnv = parseIn(TWO, { env: { CLA_WORKER_ID: 'a' } });
  assert.is(byEnv.token, 'ta');
  assert.is(byEnv.url, 'ws://file:1'); // no override: the file's top level
  assert.equal(byEnv.tags, ['filetag']);
});

test('a top-level id picks its registration from the list', () => {
  const o = parseIn(`id: b\n${TWO}`);
  assert.is(o.id, 'b');
  assert.is(o.token, 'tb');
});

test('register (implicitRegistration: false) does not need an id with several registrations', () => {
  const o = parseIn(TWO, { implicitRegistration: false, flags: { passkey: 'pk' } });
  assert.is(o.id, undefined);
  assert.is(o.passkey, 'pk');
});

test('env vars override the file', () => {
  const o = parseIn('id: a\ntoken: ta\nurl: ws://file:1\ntags: filetag\nconcurrency: 2\nno_verify_certs: false\n', {
    env: { CLA_WORKER_TOKEN: 'envtok', CLA_WORKER_URL: 'https://env:3', CLA_WORKER_TAGS: 'java,nodejs', CLA_WORKER_CONCURRENCY: '8', CLA_WORKER_NO_VERIFY_CERTS: 'yes' },
  });
  assert.is(o.id, 'a');
  assert.is(o.token, 'envtok');
  assert.is(o.url, 'wss://env:3');
  assert.equal(o.tags, ['java', 'nodejs']);
  assert.is(o.concurrency, 8);
  assert.is(o.noVerifyCerts, true);
});

test('flags override env vars, and env vars override registrations', () => {
  const o = parseIn(TWO, {
    flags: { id: 'b', url: 'ws://flag:4', tags: 'flagtag' },
    env: { CLA_WORKER_ID: 'a', CLA_WORKER_URL: 'ws://env:3', CLA_WORKER_TAGS: 'envtag', CLA_WORKER_ENVS: 'QA' },
  });
  assert.is(o.id, 'b');
  assert.is(o.token, 'tb');
  assert.is(o.url, 'ws://flag:4');
  assert.equal(o.tags, ['flagtag']);
  assert.equal(o.envs, ['QA']);
});

test('tags and envs: repeated and comma forms merge, trimmed and de-duplicated in order', () => {
  const o = parseIn(null, {
    flags: { tags: ['java, nodejs', ''], tag: ['gcc', 'java', ' make '], envs: 'QA,,PROD', env: ['PROD', 'DEV'] },
  });
  assert.equal(o.tags, ['java', 'nodejs', 'gcc', 'make']);
  assert.equal(o.envs, ['QA', 'PROD', 'DEV']);
  const fromEnv = parseIn(null, { env: { CLA_WORKER_TAGS: 'a, b', CLA_WORKER_TAG: 'c' } });
  assert.equal(fromEnv.tags, ['a', 'b', 'c']);
});

test('booleans from env accept true/false/1/0/yes/no and refuse the rest', () => {
  for (const [text, value] of [['true', true], ['1', true], ['YES', true], ['false', false], ['0', false], ['no', false]] as const) {
    assert.is(parseIn(null, { env: { CLA_WORKER_NO_VERIFY_CERTS: text } }).noVerifyCerts, value, text);
  }
  throwsWith(
    () => parseIn(null, { env: { CLA_WORKER_VERBOSE: 'maybe' } }),
    ErrorCode.InvalidArgument,
    'Expected `CLA_WORKER_VERBOSE` to be true or false',
    '`maybe` (string)',
  );
});

test("commander's --no-verify-certs (verifyCerts: false) and -vv counts", () => {
  const o = parseIn(null, { flags: { verifyCerts: false, verbose: 2 } });
  assert.is(o.noVerifyCerts, true);
  assert.is(o.verbose, true);
  assert.is(parseIn(null, { flags: { verifyCerts: true } }).noVerifyCerts, false);
});

test('verbose and quiet: the higher source wins, both in one source is an error', () => {
  const o = parseIn('verbose: true\n', { flags: { quiet: true } });
  assert.is(o.quiet, true);
  assert.is(o.verbose, false);
  const p = parseIn('quiet: true\n', { env: { CLA_WORKER_VERBOSE: '1' } });
  assert.is(p.verbose, true);
  assert.is(p.quiet, false);
  throwsWith(() => parseIn(null, { flags: { verbose: true, quiet: true } }), ErrorCode.InvalidArgument, '`verbose` and `quiet`');
});

test('url: http(s) becomes ws(s); anything else is refused with the style message', () => {
  assert.is(parseIn(null, { flags: { url: 'http://hub:8733/ws' } }).url, 'ws://hub:8733/ws');
  assert.is(parseIn(null, { flags: { url: 'wss://hub' } }).url, 'wss://hub');
  throwsWith(
    () => parseIn(null, { flags: { url: 'ftp://hub' } }),
    ErrorCode.InvalidArgument,
    'Expected `url` to be a ws://, wss://, http:// or https:// URL, got `ftp://hub` (string)',
  );
  throwsWith(() => parseIn(null, { env: { CLA_WORKER_URL: 'hub:8733' } }), ErrorCode.InvalidArgument, '`CLA_WORKER_URL`');
});

test('several hub URLs: repeated --url, a comma list in the variable, a list in the file', () => {
  const flags = parseIn(null, { flags: { url: ['ws://a:1', 'https://b:2'] } });
  assert.equal(flags.urls, ['ws://a:1', 'wss://b:2']);
  assert.is(flags.url, 'ws://a:1');
  assert.equal(parseIn(null, { env: { CLA_WORKER_URL: 'ws://a:1, ws://b:2' } }).urls, ['ws://a:1', 'ws://b:2']);
  assert.equal(parseIn('url: [ws://a:1, http://b:2]\n').urls, ['ws://a:1', 'ws://b:2']);
  assert.equal(parseIn('id: x\ntoken: t\nregistrations:\n  - id: r\n    token: t\n    url:\n      - ws://r:1\n      - ws://r:2\n', { flags: { id: 'r' } }).urls, ['ws://r:1', 'ws://r:2']);
  assert.equal(parseIn('url: ws://one:1\n').urls, ['ws://one:1']);
  assert.equal(parseIn(null).urls, [DEFAULT_HUB_URL]);
  throwsWith(() => parseIn(null, { flags: { url: ['ws://a:1', 'ftp://b'] } }), ErrorCode.InvalidArgument, 'got `ftp://b` (string)');
  throwsWith(() => parseIn('url: [ws://a:1, ftp://b]\n'), ErrorCode.InvalidArgument, '`url[1]` must be a ws://');
  throwsWith(() => parseIn(null, { flags: { url: ['ws://a:1'], resotocoreUri: 'ws://b:1' } }), ErrorCode.InvalidArgument, '`url` and `resotocoreUri`');
});

test('concurrency must be a positive integer', () => {
  assert.is(parseIn(null, { flags: { concurrency: '3' } }).concurrency, 3);
  throwsWith(() => parseIn(null, { flags: { concurrency: 0 } }), ErrorCode.InvalidArgument, 'Expected `concurrency` to be a positive integer, got `0` (number)');
  throwsWith(() => parseIn(null, { flags: { concurrency: '1.5' } }), ErrorCode.InvalidArgument, 'got `1.5` (string)');
  throwsWith(() => parseIn(null, { env: { CLA_WORKER_CONCURRENCY: '-2' } }), ErrorCode.InvalidArgument, '`CLA_WORKER_CONCURRENCY`');
});

test('overrides: key=value from file, env and flags, merged key by key', () => {
  const o = parseIn('overrides:\n  a: file\n  f: file\n', {
    env: { CLA_WORKER_OVERRIDE: 'a=env,e=x,y' },
    flags: { override: ['a=flag', 'b.c=p=q'] },
  });
  assert.equal(o.overrides, { f: 'file', a: 'flag', e: 'x,y', 'b.c': 'p=q' });
  throwsWith(() => parseIn(null, { flags: { override: ['novalue'] } }), ErrorCode.InvalidArgument, 'Expected `override` to be key=value', '`novalue`');
  throwsWith(() => parseIn(null, { flags: { override: '=x' } }), ErrorCode.InvalidArgument, '`override`');
});

test('cert options: a key needs a cert, a passphrase needs a key', () => {
  const o = parseIn(null, { flags: { cert: 'c.pem', certKey: 'k.pem', certKeyPass: 'pw', caCert: 'ca.pem', psk: 's', subscriberId: 'sub' } });
  assert.equal([o.cert, o.certKey, o.certKeyPass, o.caCert, o.psk, o.subscriberId], ['c.pem', 'k.pem', 'pw', 'ca.pem', 's', 'sub']);
  throwsWith(() => parseIn(null, { flags: { certKey: 'k.pem' } }), ErrorCode.InvalidArgument, '`cert`');
  throwsWith(() => parseIn(null, { env: { CLA_WORKER_CERT_KEY_PASS: 'pw' } }), ErrorCode.InvalidArgument, '`certKey`');
});

test('a flag of the wrong type is named', () => {
  throwsWith(() => parseIn(null, { flags: { id: 5 } }), ErrorCode.InvalidArgument, 'Expected `id` to be a non-empty string, got `5` (number)');
  throwsWith(() => parseIn(null, { flags: { tag: [1] } }), ErrorCode.InvalidArgument, '`tag`');
});

test('--config and CLA_WORKER_CONFIG: used when present, an error when missing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-worker-options-'));
  made.push(dir);
  const file = path.join(dir, 'custom.yml');
  fs.writeFileSync(file, 'id: c\ntoken: tc\n');
  const o = parseIn('id: cwd\ntoken: t\n', { flags: { config: file } });
  assert.is(o.id, 'c');
  assert.is(o.configSource, 'flag');
  assert.is(parseIn('id: cwd\ntoken: t\n', { env: { CLA_WORKER_CONFIG: file } }).id, 'c');
  throwsWith(() => parseIn('id: cwd\ntoken: t\n', { flags: { config: path.join(dir, 'nope.yml') } }), ErrorCode.ConfigMissing, 'nope.yml');
});

test('a bad config file value surfaces with its key', () => {
  throwsWith(() => parseIn('tags: {a: 1}\n'), ErrorCode.InvalidArgument, 'cla-worker.yml: `tags` must be a comma separated string or a list of strings');
});

test('requireCredentials: passes with id and token', () => {
  const o = parseIn(null, { flags: { id: 'w', token: 't' } });
  requireCredentials(o);
  assert.is(o.token.length, 1); // narrowed to string
});

test('requireCredentials: no id says what to do and where it looked', () => {
  const o = parseIn(null);
  throwsWith(
    () => requireCredentials(o),
    ErrorCode.ConfigMissing,
    'No worker id: pass --id ID --token TOKEN, set CLA_WORKER_ID/CLA_WORKER_TOKEN, or save a registration with `cla-worker register --save --passkey KEY`',
    o.configSearched[0]!,
    'no-etc.yml',
  );
});

test('requireCredentials: an id not in the file says the token is missing and names the file', () => {
  const o = parseIn('registrations:\n  - id: a\n    token: ta\n', { flags: { id: 'zz' } });
  assert.is(o.token, undefined);
  throwsWith(() => requireCredentials(o), ErrorCode.ConfigMissing, 'No token for worker `zz`', '--token TOKEN', 'CLA_WORKER_TOKEN', o.config!, 'no registration `zz`');
});

test('errors are InvalidArgumentError instances for bad input', () => {
  try {
    parseIn(null, { flags: { concurrency: -1 } });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, InvalidArgumentError);
  }
});

test.run();
