/** Schemas shared by frames.ts and frames-bus.ts. */
import { z } from 'zod';

const MAX_PLAIN_DEPTH = 32;
/**
 * True for msgpack's plain values only: nil, booleans, numbers, strings, binary, arrays and maps with
 * string keys, at most 32 levels deep. Rejects the extension objects msgpackr always decodes (Date,
 * RegExp, Error, Set, ...), so they can never reach application code.
 */
export function isPlainValue(value: unknown, depth = 0): boolean {
  if (depth > MAX_PLAIN_DEPTH) return false;
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true;
  if (typeof value === 'number') return true;
  if (value instanceof Uint8Array) return true;
  if (Array.isArray(value)) return value.every((item) => isPlainValue(item, depth + 1));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value as Record<string, unknown>).every((item) => isPlainValue(item, depth + 1));
  }
  return false;
}

/** Any plain value (see {@link isPlainValue}). */
export const plainValueSchema = z.custom<unknown>((value) => value === undefined || isPlainValue(value), {
  message: 'Expected a plain value (nil, boolean, number, string, binary, array or map)',
});

/** A wire error, also embedded in other frames. */
export const wireErrorSchema = z.object({
  code: z.string().min(1).max(100),
  message: z.string().max(10_000),
  retryable: z.boolean(),
  data: z.record(z.string(), plainValueSchema).optional(),
});

