import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OutputTail } from '../../src/hub/output-tail.ts';

const text = (tail: OutputTail) => Buffer.from(tail.bytes() ?? new Uint8Array()).toString();

test('keeps everything under the cap', () => {
  const tail = new OutputTail(10);
  tail.push(Buffer.from('abc'));
  tail.push(Buffer.from('def'));
  assert.is(text(tail), 'abcdef');
  assert.is(tail.total, 6);
});

test('keeps only the last cap bytes, across chunk boundaries', () => {
  const tail = new OutputTail(5);
  for (const piece of ['0123', '4567', '89']) tail.push(Buffer.from(piece));
  assert.is(text(tail), '56789');
  assert.is(tail.total, 10);
});

test('a single chunk larger than the cap keeps its end', () => {
  const tail = new OutputTail(4);
  tail.push(Buffer.from('abcdefgh'));
  assert.is(text(tail), 'efgh');
});

test('no output gives null; a zero cap keeps nothing but counts', () => {
  assert.is(new OutputTail(4).bytes(), null);
  const none = new OutputTail(0);
  none.push(Buffer.from('xyz'));
  assert.is(none.total, 3);
  assert.is(none.bytes()!.length, 0);
});

test.run();
