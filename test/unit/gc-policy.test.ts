// The heap growth policy of transfers (src/gc-policy.ts, issue 13): V8's growing factor is raised while at
// least one transfer runs on a small heap, and put back to V8's own when the last one ends, whatever order
// they end in; a large heap is left alone; the hub and the worker give their holds back.
import v8 from 'node:v8';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SMALL_HEAP_BYTES, TRANSFER_ARRAY_BUFFER_CAP_BYTES, TRANSFER_HEAP_GROWING_PERCENT, TransferHeapGrowth, type HeapFlags } from '../../src/gc-policy.ts';

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

test('ArrayBuffers over the cap: a young collection first, a full one if still well over after it', () => {
  const MiB = 1024 * 1024;
  let bytes = 0;
  const collected: string[] = [];
  const flags: HeapFlags = { ...fakeFlags(20 * MiB), arrayBufferBytes: () => bytes, collect: (type) => void collected.push(type) };
  const policy = new TransferHeapGrowth(flags);
  const release = policy.hold();
  assert.ok(policy.watching, 'a raised hold checks the cap');
  bytes = TRANSFER_ARRAY_BUFFER_CAP_BYTES;
  policy.checkArrayBuffers();
  assert.equal(collected, [], 'at the cap: nothing');
  bytes = TRANSFER_ARRAY_BUFFER_CAP_BYTES + 1;
  policy.checkArrayBuffers();
  assert.equal(collected, ['minor']);
  policy.checkArrayBuffers(); // still over, but by less than the margin: the young generation again
  assert.equal(collected, ['minor', 'minor']);
  bytes = TRANSFER_ARRAY_BUFFER_CAP_BYTES + 9 * MiB;
  policy.checkArrayBuffers(); // well over after a young collection: old dead buffers
  assert.equal(collected, ['minor', 'minor', 'major']);
  policy.checkArrayBuffers(); // after a full one, a young one first again
  assert.equal(collected, ['minor', 'minor', 'major', 'minor']);
  bytes = 0;
  policy.checkArrayBuffers();
  bytes = TRANSFER_ARRAY_BUFFER_CAP_BYTES + 9 * MiB;
  policy.checkArrayBuffers(); // back under in between: a young one first
  assert.equal(collected, ['minor', 'minor', 'major', 'minor', 'minor']);
  assert.equal(policy.collections, { minor: 4, major: 1 });
  // A second transfer gets one more window of room.
  const second = policy.hold();
  bytes = TRANSFER_ARRAY_BUFFER_CAP_BYTES + 8 * MiB;
  policy.checkArrayBuffers();
  assert.is(collected.length, 5, 'within the cap of two transfers');
  second();
  release();
  assert.not.ok(policy.watching, 'no check left once the last transfer ended');
});

test('with no hold the cap is one transfer\'s, never less', () => {
  let bytes = TRANSFER_ARRAY_BUFFER_CAP_BYTES;
  const collected: string[] = [];
  const policy = new TransferHeapGrowth({ ...fakeFlags(0), arrayBufferBytes: () => bytes, collect: (type) => void collected.push(type) });
  assert.is(policy.active, 0);
  policy.checkArrayBuffers();
  assert.equal(collected, [], 'at the one-transfer cap: nothing');
  bytes += 1;
  policy.checkArrayBuffers();
  assert.equal(collected, ['minor']);
});

test('the real policy collects through V8 (buffers held live: young, then full)', () => {
  const policy = new TransferHeapGrowth();
  const held = Array.from({ length: 40 }, () => new ArrayBuffer(1024 * 1024));
  policy.checkArrayBuffers();
  policy.checkArrayBuffers();
  assert.equal(policy.collections, { minor: 1, major: 1 });
  assert.is(held.length, 40);
});

test('the real policy sets V8 flags V8 accepts', () => {
  const policy = new TransferHeapGrowth();
  // In the whole suite this process's heap can be past the small-heap line: then nothing is raised or watched.
  const small = v8.getHeapStatistics().used_heap_size < SMALL_HEAP_BYTES;
  const release = policy.hold();
  assert.is(policy.watching, small, 'the cap is watched exactly when the factor was raised (a small heap)');
  release();
  assert.is(policy.active, 0);
  assert.not.ok(policy.watching);
});

test.run();
