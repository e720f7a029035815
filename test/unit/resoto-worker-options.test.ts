// resotoworker's options (src/cli/resotoworker.ts over src/worker/options.ts): RESOTOWORKER_* before
// CLA_WORKER_*, --resotocore-uri as --url, Resoto's default subscriber id, overrides split on spaces.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { envVarName, parseWorkerOptions, splitOverrideVariable, type ParseWorkerOptionsInput } from '../../src/worker/options.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resoto-options-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const RESOTO = { envPrefixes: ['RESOTOWORKER_', 'CLA_WORKER_'], defaultSubscriberId: 'resoto.worker' };
const parse = (input: Partial<ParseWorkerOptionsInput>) =>
  parseWorkerOptions({ flags: {}, env: {}, cwd: dir, home: dir, etcPath: path.join(dir, 'none.yml'), ...RESOTO, ...input });

test('every option of the table from its RESOTOWORKER_ variable', () => {
  const o = parse({
    env: {
      RESOTOWORKER_SUBSCRIBER_ID: 'sub',
      RESOTOWORKER_PSK: 'secret',
      RESOTOWORKER_VERBOSE: 'true',
      RESOTOWORKER_RESOTOCORE_URI: 'https://hub.example:8900',
      RESOTOWORKER_OVERRIDE: 'fs.roots=/data/tmp fs.older_than=7d,fs.pattern=a b',
      RESOTOWORKER_CA_CERT: '/ca.pem',
      RESOTOWORKER_CERT: '/c.pem',
      RESOTOWORKER_CERT_KEY: '/k.pem',
      RESOTOWORKER_CERT_KEY_PASS: 'pw',
      RESOTOWORKER_NO_VERIFY_CERTS: 'true',
    },
  });
  assert.is(o.subscriberId, 'sub');
  assert.is(o.psk, 'secret');
  assert.is(o.verbose, true);
  assert.is(o.url, 'wss://hub.example:8900');
  assert.equal(o.overrides, { 'fs.roots': '/data/tmp', 'fs.older_than': '7d', 'fs.pattern': 'a b' });
  assert.equal([o.caCert, o.cert, o.certKey, o.certKeyPass, o.noVerifyCerts], ['/ca.pem', '/c.pem', '/k.pem', 'pw', true]);
  assert.is(parse({ env: { RESOTOWORKER_QUIET: '1' } }).quiet, true);
});

test('defaults: resoto.worker, the hub default URL; RESOTOWORKER_ wins over CLA_WORKER_, flags over both', () => {
  const o = parse({});
  assert.is(o.subscriberId, 'resoto.worker');
  assert.is(o.url, 'ws://127.0.0.1:8733');
  assert.is(parse({ env: { CLA_WORKER_PSK: 'cla', RESOTOWORKER_PSK: 'resoto' } }).psk, 'resoto');
  assert.is(parse({ env: { CLA_WORKER_PSK: 'cla' } }).psk, 'cla');
  assert.is(parse({ flags: { psk: 'flag' }, env: { RESOTOWORKER_PSK: 'resoto' } }).psk, 'flag');
  assert.is(parse({ flags: { quiet: true }, env: { RESOTOWORKER_VERBOSE: 'true' } }).quiet, true);
  // cla-worker keeps its own default and ignores RESOTOWORKER_*.
  const cla = parseWorkerOptions({ flags: {}, env: { RESOTOWORKER_PSK: 'x' }, cwd: dir, home: dir, etcPath: path.join(dir, 'none.yml') });
  assert.is(cla.subscriberId, 'cla.worker');
  assert.is(cla.psk, undefined);
});

test('--resotocore-uri is --url: http(s) become ws(s); two different values are refused', () => {
  assert.is(parse({ flags: { resotocoreUri: 'http://h:1' } }).url, 'ws://h:1');
  assert.is(parse({ flags: { resotocoreUri: 'http://h:1', url: 'http://h:1' } }).url, 'ws://h:1');
  try {
    parse({ flags: { resotocoreUri: 'http://h:1', url: 'ws://other:2' } });
    assert.unreachable('expected a refusal');
  } catch (error) {
    assert.instance(error, ClaError);
    assert.match((error as Error).message, /only one of `url` and `resotocoreUri`/);
  }
  try {
    parse({ env: { RESOTOWORKER_RESOTOCORE_URI: 'ftp://x' } });
    assert.unreachable('expected a refusal');
  } catch (error) {
    assert.match((error as Error).message, /RESOTOWORKER_RESOTOCORE_URI` to be a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL/);
  }
});

test('override variables split on commas or spaces before a key=', () => {
  assert.equal(splitOverrideVariable('a=1 b=2'), ['a=1', 'b=2']);
  assert.equal(splitOverrideVariable('a=1,b=2'), ['a=1', 'b=2']);
  assert.equal(splitOverrideVariable('a=x,y b=two words'), ['a=x,y', 'b=two words']);
  assert.is(envVarName('certKeyPass', 'RESOTOWORKER_'), 'RESOTOWORKER_CERT_KEY_PASS');
});

test.run();
