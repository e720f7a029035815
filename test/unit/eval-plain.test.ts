// The conversion of eval results to plain msgpack values (src/worker/ops/eval-plain.mjs), checked against
// the frame schema's own isPlainValue and the real codec.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame } from '../../src/protocol/codec.ts';
import { frame, isPlainValue } from '../../src/protocol/frames.ts';
import { MAX_PLAIN_DEPTH, PlainValueError, toPlainValue } from '../../src/worker/ops/eval-plain.mjs';

const plain = suite('eval-plain');

/** Converts and checks that the schema would accept the result. */
function convert(value: unknown, maxBytes?: number): unknown {
  const out = toPlainValue(value, maxBytes === undefined ? {} : { maxBytes });
  assert.ok(isPlainValue(out), `not plain: ${String(out)}`);
  return out;
}

function conversionError(value: unknown, maxBytes?: number): PlainValueError {
  try {
    toPlainValue(value, maxBytes === undefined ? {} : { maxBytes });
  } catch (error) {
    assert.instance(error, PlainValueError);
    return error as PlainValueError;
  }
  assert.unreachable('expected a PlainValueError');
  throw new Error('unreachable');
}

/** Encoded size of `value` alone: a result frame carrying it minus one carrying null (1 byte). */
function encodedBytes(value: unknown): number {
  const size = (v: unknown) => encodeFrame(frame('result', { re: 'r', value: v, durationMs: 0 })).length;
  return size(value) - size(null) + 1;
}

plain('primitives pass through; undefined is null; bigint is its decimal string', () => {
  assert.equal(convert(null), null);
  assert.equal(convert(undefined), null);
  assert.equal(convert(true), true);
  assert.equal(convert(-1.5), -1.5);
  assert.ok(Number.isNaN(convert(Number.NaN)));
  assert.equal(convert('héllo'), 'héllo');
  assert.equal(convert(2n ** 70n), '1180591620717411303424');
});

plain('functions and symbols: dropped from maps, null in arrays and at the top level', () => {
  assert.equal(convert({ a: 1, f: () => 1, s: Symbol('x'), u: undefined }), { a: 1, u: null });
  assert.equal(convert([1, () => 1, Symbol('x'), undefined]), [1, null, null, null]);
  assert.equal(convert(() => 1), null);
  // A sparse array's holes are null like undefined.
  assert.equal(convert([1, , 3]), [1, null, 3]); // eslint-disable-line no-sparse-arrays
  // Symbol-keyed properties are not enumerable string keys.
  assert.equal(convert({ [Symbol('k')]: 1, b: 2 }), { b: 2 });
});

plain('Date is its ISO string, an invalid Date null; RegExp its text; boxed primitives unboxed', () => {
  assert.equal(convert(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6))), '2026-01-02T03:04:05.006Z');
  assert.equal(convert(new Date(Number.NaN)), null);
  assert.equal(convert(/a+b/gi), '/a+b/gi');
  assert.equal(convert([new Number(1), new String('s'), new Boolean(false), Object(3n)]), [1, 's', false, '3']);
});

plain('binary: Buffer, Uint8Array, ArrayBuffer and DataView become exactly their bytes', () => {
  // A small Buffer is a view into a pooled 8 KiB ArrayBuffer: only its own bytes may come out.
  const pooled = Buffer.from('abc');
  assert.ok(pooled.buffer.byteLength > 3);
  const out = convert(pooled) as Uint8Array;
  assert.instance(out, Uint8Array);
  assert.is(out.buffer.byteLength, 3);
  assert.equal([...out], [97, 98, 99]);
  assert.equal([...(convert(new Uint8Array([1, 2])) as Uint8Array)], [1, 2]);
  assert.equal([...(convert(new Uint8Array([5, 6, 7]).buffer) as Uint8Array)], [5, 6, 7]);
  assert.equal([...(convert(new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2)) as Uint8Array)], [2, 3]);
  // Other typed arrays are numbers (a BigInt64Array strings).
  assert.equal(convert(new Float64Array([0.5, 2])), [0.5, 2]);
  assert.equal(convert(new BigInt64Array([7n])), ['7']);
});

plain('Map is a map keyed by String(key), Set an array', () => {
  assert.equal(convert(new Map<unknown, unknown>([['a', 1], [2, new Set(['x', 'y'])]])), { a: 1, '2': ['x', 'y'] });
});

plain('Error is { name, message, stack, own properties, cause }', () => {
  const error = Object.assign(new RangeError('out', { cause: new Error('inner') }), { code: 'E_OUT' });
  const out = convert(error) as Record<string, unknown>;
  assert.is(out.name, 'RangeError');
  assert.is(out.message, 'out');
  assert.match(String(out.stack), /RangeError: out/);
  assert.is(out.code, 'E_OUT');
  assert.is((out.cause as Record<string, unknown>).message, 'inner');
});

plain('toJSON() is used like JSON.stringify does; class instances are their own enumerable properties', () => {
  assert.equal(convert({ url: new URL('https://example.com/a?b=1') }), { url: 'https://example.com/a?b=1' });
  class Point {
    constructor(readonly x: number, readonly y: number) {}
    get length(): number {
      return Math.hypot(this.x, this.y);
    }
  }
  const out = convert(new Point(3, 4));
  assert.equal(out, { x: 3, y: 4 });
  assert.is(Object.getPrototypeOf(out), Object.prototype);
});

plain('a `__proto__` key stays a key and does not change the prototype', () => {
  const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as unknown;
  const out = convert(value) as Record<string, unknown>;
  assert.is(Object.getPrototypeOf(out), Object.prototype);
  assert.equal(Object.keys(out), ['__proto__', 'a']);
  assert.is((out as { polluted?: unknown }).polluted, undefined);
});

plain('a cycle is an error naming where; a shared (acyclic) reference is copied', () => {
  const a: Record<string, unknown> = { b: { c: [1] } };
  (a.b as Record<string, unknown>).self = a;
  const error = conversionError(a);
  assert.is(error.reason, 'cycle');
  assert.is(error.path, '$.b.self');
  assert.match(error.message, /cycle/);
  const shared = { n: 1 };
  assert.equal(convert({ x: shared, y: [shared, shared] }), { x: { n: 1 }, y: [{ n: 1 }, { n: 1 }] });
  const arrayCycle: unknown[] = [];
  arrayCycle.push({ back: arrayCycle });
  assert.is(conversionError(arrayCycle).path, '$[0].back');
});

plain(`nesting: ${MAX_PLAIN_DEPTH} levels pass isPlainValue, one more is an error`, () => {
  const nest = (levels: number): unknown => {
    let value: unknown = 'leaf';
    for (let i = 0; i < levels; i++) value = [value];
    return value;
  };
  assert.ok(isPlainValue(convert(nest(MAX_PLAIN_DEPTH))));
  assert.not.ok(isPlainValue(nest(MAX_PLAIN_DEPTH + 1)));
  const error = conversionError(nest(MAX_PLAIN_DEPTH + 1));
  assert.is(error.reason, 'depth');
  assert.match(error.message, /nested deeper than 32 levels/);
});

plain('size: the estimate is an upper bound of the msgpack size, and the limit is enforced', () => {
  const samples: unknown[] = [
    'x'.repeat(1000),
    'é😀'.repeat(300),
    { list: Array.from({ length: 200 }, (_, i) => ({ i, f: i / 3, s: `item ${i}`, ok: i % 2 === 0, n: null })) },
    new Uint8Array(5000),
    [1e300, -1, 2 ** 40, 0.1],
  ];
  for (const sample of samples) {
    const actual = encodedBytes(sample);
    // Any limit that lets the value through is at least its real size.
    for (const limit of [actual - 1, actual, actual * 2, actual * 4]) {
      let passed = true;
      try {
        toPlainValue(sample, { maxBytes: limit });
      } catch (error) {
        assert.instance(error, PlainValueError);
        passed = false;
      }
      if (passed) assert.ok(actual <= limit, `passed with ${limit} but encodes to ${actual}`);
    }
    assert.not.throws(() => toPlainValue(sample, { maxBytes: actual * 4 }));
  }
  const error = conversionError({ big: 'x'.repeat(2000) }, 1000);
  assert.is(error.reason, 'size');
  assert.match(error.message, /too large: more than 1000 bytes/);
  assert.is(error.path, '$.big');
});

plain('a throwing getter or toJSON() propagates its own error', () => {
  const value = {
    get boom(): never {
      throw new TypeError('getter failed');
    },
  };
  assert.throws(() => toPlainValue(value), (error: Error) => error instanceof TypeError && error.message === 'getter failed');
});

plain.run();
