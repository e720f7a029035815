/**
 * JetStream calls through a leader failover (issue 10): on a cluster, a stream has no leader for the
 * seconds an election takes after its leader dies, and a call then fails in one of a few ways that say
 * "try again", not "refused":
 *
 * - no responders: nobody serves the API or publish subject yet. nats.js turns it into
 *   `JetStreamNotEnabled('jetstream is not enabled')` (its cause a `RequestError` that `isNoResponders()`)
 *   for publishes and API requests, and leaves it a `RequestError` / `NoRespondersError` for direct gets;
 * - `TimeoutError`: the request reached a server whose leader died before it answered;
 * - an API error 10008 `JetStream system temporarily unavailable` (503), 10009 `JetStream cluster can not
 *   handle request` (the server asked is not the leader any more), 10118 `stream is offline`; a direct get
 *   answered with status 503.
 *
 * nats.js retries only publishes, and only when asked (`retries`), a fixed 1-2 times. {@link retryTransient}
 * tries such a call again with a jittered exponential backoff for up to {@link RetryOptions.budgetMs}. A
 * compare-and-set refused because the key moved (10071, 10164) is an answer, never retried here; and a write
 * whose answer was lost may have landed: {@link casWrite} reads the key back before writing again.
 */
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { JetStreamApiError } from '@nats-io/jetstream';
// Not in the package's public list, but the classes its publish and direct get throw.
import { jserrors, JetStreamStatusError } from '@nats-io/jetstream/internal';
import type { KV } from '@nats-io/kv';
import type { JetStreamClient } from '@nats-io/jetstream';
import { isWrongRevision } from './jetstream-buckets.ts';

/** API error codes (nats-server's errors.json) of a cluster between leaders. */
const TRANSIENT_API_CODES = new Set([10008, 10009, 10118]);

/** Whether `error` is a JetStream call failing because the cluster is between leaders (try again), not a refusal. */
export function isTransientEngineError(error: unknown): boolean {
  if (error instanceof TimeoutError || error instanceof NoRespondersError) return true;
  if (error instanceof RequestError) return error.isNoResponders();
  // No responders on a JetStream subject; a server without JetStream for the account answers with an API
  // error instead (the cause is then a JetStreamApiError), which is not transient.
  if (error instanceof jserrors.JetStreamNotEnabled) return error.cause instanceof RequestError && error.cause.isNoResponders();
  if (error instanceof JetStreamApiError) return TRANSIENT_API_CODES.has(error.code) || error.status === 503;
  if (error instanceof JetStreamStatusError) return error.code === 503;
  return false;
}

/** How long and how often {@link retryTransient} tries again. */
export interface RetryOptions {
  /** Give up (throw the last error) once this long has passed since the first failure, in ms. @default 30000 */
  budgetMs?: number;
  /** The first wait, in ms; each next one doubles, up to {@link maxDelayMs}, and is drawn at random below that bound. @default 100 */
  baseDelayMs?: number;
  /** @default 2000 */
  maxDelayMs?: number;
  /** Told before each wait (e.g. to log or count it). */
  onRetry?(error: unknown, attempt: number): void;
  /** Waits `ms` (tests pass one that resolves at once). @default a timer */
  wait?(ms: number): Promise<void>;
}

/** Retries of every store, counted for the benchmark and the logs. */
export const engineRetries = { count: 0 };

/**
 * A backoff: the delay before attempt `attempt + 1`, "full jitter" (uniform below the doubled bound), so
 * the hubs that all failed together at the election do not all come back at the same instant.
 */
export function retryDelay(attempt: number, options: RetryOptions = {}, random = Math.random): number {
  const base = options.baseDelayMs ?? 100;
  const bound = Math.min(options.maxDelayMs ?? 2000, base * 2 ** Math.min(attempt, 20));
  return Math.max(1, Math.round(bound * random()));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The retries of one call: each transient failure waits its turn, until the budget is spent. */
class Retries {
  private firstFailure: number | undefined;
  private attempt = 0;

  constructor(private readonly options: RetryOptions) {}

  /** Rethrows `error` unless it is transient and the budget allows another try; else waits before it. */
  async after(error: unknown): Promise<void> {
    if (!isTransientEngineError(error)) throw error;
    this.firstFailure ??= Date.now();
    if (Date.now() - this.firstFailure >= (this.options.budgetMs ?? 30_000)) throw error;
    engineRetries.count += 1;
    this.options.onRetry?.(error, this.attempt);
    await (this.options.wait ?? sleep)(retryDelay(this.attempt++, this.options));
  }

  /** Whether a call already failed transiently (its answer lost: a write may have landed). */
  get failed(): boolean {
    return this.firstFailure !== undefined;
  }
}

/**
 * `fn()`, again after a transient failure ({@link isTransientEngineError}) until it settles otherwise or the
 * budget is spent. Only for calls that are safe to repeat: reads, and writes that are idempotent or
 * conditional and checked afterwards ({@link casWrite}).
 */
export async function retryTransient<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = new Retries(options);
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      await retries.after(error);
    }
  }
}

/** Where {@link casWrite} writes: the bucket, and a JetStream client on the same connection. */
export interface CasTarget {
  kv: KV;
  js: JetStreamClient;
  /** The bucket's name (its keys are the subjects `$KV.<bucket>.<key>`). */
  bucket: string;
}

/**
 * A compare-and-set write of `value` at `key` over `revision` (0: the key must be new), through a
 * failover. Resolves with the new revision, or `undefined` when the compare failed (the key moved on).
 *
 * Two guards beyond `kv.update`:
 * - a write whose answer was lost may have landed: before writing again the key is read back; holding
 *   exactly `value` means it did (each writer's value names its writer, so another's write is not taken
 *   for ours); a revision other than `revision` means the compare now fails, as it would have.
 * - the message id `<key>@<revision>`: nats-server before 2.9.21 checks the expected revision of a
 *   replicated stream only before proposing the write, so two hubs writing over the same revision at the
 *   same moment could both be accepted (nats-server#4320: a task leased twice). The stream leader does
 *   track message ids still in flight, so of two writes over one revision the second is answered
 *   `duplicate`, not stored: lost, unless the read-back shows it was ours.
 */
export async function casWrite(target: CasTarget, key: string, value: string, revision: number, options: RetryOptions = {}): Promise<number | undefined> {
  const { kv, js, bucket } = target;
  const write = async () => {
    const ack = await js.publish(`$KV.${bucket}.${key}`, value, { expect: { lastSubjectSequence: revision }, msgID: `${key}@${revision}` });
    return ack.duplicate ? undefined : ack.seq;
  };
  /** The key's revision when it holds exactly `value` (ours landed), else undefined. */
  const readBack = async () => {
    const now = await retryTransient(() => kv.get(key), options);
    const present = now !== null && now.operation === 'PUT';
    return { ours: present && now.string() === value ? now.revision : undefined, at: present ? now.revision : 0 };
  };
  const retries = new Retries(options);
  for (;;) {
    let stored: number | undefined;
    try {
      stored = await write();
    } catch (error) {
      // After a lost answer, "moved on" may be our own earlier attempt.
      if (isWrongRevision(error)) return retries.failed ? (await readBack()).ours : undefined;
      await retries.after(error);
      const { ours, at } = await readBack();
      if (ours !== undefined) return ours;
      if (at !== revision) return undefined;
      continue;
    }
    if (stored !== undefined) return stored;
    // A duplicate: our own earlier attempt (only after a lost answer), or another writer's over the same
    // revision, which may hold the same value (two hubs creating one registry key alike): not ours.
    return retries.failed ? (await readBack()).ours : undefined;
  }
}

/** The refusal {@link retryingKv} throws for a compare-and-set that lost, as nats.js would: `isWrongRevision` is true of it. */
const refused = (key: string) => new JetStreamApiError({ err_code: 10071, code: 400, description: `wrong last sequence: ${key} moved on` });

const text = (data: string | Uint8Array) => (typeof data === 'string' ? data : new TextDecoder().decode(data));

/**
 * `target.kv` with each call tried again through a leader failover, for the stores that call the KV API
 * directly: reads, watches and plain puts and deletes with {@link retryTransient} (repeating them is
 * harmless: the same value again); `create` and `update` through {@link casWrite}, so a write whose
 * answer was lost is read back, never counted twice nor taken for one that landed, and a lost compare is
 * still thrown as nats.js throws it; a delete conditional on a revision is read back likewise (a delete
 * marker above that revision: it landed). `keys` retries the listing's start only.
 */
export function retryingKv(target: CasTarget, options: RetryOptions = {}): KV {
  const { kv } = target;
  const again = <T>(fn: () => Promise<T>) => retryTransient(fn, options);
  const cas = async (key: string, data: string | Uint8Array, revision: number) => {
    const stored = await casWrite(target, key, text(data), revision, options);
    if (stored === undefined) throw refused(key);
    return stored;
  };
  const overrides: Partial<KV> = {
    get: (key, opts) => again(() => kv.get(key, opts)),
    status: () => again(() => kv.status()),
    watch: (opts) => again(() => kv.watch(opts)),
    keys: (filter) => again(() => kv.keys(filter)),
    put: (key, data, opts) => (opts?.previousSeq === undefined ? again(() => kv.put(key, data, opts)) : cas(key, data, opts.previousSeq)),
    update: (key, data, version) => cas(key, data, version),
    // As nats.js creates: over a deleted key, a compare-and-set on its delete marker.
    create: async (key, data) => {
      try {
        return await cas(key, data, 0);
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
        const entry = await again(() => kv.get(key));
        if (entry === null || entry.operation === 'PUT') throw error;
        return cas(key, data, entry.revision);
      }
    },
    delete: async (key, opts) => {
      const previous = opts?.previousSeq;
      if (!previous) return again(() => kv.delete(key, opts));
      const retries = new Retries(options);
      for (;;) {
        try {
          return await kv.delete(key, opts);
        } catch (error) {
          if (!retries.failed || !isWrongRevision(error)) await retries.after(error);
          const now = await again(() => kv.get(key));
          if (now !== null && now.operation !== 'PUT' && now.revision > previous) return;
          if (now === null || now.revision !== previous) throw isWrongRevision(error) ? error : refused(key);
        }
      }
    },
  };
  return new Proxy(kv, {
    get(bucket, name) {
      if (Object.hasOwn(overrides, name)) return overrides[name as keyof KV];
      const value: unknown = Reflect.get(bucket, name);
      return typeof value === 'function' ? value.bind(bucket) : value;
    },
  });
}
