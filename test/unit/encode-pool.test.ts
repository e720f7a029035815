// The chunk encode pool (src/transport/encode-pool.ts, issue 13): chunk frames go into reused buffers,
// and nothing encoded afterwards lands in a pooled buffer (msgpackr keeps one target buffer for every
// packer), so a buffer given back and overwritten never corrupts a frame still waiting in a socket.
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.ts';
import { frame } from '../../src/protocol/frames.ts';
import { EncodePool } from '../../src/transport/encode-pool.ts';
import { FrameChannel, type ByteSocket } from '../../src/transport/frame-channel.ts';

const test = suite('encode pool');
const chunk = (seq: number, bytes: number) => frame('chunk', { re: 'job-1', seq, data: randomBytes(bytes) });

test('a large chunk is encoded into a pooled buffer and decodes to the same frame', () => {
  const pool = new EncodePool();
  const f = chunk(3, 992 * 1024);
  const pooled = pool.encode(f)!;
  assert.ok(pooled, 'a 992 KiB chunk uses the pool');
  assert.is(pooled.bytes.buffer.byteLength, pool.bufferBytes);
  const back = decodeFrame(pooled.bytes);
  assert.equal(back.t === 'chunk' && Buffer.compare(back.data, f.data), 0);
  pooled.release();
});

test('a released buffer is reused; one still held is not', () => {
  const pool = new EncodePool();
  const first = pool.encode(chunk(0, 512 * 1024))!;
  const second = pool.encode(chunk(1, 512 * 1024))!;
  assert.is.not(second.bytes.buffer, first.bytes.buffer);
  first.release();
  first.release(); // twice is harmless
  const third = pool.encode(chunk(2, 512 * 1024))!;
  assert.is(third.bytes.buffer, first.bytes.buffer);
  const fourth = pool.encode(chunk(3, 512 * 1024))!;
  assert.is.not(fourth.bytes.buffer, first.bytes.buffer, 'a buffer is handed out once until released');
});

test('frames encoded after a pooled chunk survive the pooled buffer being overwritten', () => {
  const pool = new EncodePool();
  const pooled = pool.encode(chunk(0, 256 * 1024))!;
  const credit = encodeFrame(frame('credit', { re: 'job-1', bytes: 4096 }));
  const small = encodeFrame(chunk(1, 1000));
  assert.is.not(credit.buffer, pooled.bytes.buffer);
  assert.is.not(small.buffer, pooled.bytes.buffer);
  pooled.release();
  new Uint8Array(pooled.bytes.buffer).fill(0xff);
  assert.equal(decodeFrame(credit), frame('credit', { re: 'job-1', bytes: 4096 }));
  assert.is(decodeFrame(small).t, 'chunk');
});

test('small chunks, oversized chunks and other frames are left to the usual encoder', () => {
  const pool = new EncodePool(256 * 1024);
  assert.is(pool.encode(chunk(0, 1000)), undefined);
  assert.is(pool.encode(chunk(0, 300 * 1024)), undefined);
  assert.is(pool.encode(frame('credit', { re: 'job-1', bytes: 1 })), undefined);
});

/** A socket that holds each write until `flush()`, as a slow ws socket holds its queue. */
function heldSocket(): ByteSocket & { sent: Uint8Array[]; flush(): void } {
  const pending: Array<() => void> = [];
  return {
    sent: [],
    send(bytes, done) {
      this.sent.push(bytes);
      pending.push(() => done());
    },
    flush: () => pending.splice(0).forEach((done) => done()),
    close: () => undefined,
    terminate: () => undefined,
    bufferedAmount: () => 0,
  };
}

test('a posted chunk (a worker\'s fetch) goes out in a pooled buffer, given back once the socket wrote it', () => {
  const pool = new EncodePool();
  const socket = heldSocket();
  const channel = new FrameChannel(socket, { id: 'c1', remote: 'test', encodePool: pool });
  const f = chunk(0, 992 * 1024);
  channel.post(f);
  const bytes = socket.sent[0]!;
  assert.is(bytes.buffer.byteLength, pool.bufferBytes, 'encoded into a pooled buffer, not into fresh msgpackr memory');
  const back = decodeFrame(bytes);
  assert.equal(back.t === 'chunk' && Buffer.compare(back.data, f.data), 0);
  const held = pool.encode(chunk(1, 992 * 1024))!;
  assert.is.not(held.bytes.buffer, bytes.buffer, 'not handed out again while the socket holds it');
  socket.flush();
  assert.is(pool.encode(chunk(2, 992 * 1024))!.bytes.buffer, bytes.buffer, 'given back after the write');
});

test.run();
