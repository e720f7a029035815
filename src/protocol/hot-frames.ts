/**
 * Plain checks for the frames every exec round trip carries (issue 13): `run`, `exec`, `dispatched`,
 * `started`, `state`, `output` and `exit`. zod validated these 8 times per round trip in the hub and
 * admin client's process, 9 % of its busy time in a CPU profile of `bench/run.ts`. Also a task's
 * `task_push` and `task_done` (issue 9): one zod parse each per task, in the worker and in the hub; and
 * the two frames of a broadcast (issue 9): `action` (parsed once by each of 1,000 workers per round) and
 * `action_done` (1,000 times per round by the hub).
 *
 * A check only ever says "this frame is valid and zod would return it unchanged": every field has the
 * type and range its schema in frames.ts gives it, and the frame has no key beyond them (zod would strip
 * one). Anything else, including a valid frame it does not know how to check (an exec with `env`, a run
 * of another kind), returns false, and `parseFrame` (codec.ts) runs the frame's zod schema as before: a
 * malformed frame gets zod's verdict and message, unchanged. `test/unit/hot-frames.test.ts` holds each
 * check to its schema on the replay fixtures' frames and on mutations of them.
 */
import { isPlainValue } from './frames-common.ts';
import { PROTOCOL_VERSION } from './version.ts';

type Fields = Record<string, unknown>;

/** zod `z.string().min(min).max(max)`: lengths in UTF-16 code units, as `String.length` counts. */
function isString(value: unknown, min: number, max: number): boolean {
  return typeof value === 'string' && value.length >= min && value.length <= max;
}

/** `requestId` of frames.ts. */
const isRequestId = (value: unknown): boolean => isString(value, 1, 100);
/** `name` of frames.ts. */
const isName = (value: unknown): boolean => isString(value, 1, 200);
/** zod 4 `z.number().int()` accepts safe integers only. */
const isInt = (value: unknown): value is number => Number.isSafeInteger(value);
/** zod 4 `z.number()` refuses NaN and the infinities. */
const isNumber = (value: unknown): value is number => Number.isFinite(value);

/** A msgpack map as decoded: zod's object output equals it only when it is a plain object. */
function isPlainObject(value: unknown): value is Fields {
  return value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;
}

/** True when `fields` has exactly `expected` enumerable keys: with each known key checked, none unknown. */
function hasKeys(fields: Fields, expected: number): boolean {
  let count = 0;
  for (const _key in fields) count++;
  return count === expected;
}

/** `commandSchema`: a non-empty string, or 1-10,000 strings. */
function isCommand(value: unknown): boolean {
  if (typeof value === 'string') return value.length >= 1 && value.length <= 100_000;
  if (!Array.isArray(value) || value.length < 1 || value.length > 10_000) return false;
  for (const item of value) if (!isString(item, 0, 100_000)) return false;
  return true;
}

/**
 * The fields of `execSpecSchema` in `fields` (`cmd`, `cwd`, `timeoutMs`), or -1 when one is invalid or
 * `env` is present (left to zod: a record's own rules). The count lets the caller check for unknown keys.
 */
function execSpecKeys(fields: Fields): number {
  if (!isCommand(fields.cmd) || fields.env !== undefined) return -1;
  let keys = 1;
  if (fields.cwd !== undefined) {
    if (!isString(fields.cwd, 0, 4096)) return -1;
    keys++;
  }
  if (fields.timeoutMs !== undefined) {
    if (!isInt(fields.timeoutMs) || fields.timeoutMs <= 0) return -1;
    keys++;
  }
  return keys;
}

/** An optional positive integer: 0 when absent, 1 when valid, -1 when not. */
function optionalPositiveInt(value: unknown): number {
  if (value === undefined) return 0;
  return isInt(value) && value > 0 ? 1 : -1;
}

/** `targetSchema`. */
function isTarget(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  let keys = 0;
  for (const key of ['worker', 'env', 'project'] as const) {
    if (value[key] === undefined) continue;
    if (!isName(value[key])) return false;
    keys++;
  }
  const tags = value.tags;
  if (tags !== undefined) {
    if (!Array.isArray(tags) || tags.length > 100) return false;
    for (const tag of tags) if (!isName(tag)) return false;
    keys++;
  }
  return hasKeys(value, keys);
}

/** `jobSpecSchema` for an exec job; other kinds are left to zod. */
function isExecJob(value: unknown): boolean {
  if (!isPlainObject(value) || value.kind !== 'exec') return false;
  const keys = execSpecKeys(value);
  return keys >= 0 && hasKeys(value, keys + 1);
}

/** `z.record(z.string(), z.string())`: a plain object of string values. */
function isStringRecord(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  for (const key in value) if (typeof value[key] !== 'string') return false;
  return true;
}

/**
 * `plainValueSchema` on a key that is present: absent, zod may return the key as `undefined`, so an
 * absent value is left to zod.
 */
const isPresentPlainValue = (value: unknown): boolean => value !== undefined && isPlainValue(value);

/** `taskValueBytes` of frames-bus.ts: a task's data or result as msgpack bytes (protocol v3). */
const isTaskValueBytes = (value: unknown): boolean => value instanceof Uint8Array && value.byteLength > 0;

/** One check per hot frame type; `v` is checked by the caller, `t` chose the check. */
const checkList: Record<string, (f: Fields) => boolean> = {
  action_done(f) {
    return isRequestId(f.re) && hasKeys(f, 3);
  },
  action(f) {
    return isRequestId(f.id) && isName(f.action) && isRequestId(f.run) && isName(f.step) && isPresentPlainValue(f.data) && hasKeys(f, 7);
  },
  exit(f) {
    return (
      isRequestId(f.re) &&
      (f.code === null || isInt(f.code)) &&
      (f.signal === null || isString(f.signal, 0, 50)) &&
      typeof f.timedOut === 'boolean' &&
      typeof f.cancelled === 'boolean' &&
      isNumber(f.durationMs) &&
      f.durationMs >= 0 &&
      hasKeys(f, 8)
    );
  },
  started(f) {
    return isRequestId(f.re) && isInt(f.pid) && f.pid >= 0 && hasKeys(f, 4);
  },
  state(f) {
    return isString(f.value, 1, 200) && hasKeys(f, 3);
  },
  output(f) {
    return isRequestId(f.re) && isInt(f.seq) && f.seq >= 0 && (f.stream === 'stdout' || f.stream === 'stderr') && f.data instanceof Uint8Array && hasKeys(f, 6);
  },
  dispatched(f) {
    if (!isRequestId(f.re) || !isName(f.worker) || !isRequestId(f.job)) return false;
    if (f.chunksByJob === undefined) return hasKeys(f, 5);
    return f.chunksByJob === true && hasKeys(f, 6);
  },
  exec(f) {
    const spec = execSpecKeys(f);
    const credit = optionalPositiveInt(f.outputCredit);
    // `started: false` rides on the exec of every `cla-hub exec` run (issue 13).
    const started = f.started === undefined ? 0 : f.started === false ? 1 : -1;
    return isRequestId(f.id) && spec >= 0 && credit >= 0 && started >= 0 && hasKeys(f, 3 + spec + credit + started);
  },
  // A task's two frames (issue 9, the task path): the push to the worker and its answer to the hub.
  task_push(f) {
    return (
      isRequestId(f.id) &&
      isName(f.name) &&
      isStringRecord(f.attrs) &&
      isTaskValueBytes(f.data) &&
      isString(f.lease, 1, 100) &&
      isInt(f.ttlMs) &&
      f.ttlMs > 0 &&
      hasKeys(f, 8)
    );
  },
  task_done(f) {
    return isRequestId(f.re) && isString(f.lease, 1, 100) && isTaskValueBytes(f.result) && hasKeys(f, 5);
  },
  run(f) {
    if (!isRequestId(f.id) || !isTarget(f.target) || !isExecJob(f.job)) return false;
    let keys = 5;
    if (f.waitMs !== undefined) {
      if (!isInt(f.waitMs) || f.waitMs < 0) return false;
      keys++;
    }
    const credit = optionalPositiveInt(f.outputCredit);
    if (credit < 0) return false;
    keys += credit;
    if (f.chunksByJob !== undefined) {
      if (f.chunksByJob !== true) return false;
      keys++;
    }
    // `cla-hub exec` sends `started: false` (exec8): without this, each of its runs went through zod.
    if (f.started !== undefined) {
      if (f.started !== false) return false;
      keys++;
    }
    return hasKeys(f, keys);
  },
};

/** By type, in a Map: a `t` such as `toString` must not find an inherited method. */
const checks = new Map(Object.entries(checkList));

/** The frame types {@link isValidHotFrame} knows. */
export const HOT_FRAME_TYPES: readonly string[] = [...checks.keys()];

/**
 * True when `fields` (a decoded msgpack map whose `t` is `type`) is a valid frame of a hot type that its
 * zod schema would return unchanged; false means "ask zod", never "invalid".
 */
export function isValidHotFrame(type: string, fields: Fields): boolean {
  const check = checks.get(type);
  return check !== undefined && fields.v === PROTOCOL_VERSION && check(fields);
}
