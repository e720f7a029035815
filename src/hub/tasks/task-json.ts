/**
 * Plain values (msgpack's: nil, booleans, numbers, strings, binary, arrays, maps) as JSON text, with
 * binary kept: JSON has none, so a `Uint8Array` is written as `{"\u0000b64": "<base64>"}`, a key no JSON a
 * person writes holds. Used for the JetStream stores' records (a task row there holds its data and result
 * as msgpack bytes, so base64), and to read the JSON text that task rows held in SQLite before schema
 * step `values-as-msgpack` (issue 9: a task's data and result are msgpack bytes end to end now, see
 * `encodeValue` in src/protocol/codec.ts). `showTaskValue` shows a value to people.
 */

const BINARY_KEY = '\u0000b64';

/** Plain value -> JSON text (`undefined` becomes `null`). */
export function encodeTaskValue(value: unknown): string {
  // A replacer costs a call per value and keeps JSON.stringify off its fast path (issue 9: every task's
  // data and result are encoded on the hub's hot path); most values hold no binary.
  if (!hasBinary(value)) return JSON.stringify(value ?? null);
  return JSON.stringify(value ?? null, function (this: Record<string, unknown>, key: string, v: unknown) {
    // `this[key]` is the value before `toJSON`: a Buffer (what msgpackr decodes binary to) has one.
    const original = this[key];
    return original instanceof Uint8Array ? { [BINARY_KEY]: Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64') } : v;
  });
}

/** Whether a plain value holds a `Uint8Array` (a Buffer is one) anywhere. */
function hasBinary(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (value instanceof Uint8Array) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (hasBinary(item)) return true;
    return false;
  }
  for (const key in value) if (hasBinary((value as Record<string, unknown>)[key])) return true;
  return false;
}

/** The marker key as JSON.stringify writes it: text without it holds no binary. */
const BINARY_KEY_JSON = JSON.stringify(BINARY_KEY).slice(1, -1);

/** JSON text -> plain value, binary restored as `Uint8Array`. */
export function decodeTaskValue(text: string): unknown {
  // A reviver costs a call per value (the hub decodes every pushed task's data and every result, issue 9).
  if (!text.includes(BINARY_KEY_JSON)) return JSON.parse(text);
  return JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const encoded = (v as Record<string, unknown>)[BINARY_KEY];
      if (keys.length === 1 && typeof encoded === 'string') return new Uint8Array(Buffer.from(encoded, 'base64'));
    }
    return v;
  });
}

/** A plain value as readable JSON for people: binary shows as `<N bytes>`. */
export function showTaskValue(value: unknown, indent?: number): string {
  return JSON.stringify(
    value ?? null,
    function (this: Record<string, unknown>, key: string, v: unknown) {
      const original = this[key];
      return original instanceof Uint8Array ? `<${original.byteLength} bytes>` : v;
    },
    indent,
  );
}
