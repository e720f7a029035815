/**
 * Issue 9's hot path in the codec and the channel: a frame is validated by its own type's schema
 * (still whole), the frames of one turn reach the socket inside one cork/uncork, and a broadcast frame
 * encoded once is the same bytes as one encoded per connection.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFrame, encodeFrame, encodeOnce, encodeValue } from '../../src/protocol/codec.ts';
import { FrameError } from '../../src/errors.ts';
import { frame, type Frame } from '../../src/protocol/frames.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/version.ts';
import { FrameChannel, type ByteSocket } from '../../src/transport/frame-channel.ts';
import { SendBudget } from '../../src/transport/send-gate.ts';
import { CloseCode } from '../../src/protocol/version.ts';

function refusal(value: unknown): FrameError {
  try {
    decodeFrame(encodeFrame(value as Frame));
  } catch (error) {
    assert.instance(error, FrameError);
    return error as FrameError;
  }
  throw new Error('expected the frame to be refused');
}

test('a hot frame is validated whole by its own schema: a bad field is named', () => {
  const error = refusal({ v: PROTOCOL_VERSION, t: 'task_done', re: 't1', lease: '', result: 1 });
  assert.is(error.data?.field, 'lease');
  assert.is(error.data?.type, 'task_done');
  assert.is(error.data?.re, 't1');
  const extension = refusal({ v: PROTOCOL_VERSION, t: 'task_push', id: 't1', name: 'echo', attrs: {}, data: new Date(0), lease: 'l', ttlMs: 1000 });
  assert.is(extension.data?.field, 'data');
});

test('an unknown frame type is still refused, naming the type field', () => {
  const error = refusal({ v: PROTOCOL_VERSION, t: 'no_such_frame', re: 'x' });
  assert.is(error.data?.field, 't');
  assert.is(error.data?.type, 'no_such_frame');
});

test('valid hot frames decode to the same value', () => {
  const push = frame('task_push', { id: 't1', name: 'echo', attrs: { a: 'b' }, data: encodeValue({ n: 1, s: 'x' }), lease: 'l1', ttlMs: 30_000 });
  assert.equal(decodeFrame(encodeFrame(push)), push);
  const done = frame('task_done', { re: 't1', lease: 'l1', result: encodeValue([1, 'two', null]) });
  assert.equal(decodeFrame(encodeFrame(done)), done);
});

/** A socket that records what the channel does to it, in order. */
class RecordingSocket implements ByteSocket {
  readonly log: string[] = [];
  terminated = false;
  send(bytes: Uint8Array, done: (error?: Error) => void): void {
    this.log.push(`send ${bytes.length}`);
    queueMicrotask(() => done());
  }
  cork(): void {
    this.log.push('cork');
  }
  uncork(): void {
    this.log.push('uncork');
  }
  close(code: number): void {
    this.log.push(`close ${code}`);
  }
  terminate(): void {
    this.terminated = true;
    this.log.push('terminate');
  }
  bufferedAmount(): number {
    return 0;
  }
}

const tick = () => new Promise<void>((resolve) => process.nextTick(resolve));

test('the frames of one turn go out between one cork and one uncork', async () => {
  const socket = new RecordingSocket();
  const channel = new FrameChannel(socket, { id: 't', remote: 'test' });
  const a = channel.send(frame('task_revoked', { re: 't1', reason: 'x' }));
  channel.post(frame('task_revoked', { re: 't2', reason: 'y' }));
  channel.postEncoded(encodeOnce(frame('enable', {})));
  assert.equal(socket.log.filter((entry) => entry === 'cork' || entry === 'uncork'), ['cork']);
  await tick();
  await a;
  assert.is(socket.log[0], 'cork');
  assert.is(socket.log.filter((entry) => entry.startsWith('send')).length, 3);
  assert.is(socket.log.indexOf('uncork'), 4);
  // The next turn corks again.
  channel.post(frame('enable', {}));
  await tick();
  assert.equal(socket.log.slice(5), ['cork', `send ${encodeFrame(frame('enable', {})).length}`, 'uncork']);
});

test('terminate hands the corked frames of the turn to the socket first', () => {
  const socket = new RecordingSocket();
  const channel = new FrameChannel(socket, { id: 't', remote: 'test' });
  channel.post(frame('enable', {}));
  channel.terminate();
  assert.equal(socket.log.slice(-2), ['uncork', 'terminate']);
});

test('a frame encoded once is the bytes of the frame encoded alone', () => {
  const f = frame('action', { id: 'm1', action: 'collect', run: 'r1', step: 's', data: { a: [1, 2] } });
  assert.equal(Buffer.from(encodeOnce(f).bytes), Buffer.from(encodeFrame(f)));
});

test('post on a closed channel and an oversized post are dropped without throwing; the send-queue bound still closes with 4009', async () => {
  const socket = new RecordingSocket();
  const channel = new FrameChannel(socket, { id: 't', remote: 'test', maxFrameBytes: 64, sendLimits: { maxQueuedBytes: 1, budget: new SendBudget(1 << 30) } });
  channel.post(frame('error', { error: { code: 'X', message: 'y'.repeat(200), retryable: false } }));
  assert.not.ok(socket.log.some((entry) => entry.startsWith('send')));
  // One frame is over 4 x maxQueuedBytes at once (512 bytes of bookkeeping each): the gate gives up.
  channel.post(frame('enable', {}));
  assert.ok(socket.log.includes(`close ${CloseCode.SendOverflow}`));
  channel.post(frame('enable', {}));
  await tick();
});

test.run();
