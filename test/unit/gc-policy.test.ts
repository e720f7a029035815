// The heap growth policy of transfers (src/gc-policy.ts, issue 13): V8's growing factor is raised while at
// least one transfer runs on a small heap, and put back to V8's own when the last one ends, whatever order
// they end in; a large heap is left alone; the hub and the worker give their holds back.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SMALL_HEAP_BYTES, TRANSFER_HEAP_GROWING_PERCENT, TransferHeapGrowth, type HeapFlags } from '../../src/gc-policy.ts';

const test = suite('gc policy');

function fakeFlags(usedHeapBytes: number): HeapFlags & { set: string[] } {
  const set: string[] = [];
  return { set, usedHeapBytes: () => usedHeapBytes, setFlags: (flags) => void set.push(flags) };
}

test('overlapping transfers on a small heap raise the factor once and restore it after the last', () => {
  const flags = fakeFlags(20 * 1024 * 1024);
  const policy = new TransferHeapGrowth(flags);
  const first = policy.hold();
  const second = policy.hold();
  assert.equal(flags.set, [`--heap-growing-percent=${TRANSFER_HEAP_GROWING_PERCENT}`]);
  first();
  first(); // a second call ends nothing more
  assert.is(policy.active, 1);
  assert.equal(flags.set.length, 1, 'still raised while the second transfer runs');
  second();
  assert.is(policy.active, 0);
  assert.equal(flags.set, [`--heap-growing-percent=${TRANSFER_HEAP_GROWING_PERCENT}`, '--heap-growing-percent=0']);
  // A later transfer raises it again.
  policy.hold()();
  assert.is(flags.set.length, 4);
});

test('a large heap keeps V8 growth: nothing is set or restored', () => {
  const flags = fakeFlags(SMALL_HEAP_BYTES);
  const policy = new TransferHeapGrowth(flags);
  const release = policy.hold();
  assert.is(policy.active, 1);
  release();
  assert.is(policy.active, 0);
  assert.equal(flags.set, []);
});

test('the real policy sets V8 flags V8 accepts', () => {
  const policy = new TransferHeapGrowth();
  const release = policy.hold();
  release();
  assert.is(policy.active, 0);
});

test.run();
