/**
 * Turns whatever eval'd code returned into a plain msgpack value (see `isPlainValue` in
 * ../../protocol/frames.ts), the only kind a `result` frame may carry. JSON-like, with binary kept:
 *
 * - `undefined` becomes `null` (top level, array items and object properties alike);
 * - functions and symbols are dropped from objects and become `null` in arrays and at the top level;
 * - Buffer, Uint8Array, ArrayBuffer and DataView become binary; other typed arrays become arrays of numbers;
 * - Date becomes its ISO string (an invalid date `null`), RegExp its source text (`/a+/g`), BigInt its
 *   decimal string, boxed primitives their primitive;
 * - Map becomes a map keyed by `String(key)`, Set an array;
 * - Error becomes `{ name, message, stack, ...own enumerable properties, cause? }`;
 * - other objects with a `toJSON()` method are replaced by what it returns (like JSON.stringify);
 * - any other object becomes a map of its own enumerable string-keyed properties.
 *
 * A cycle, nesting deeper than {@link MAX_PLAIN_DEPTH} or an estimated encoded size above `maxBytes`
 * throws a {@link PlainValueError}. The estimate is an upper bound of the msgpack size, so a value that
 * passes always fits.
 *
 * Plain JavaScript, not TypeScript: it runs inside the eval child process (eval-runner.mjs), which starts
 * without tsx to keep an eval's start-up short. Types are in eval-plain.d.mts.
 */

/** Deepest nesting a plain value may have; the same limit as `isPlainValue` in protocol/frames.ts. */
export const MAX_PLAIN_DEPTH = 32;

/** Why a value could not be converted. */
export class PlainValueError extends Error {
  /**
   * @param {'cycle' | 'depth' | 'size'} reason
   * @param {string} message
   * @param {string} path where in the value, as `$.a[0].b`
   */
  constructor(reason, message, path) {
    super(message);
    this.name = 'PlainValueError';
    this.reason = reason;
    this.path = path;
  }
}

const OMIT = Symbol('omit');
// Upper bounds of msgpack's overhead: a str/bin/array/map header is at most 5 bytes, a number 9.
const HEADER_BYTES = 5;
const NUMBER_BYTES = 9;

/**
 * Converts `value` to a plain value.
 * @param {unknown} value
 * @param {{ maxBytes?: number }} [options] `maxBytes`: the largest estimated msgpack size (default: no limit)
 * @returns {unknown}
 */
export function toPlainValue(value, options = {}) {
  const converter = new Converter(options.maxBytes ?? Number.POSITIVE_INFINITY);
  const out = converter.convert(value, 0);
  return out === OMIT ? null : out;
}

class Converter {
  /** @param {number} maxBytes */
  constructor(maxBytes) {
    this.maxBytes = maxBytes;
    this.bytes = 0;
    /** @type {Set<object>} objects on the way from the root to the current value (a DAG is fine, a cycle is not) */
    this.ancestors = new Set();
    /** @type {Array<string | number>} */
    this.path = [];
  }

  /** @param {unknown} value @param {number} depth @returns {unknown} */
  convert(value, depth) {
    if (typeof value === 'function' || typeof value === 'symbol') return OMIT;
    // The same rule as isPlainValue: no value, not even a scalar, deeper than the limit.
    if (depth > MAX_PLAIN_DEPTH) {
      throw new PlainValueError('depth', `The returned value is nested deeper than ${MAX_PLAIN_DEPTH} levels (at ${this.where()})`, this.where());
    }
    switch (typeof value) {
      case 'undefined':
        return this.charge(1, null);
      case 'boolean':
        return this.charge(1, value);
      case 'number':
        return this.charge(NUMBER_BYTES, value);
      case 'string':
        return this.string(value);
      case 'bigint':
        return this.string(value.toString());
      default:
        if (value === null) return this.charge(1, null);
    }
    const object = /** @type {object} */ (value);
    if (this.ancestors.has(object)) {
      throw new PlainValueError('cycle', `The returned value has a cycle: ${this.where()} refers back to one of its parents`, this.where());
    }
    this.ancestors.add(object);
    try {
      return this.object(object, depth);
    } finally {
      this.ancestors.delete(object);
    }
  }

  /** @param {object} value @param {number} depth @returns {unknown} */
  object(value, depth) {
    if (value instanceof Uint8Array) return this.binary(value);
    if (value instanceof ArrayBuffer) return this.binary(new Uint8Array(value));
    if (value instanceof DataView) return this.binary(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    if (ArrayBuffer.isView(value)) {
      const items = Array.from(/** @type {ArrayLike<number | bigint>} */ (/** @type {unknown} */ (value)));
      return this.array(items, depth);
    }
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? this.charge(1, null) : this.string(value.toISOString());
    if (value instanceof RegExp) return this.string(String(value));
    if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) {
      return this.convert(value.valueOf(), depth);
    }
    if (Array.isArray(value)) return this.array(value, depth);
    if (value instanceof Set) return this.array([...value], depth);
    if (value instanceof Map) {
      return this.map([...value].map(([key, item]) => [typeof key === 'string' ? key : String(key), item]), depth);
    }
    if (value instanceof Error) {
      /** @type {Array<[string, unknown]>} */
      const entries = [
        ['name', value.name],
        ['message', value.message],
        ['stack', value.stack],
      ];
      for (const key of Object.keys(value)) if (key !== 'name' && key !== 'message' && key !== 'stack') entries.push([key, /** @type {Record<string, unknown>} */ (value)[key]]);
      if ('cause' in value && !Object.keys(value).includes('cause')) entries.push(['cause', value.cause]);
      return this.map(entries, depth);
    }
    const toJSON = /** @type {{ toJSON?: unknown }} */ (value).toJSON;
    if (typeof toJSON === 'function') {
      const key = this.path.length === 0 ? '' : String(this.path[this.path.length - 1]);
      return this.convert(toJSON.call(value, key), depth);
    }
    return this.map(
      Object.keys(value).map((key) => [key, /** @type {Record<string, unknown>} */ (value)[key]]),
      depth,
    );
  }

  /** @param {ArrayLike<unknown>} items @param {number} depth */
  array(items, depth) {
    this.charge(HEADER_BYTES);
    const out = new Array(items.length);
    for (let index = 0; index < items.length; index++) {
      this.path.push(index);
      const item = this.convert(items[index], depth + 1);
      this.path.pop();
      out[index] = item === OMIT ? this.charge(1, null) : item;
    }
    return out;
  }

  /** @param {Array<[string, unknown]>} entries @param {number} depth */
  map(entries, depth) {
    this.charge(HEADER_BYTES);
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const [key, item] of entries) {
      this.path.push(key);
      const converted = this.convert(item, depth + 1);
      this.path.pop();
      if (converted === OMIT) continue;
      this.charge(HEADER_BYTES + Buffer.byteLength(key, 'utf8'));
      // defineProperty, not assignment: a `__proto__` key must stay a key, not replace the prototype.
      Object.defineProperty(out, key, { value: converted, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  /** @param {string} value */
  string(value) {
    return this.charge(HEADER_BYTES + Buffer.byteLength(value, 'utf8'), value);
  }

  /** @param {Uint8Array} value */
  binary(value) {
    this.charge(HEADER_BYTES + value.byteLength);
    // A copy that owns exactly its bytes (a Buffer may be a view into a larger pooled ArrayBuffer).
    return new Uint8Array(value);
  }

  /**
   * Adds `bytes` to the estimate, throwing when it passes the limit; returns `result`.
   * @template T
   * @param {number} bytes
   * @param {T} [result]
   * @returns {T}
   */
  charge(bytes, result) {
    this.bytes += bytes;
    if (this.bytes > this.maxBytes) {
      throw new PlainValueError('size', `The returned value is too large: more than ${this.maxBytes} bytes encoded (at ${this.where()})`, this.where());
    }
    return /** @type {T} */ (result);
  }

  where() {
    return '$' + this.path.map((part) => (typeof part === 'number' ? `[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`)).join('');
  }
}
