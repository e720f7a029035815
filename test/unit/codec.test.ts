import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.ts';
import { frame } from '../../src/protocol/frames.ts';

test('output frame has stable golden bytes', () => {
  const bytes = encodeFrame(frame('output', { re: 'j1', seq: 0, stream: 'stdout', data: Buffer.from('hi\n') }));
  assert.is(
    Buffer.from(bytes).toString('hex'),
    'de0006a17602a174a66f7574707574a27265a26a31a373657100a673747265616da67374646f7574a464617461c40368690a',
  );
});

test.run();
