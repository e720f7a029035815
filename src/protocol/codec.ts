/**
 * The only msgpackr import. Frames are plain msgpack maps: no records, no shared structures, no
 * extensions on encode, so each frame decodes alone with any msgpack library. Decoding is followed by
 * schema validation: msgpackr always decodes a few extension types (Date, RegExp, Error, Set), and the
 * schemas accept none of them.
 */
import { Packr } from 'msgpackr';
import { ErrorCode, FrameError } from '../errors.ts';
import { isPlainValue } from './frames-common.ts';
import { frameSchema, type Frame } from './frames.ts';
import { isValidHotFrame } from './hot-frames.ts';

/**
 * Each frame type's own schema, so a frame is validated against one object schema picked by its `t`
 * (issue 9: hot frames are dispatched on their type before validation of their body) instead of
 * through the union: half the validation cost of a `task_done`. Every frame is still validated whole.
 */
const schemaByType = new Map(frameSchema.options.map((option) => [option.shape.t.value as string, option]));
import { DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION } from './version.ts';

const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  mapsAsObjects: true,
  bundleStrings: false,
  encodeUndefinedAsNil: false,
  // Integers beyond 2^53 arrive as numbers, never as BigInt objects the schemas would refuse.
  int64AsType: 'number',
} as ConstructorParameters<typeof Packr>[0]);

/**
 * The bytes each large received `chunk` frame was decoded from (issue 13): a hub that forwards such a frame
 * unchanged (same object, its `re` already the receiver's) sends these bytes instead of encoding the frame
 * again, so a relayed chunk is neither copied into a new frame nor re-encoded. Frames are never mutated
 * after decoding, so the bytes still say what the object says; a weak map, so the bytes go with the frame.
 */
const receivedBytes = new WeakMap<Frame, Uint8Array>();
/** Chunks smaller than this are not remembered: re-encoding them costs little. */
const FORWARD_MIN_BYTES = 64 * 1024;

/** The bytes `frame` was decoded from, when it is a large received `chunk` (see `receivedBytes`). */
export function bytesAsReceived(frame: Frame): Uint8Array | undefined {
  return frame.t === 'chunk' ? receivedBytes.get(frame) : undefined;
}

/** Encodes a frame to msgpack bytes (a forwarded chunk: the bytes it came in). The frame is not validated: build frames with `frame()`. */
export function encodeFrame(frame: Frame): Uint8Array {
  return bytesAsReceived(frame) ?? packr.pack(frame);
}

/** A frame with its bytes, encoded once for many connections (a broadcast, issue 9). */
export interface EncodedFrame {
  readonly frame: Frame;
  readonly bytes: Uint8Array;
}

/** Encodes `frame` once, for {@link Transport.postEncoded} on each of many connections. */
export function encodeOnce(frame: Frame): EncodedFrame {
  return { frame, bytes: encodeFrame(frame) };
}

/**
 * Encodes a frame into `into` and returns a view of it (a new buffer when the frame does not fit), so a
 * caller can reuse a few large buffers for chunk frames (src/transport/encode-pool.ts, issue 13). msgpackr
 * keeps one target buffer for every packer: it is pointed at a fresh small one afterwards, so no later
 * frame is written into `into` while the caller still owns it.
 */
export function encodeFrameInto(frame: Frame, into: Buffer): Uint8Array {
  packr.useBuffer(into);
  try {
    return packr.pack(frame);
  } finally {
    packr.useBuffer(Buffer.allocUnsafeSlow(8192));
  }
}

/**
 * A plain value as msgpack bytes (issue 9: a task's data and result stay these bytes from where they enter
 * the hub to where they are used: stored as they are, sent in `task_push` / `task_done` as a `bin`, and
 * decoded only by the worker's handler call and by whoever shows a task). `undefined` becomes nil. The
 * value is not checked: callers check it with `isPlainValue` first.
 */
export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value ?? null);
}

/**
 * Msgpack bytes of {@link encodeValue} -> the value (binary as `Buffer`). Not validated: a value that came
 * from a peer must be checked with `isPlainValue` before application code sees it.
 * @throws FrameError when the bytes are not one msgpack value
 */
export function decodeValue(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (cause) {
    throw new FrameError(`Value is not valid msgpack (${bytes.length} bytes): ${(cause as Error).message}; it must be one msgpack value, as encodeValue writes`, {
      cause,
      data: { bytes: bytes.length },
    });
  }
}

/**
 * Why `bytes` are not the msgpack of one plain value (nil, booleans, numbers, strings, binary, arrays,
 * maps), or undefined when they are. The hub checks a worker's task result with it before storing the
 * bytes as they are (a result nobody could decode would otherwise break every reader of the task list).
 */
export function valueBytesProblem(bytes: Uint8Array): string | undefined {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (cause) {
    return `not valid msgpack (${(cause as Error).message})`;
  }
  return isPlainValue(value) ? undefined : 'msgpack, but not plain data (only nil, booleans, numbers, strings, binary, arrays and maps)';
}

/** Decodes bytes without schema validation; throws {@link FrameError} when they are not one msgpack value. */
export function decodeRaw(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (cause) {
    throw new FrameError(`Frame is not valid msgpack (${bytes.length} bytes): ${(cause as Error).message}`, {
      cause,
      data: { bytes: bytes.length },
    });
  }
}

/**
 * Decodes and validates one frame. Throws {@link FrameError} (`BAD_FRAME`, `FRAME_TOO_LARGE` or
 * `PROTOCOL_VERSION`) with a message that names the offending field.
 */
export function decodeFrame(bytes: Uint8Array, maxBytes = DEFAULT_MAX_FRAME_BYTES): Frame {
  if (bytes.length > maxBytes) {
    const error = new FrameError(`Frame of ${bytes.length} bytes exceeds the limit of ${maxBytes} bytes`, {
      data: { bytes: bytes.length, limit: maxBytes },
    });
    (error as { code: string }).code = ErrorCode.FrameTooLarge;
    throw error;
  }
  const frame = parseFrame(decodeRaw(bytes));
  if (frame.t === 'chunk' && bytes.length >= FORWARD_MIN_BYTES) receivedBytes.set(frame, bytes);
  return frame;
}

/** Validates a decoded value as a frame. */
export function parseFrame(value: unknown): Frame {
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) {
    throw new FrameError(`Frame must be a msgpack map, got ${describeDecoded(value)}`);
  }
  const record = value as Record<string, unknown>;
  if (record.v !== PROTOCOL_VERSION) {
    const error = new FrameError(
      `Frame has protocol version ${JSON.stringify(record.v)}; this side speaks version ${PROTOCOL_VERSION}. Upgrade the older side.`,
      { data: { got: typeof record.v === 'number' ? record.v : null, expected: PROTOCOL_VERSION, type: typeof record.t === 'string' ? record.t : null } },
    );
    (error as { code: string }).code = ErrorCode.ProtocolVersion;
    throw error;
  }
  const type = typeof record.t === 'string' ? record.t : '?';
  // The frames of an exec round trip, checked without zod when they are plainly valid (hot-frames.ts);
  // any doubt goes on to the schema, for its verdict and message.
  if (isValidHotFrame(type, record)) return record as unknown as Frame;
  const schema = schemaByType.get(type);
  // An unknown or missing type goes through the union, for zod's message that lists the known ones.
  const result = schema ? schema.safeParse(value) : frameSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 't';
    // The request id, when the frame had a readable one, so the sender can match the refusal.
    const re = typeof record.id === 'string' ? record.id : typeof record.re === 'string' ? record.re : undefined;
    throw new FrameError(`Invalid \`${type}\` frame: field \`${where}\`: ${issue?.message ?? 'invalid'}`, {
      data: { type, field: where, ...(re === undefined ? {} : { re }) },
    });
  }
  return result.data as Frame;
}

function describeDecoded(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return `an extension value (${value.constructor?.name ?? 'unknown'})`;
  return `a ${typeof value}`;
}
