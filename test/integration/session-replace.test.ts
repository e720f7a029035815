/**
 * Issue 11, case 10: a hello whose replacement close reason would exceed the 123 bytes a websocket close
 * frame can carry (a long non-ASCII `agent.host`) made the hub fail half-way: the new connection was
 * refused and the old one left connected on its side but unroutable. Real sockets: two raw worker
 * connections with the same id, then a job routed to the survivor.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lastValueFrom, toArray } from 'rxjs';
import { frame } from '../../src/protocol/frames.ts';
import { CloseCode } from '../../src/protocol/version.ts';
import { closeReason, MAX_CLOSE_REASON_BYTES } from '../../src/transport/frame-channel.ts';
import { AGENT, nextFrame, rawWorker, registerWorker, startHub } from './hub-harness.ts';

// 100 characters of 3 bytes each: the reason `replaced by a new connection from tester@...` is ~340 bytes.
const LONG_HOST = 'ħ'.repeat(20) + '漢'.repeat(80);

test('closeReason cuts by UTF-8 bytes at a character boundary', () => {
  assert.is(closeReason('short'), 'short');
  for (const text of ['a'.repeat(200), '漢'.repeat(100), `x${'😀'.repeat(60)}`, 'é'.repeat(62)]) {
    const cut = closeReason(text);
    assert.ok(Buffer.byteLength(cut) <= MAX_CLOSE_REASON_BYTES, `${Buffer.byteLength(cut)} bytes`);
    assert.not.ok(cut.includes('\uFFFD'));
    assert.ok(cut.endsWith('…'));
  }
});

test('a replacement whose close reason is long leaves exactly one live, routable session', async () => {
  const h = await startHub();
  try {
    const token = await registerWorker(h, 'w1');
    const old = await rawWorker(h, 'w1', token, { ...AGENT, host: LONG_HOST });
    assert.is(old.first.t, 'welcome');
    const replacement = await rawWorker(h, 'w1', token, { ...AGENT, host: LONG_HOST });
    assert.is(replacement.first.t, 'welcome', `the new connection was refused: ${JSON.stringify(replacement.first)}`);

    const oldClose = await old.transport.closed;
    assert.is(oldClose.code, CloseCode.Replaced);
    assert.ok(oldClose.reason.startsWith('replaced by a new connection from tester@ħ'), oldClose.reason);
    assert.is(h.hub.connectedWorkers().length, 1);
    assert.ok(h.hub.session('w1')?.transport.isOpen(), 'the hub holds a live session for w1');

    // The survivor gets the next job, and its answers reach the caller.
    const exec = nextFrame(replacement.transport, 'exec');
    const events = lastValueFrom(h.hub.run({ target: { worker: 'w1' }, job: { kind: 'exec', cmd: 'echo hi' }, waitMs: 0 }).pipe(toArray()));
    const job = await exec;
    await replacement.transport.send(frame('exit', { re: job.id, code: 0, signal: null, timedOut: false, cancelled: false, durationMs: 1 }));
    const types = (await events).map((event) => event.type);
    assert.equal(types, ['dispatched', 'exit']);
    assert.ok(replacement.transport.isOpen());
    replacement.transport.close(1000, 'done');
  } finally {
    await h.close();
  }
});

test.run();
