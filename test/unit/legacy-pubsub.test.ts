/**
 * The pieces of the legacy pubsub (issue 14) alone: the query string both Clarive clients send, legacy
 * worker ids, option ranges, and the bounded SSE outbox with its Last-Event-ID replay.
 */
import type http from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { legacyAgent, legacyGeneration, parseLegacyOptions, parseLegacyQuery } from '../../src/hub/legacy/legacy-options.ts';
import { SseOutbox } from '../../src/hub/legacy/sse-outbox.ts';
import { LEGACY_ID_PATTERN } from '../../src/hub/registry.ts';

test('the 1.x query (URLSearchParams of arrays) and the 2.x one read the same', () => {
  const v1 = parseLegacyQuery(new URLSearchParams({ id: 'joe@h/abc', token: 't', origin: 'joe@h#42', oid: '', version: '1.4.0', tags: 'a,b,a', envs: String(['QA', 'PROD']) }));
  assert.equal(v1.tags, ['a', 'b']);
  assert.equal(v1.envs, ['QA', 'PROD']);
  assert.equal(legacyAgent(v1), { version: '1.4.0', pid: 42, user: 'joe', host: 'h', platform: 'legacy-pubsub 1.x' });
  const v2 = parseLegacyQuery(new URLSearchParams('id=joe%40h&oid=&origin=joe%40h%2F7&tags=&token=t&version=2.1.0'));
  assert.equal(v2.tags, []);
  assert.equal(v2.envs, []);
  assert.is(legacyGeneration(v2.version), 2);
  assert.is(legacyGeneration(''), 1);
  assert.equal(legacyAgent(v2).pid, 7);
});

test('legacy ids: user@host/shortid, user@host or a name; nothing else', () => {
  for (const ok of ['joe@build1/Xk3_a9', 'joe@build1.example.com', 'plain-id']) assert.ok(LEGACY_ID_PATTERN.test(ok), ok);
  for (const bad of ['', 'a@b@c', 'a/b', 'joe@h/x/y', 'has space@h', '@h', 'joe@']) assert.not.ok(LEGACY_ID_PATTERN.test(bad), bad);
});

test('options: defaults and ranges', () => {
  assert.is(parseLegacyOptions().reconnectGraceMs, 30_000);
  assert.throws(() => parseLegacyOptions({ maxQueuedMessages: 0 }), /Expected `maxQueuedMessages` to be a positive integer, got `0` \(number\)/);
  assert.throws(() => parseLegacyOptions({ spoolDir: '' }), /spoolDir/);
});

/** A response that keeps what is written (a unit-test fake of http.ServerResponse). */
function fakeResponse(): http.ServerResponse & { text: string } {
  const res = {
    text: '',
    writableEnded: false,
    destroyed: false,
    writeHead() {
      return res;
    },
    write(chunk: string) {
      res.text += chunk;
      return true;
    },
    end() {
      res.writableEnded = true;
    },
  };
  return res as unknown as http.ServerResponse & { text: string };
}

test('outbox: bounded, acked commands are not replayed, a reconnect replays after Last-Event-ID', () => {
  const outbox = new SseOutbox('e1', 3, 10_000);
  const first = fakeResponse();
  outbox.attach(first, undefined);
  const a = outbox.nextOid();
  outbox.push(a, 'worker.exec', { cmd: 'ls' });
  assert.match(first.text, /id: e1-1\ndata: \{"oid":"e1-1","events":\{"worker.exec":\[\{"cmd":"ls"\}\]\}\}\n\n/);
  const b = outbox.nextOid();
  outbox.push(b, 'worker.eval', { code: '1', stash: {} });
  const c = outbox.nextOid();
  outbox.push(c, 'worker.ready', {});
  assert.throws(() => outbox.push(outbox.nextOid(), 'worker.ready', {}), (error: unknown) => error instanceof ClaError && error.code === 'WORKER_BUSY');
  outbox.ack(a);
  const second = fakeResponse();
  outbox.attach(second, outbox.seqOf(b));
  assert.ok(first.writableEnded, 'the older stream is ended');
  assert.ok(second.text.startsWith('event: oid\ndata: e1-2\n\n'));
  assert.not.ok(second.text.includes('e1-1"'), 'acked: not replayed');
  assert.not.ok(second.text.includes('"e1-2"'), 'seen: not replayed');
  assert.ok(second.text.includes('"e1-3"'), 'missed: replayed');
  assert.is(outbox.seqOf('other-3'), undefined, 'ids of another session are not ours');
  const fresh = fakeResponse();
  outbox.attach(fresh, undefined);
  assert.ok(fresh.text.includes('"e1-2"') && fresh.text.includes('"e1-3"'), 'without an id, every unacknowledged command');
});

test.run();
