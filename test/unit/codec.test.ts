import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFrame, decodeValue, encodeFrame, encodeValue } from '../../src/protocol/codec.ts';
import { frame } from '../../src/protocol/frames.ts';
import { FrameError } from '../../src/errors.ts';

test('output frame has stable golden bytes', () => {
  const bytes = encodeFrame(frame('output', { re: 'j1', seq: 0, stream: 'stdout', data: Buffer.from('hi\n') }));
  assert.is(
    Buffer.from(bytes).toString('hex'),
    'de0006a17603a174a66f7574707574a27265a26a31a373657100a673747265616da67374646f7574a464617461c40368690a',
  );
});

test('task data and results are msgpack bytes inside a bin (protocol v3): encoded once, forwarded as they are', () => {
  const data = encodeValue({ n: 1 });
  assert.is(Buffer.from(data).toString('hex'), 'de0001a16e01');
  const push = encodeFrame(frame('task_push', { id: 't', name: 'n', attrs: {}, data, lease: 'l', ttlMs: 1 }));
  // The data field is a bin 8 (c4) of 6 bytes holding the value's msgpack, not the map itself.
  assert.ok(Buffer.from(push).toString('hex').includes('a464617461c406de0001a16e01'));
  const decoded = decodeFrame(push);
  assert.ok(decoded.t === 'task_push' && decoded.data instanceof Uint8Array);
  assert.equal(decodeValue((decoded as { data: Uint8Array }).data), { n: 1 });
  // A value in place of the bytes is refused (what a version 2 peer would send, were its \`v\` right).
  assert.throws(() => decodeFrame(encodeFrame({ ...frame('task_done', { re: 't', lease: 'l', result: data }), result: { n: 1 } } as never)), /Invalid `task_done` frame: field `result`: Expected binary data/);
  assert.throws(() => decodeValue(Buffer.from([0x92, 0x01])), /Value is not valid msgpack \(2 bytes\)/);
});

test('a frame of protocol version 2 (data and result as values) is refused, saying to upgrade the older side', () => {
  const old = encodeFrame({ ...frame('task_push', { id: 't', name: 'n', attrs: {}, data: encodeValue(1), lease: 'l', ttlMs: 1 }), v: 2, data: { n: 1 } } as never);
  assert.throws(
    () => decodeFrame(old),
    (error: unknown) =>
      error instanceof FrameError &&
      error.code === 'PROTOCOL_VERSION' &&
      error.message === 'Frame has protocol version 2; this side speaks version 3. Upgrade the older side.',
  );
});

test.run();
