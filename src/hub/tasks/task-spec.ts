/**
 * What a task submission may hold and the dispatcher's options, checked once with messages in the house
 * style (``Expected `deadlineMs` to be a positive integer, got `0` (number)``). Shared by the library
 * API (`TaskHub.submit`) and `cla-hub task submit`, which writes to the store directly.
 */
import { InvalidArgumentError, describeValue } from '../../errors.ts';
import { isPlainValue } from '../../protocol/frames.ts';
import { encodeValue } from '../../protocol/codec.ts';

/** Default time a task may wait for a worker: 60 s. */
export const DEFAULT_TASK_DEADLINE_MS = 60_000;
/** Default lost claims before a task fails with WORKER_LOST. */
export const DEFAULT_TASK_MAX_ATTEMPTS = 5;
/**
 * Largest task data, as its msgpack bytes (what is stored and pushed). The `task_push` frame must stay
 * under the 1 MiB frame limit: a bigger one would make the worker drop the connection at each push,
 * until the task failed with WORKER_LOST.
 */
export const MAX_TASK_DATA_BYTES = 512 * 1024;

/** A task to submit. */
export interface TaskSubmission {
  /** Task name: only workers with a handler of this name get it (`tag`, `echo`, `shell`). */
  name: string;
  /** Attributes the handlers' filters are matched against, e.g. `{cloud: 'aws', account: '123'}`. @default {} */
  attrs?: Record<string, string>;
  /** Input for the handler: a plain value. @default null */
  data?: unknown;
  /** How long the task may wait for a worker before it fails with NO_WORKER, in ms. @default 60000 */
  deadlineMs?: number;
  /** Lost claims (the worker died or its lease ran out) before it fails with WORKER_LOST. @default 5 */
  maxAttempts?: number;
}

/** A submission with every default filled in, its data encoded once into msgpack bytes (`encodeValue`). */
export type ParsedTaskSubmission = Omit<Required<TaskSubmission>, 'data'> & { data: Uint8Array };

const NAME = /^[A-Za-z0-9_.:/-]{1,200}$/;

function expected(field: string, what: string, value: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`Expected \`${field}\` to be ${what}, got ${describeValue(value)}`, { data: { field } });
}

function positiveInt(field: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0 || value > max) throw expected(field, `a positive integer up to ${max}`, value);
  return value;
}

/** Fills in defaults and checks a submission. @throws InvalidArgumentError */
export function parseTaskSubmission(input: TaskSubmission): ParsedTaskSubmission {
  if (typeof input.name !== 'string' || !NAME.test(input.name)) throw expected('name', '1-200 letters, digits or `_.:/-`', input.name);
  const attrs = input.attrs ?? {};
  if (attrs === null || typeof attrs !== 'object' || Array.isArray(attrs)) throw expected('attrs', 'an object of strings', attrs);
  const entries = Object.entries(attrs);
  if (entries.length > 100) throw expected('attrs', 'at most 100 attributes', entries.length);
  for (const [key, value] of entries) {
    if (key.length === 0 || key.length > 200) throw expected('attrs', 'attribute names of 1-200 characters', key);
    if (typeof value !== 'string' || value.length > 500) throw expected(`attrs.${key}`, 'a string of at most 500 characters', value);
  }
  const data = input.data === undefined ? null : input.data;
  if (!isPlainValue(data)) throw expected('data', 'a plain value (null, boolean, number, string, bytes, array or object)', data);
  // Encoded once, here where it enters the hub: stored and pushed as these bytes (issue 9).
  const bytes = encodeValue(data);
  const size = bytes.byteLength;
  if (size > MAX_TASK_DATA_BYTES) throw new InvalidArgumentError(`Expected \`data\` to be at most ${MAX_TASK_DATA_BYTES} bytes as msgpack, got ${size} bytes: pass a smaller value, or a reference (a path, a URL) to the data`, { data: { field: 'data', size } });
  return {
    name: input.name,
    attrs: { ...attrs },
    data: bytes,
    deadlineMs: positiveInt('deadlineMs', input.deadlineMs ?? DEFAULT_TASK_DEADLINE_MS, 366 * 24 * 3600 * 1000),
    maxAttempts: positiveInt('maxAttempts', input.maxAttempts ?? DEFAULT_TASK_MAX_ATTEMPTS, 1000),
  };
}

/** Options of the hub's task dispatcher. */
export interface TaskHubOptions {
  /** Time to live of a lease, in ms; workers renew at a third of it. @default 30000 */
  leaseTtlMs?: number;
  /** How often the hub sweeps expired leases and passed deadlines, in ms. @default 200 */
  pollMs?: number;
}

/** {@link TaskHubOptions} with defaults. */
export type ParsedTaskHubOptions = Required<TaskHubOptions>;

/** Fills in defaults and checks ranges. @throws InvalidArgumentError */
export function parseTaskHubOptions(options: TaskHubOptions = {}): ParsedTaskHubOptions {
  // Refused rather than ignored: it has done nothing since issue 9 (no offers), and a setting that is
  // accepted but does nothing misleads whoever reads the configuration.
  if ((options as Record<string, unknown>).offerTimeoutMs !== undefined) {
    throw new InvalidArgumentError(
      'The task option `offerTimeoutMs` was removed: the hub pushes each task with its lease and makes no offers, so it had no effect; remove it (`leaseTtlMs` is how long a worker holds a task between renewals)',
      { data: { field: 'offerTimeoutMs' } },
    );
  }
  const leaseTtlMs = positiveInt('leaseTtlMs', options.leaseTtlMs ?? 30_000, 24 * 3600 * 1000);
  // Renewals every ttl/3 need a few ms of room at least.
  if (leaseTtlMs < 30) throw expected('leaseTtlMs', 'at least 30', leaseTtlMs);
  return {
    leaseTtlMs,
    pollMs: positiveInt('pollMs', options.pollMs ?? 200, 60_000),
  };
}
