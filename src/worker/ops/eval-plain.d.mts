/** Types of eval-plain.mjs (plain JavaScript so the eval child starts without tsx). */

/** Deepest nesting a plain value may have; the same limit as `isPlainValue` in protocol/frames.ts. */
export declare const MAX_PLAIN_DEPTH: number;

/** Why a value could not be converted to a plain value. */
export declare class PlainValueError extends Error {
  constructor(reason: 'cycle' | 'depth' | 'size', message: string, path: string);
  readonly reason: 'cycle' | 'depth' | 'size';
  /** Where in the value, as `$.a[0].b`. */
  readonly path: string;
}

/** Options of {@link toPlainValue}. */
export interface ToPlainValueOptions {
  /** Largest estimated msgpack size of the result, in bytes. @default no limit */
  maxBytes?: number;
}

/**
 * Converts what eval'd code returned into a plain msgpack value (JSON-like, binary kept); see the rules
 * at the top of eval-plain.mjs.
 * @throws PlainValueError on a cycle, nesting deeper than {@link MAX_PLAIN_DEPTH}, or more than `maxBytes`.
 */
export declare function toPlainValue(value: unknown, options?: ToPlainValueOptions): unknown;
