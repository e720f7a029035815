/**
 * Retries of JetStream calls through a leader failover (src/engine/jetstream-retry.ts): which failures are
 * transient, and a compare-and-set whose answer was lost counted once, never taken for a success it was not.
 * A fake bucket (a map of key -> value and revision) stands in for the engine; the real thing runs in
 * bench/nats-cluster.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { JetStreamApiError } from '@nats-io/jetstream';
import { jserrors } from '@nats-io/jetstream/internal';
import type { KV, KvEntry } from '@nats-io/kv';
import type { JetStreamClient } from '@nats-io/jetstream';
import { casWrite, isTransientEngineError, retryDelay, retryingKv, retryTransient, type CasTarget, type RetryOptions } from '../../src/engine/jetstream-retry.ts';
import { isWrongRevision, retryLostCreateRace } from '../../src/engine/jetstream-buckets.ts';

const it = suite('jetstream retry');
const now: RetryOptions = { wait: () => Promise.resolve() };

const apiError = (err_code: number, code: number, description: string) => new JetStreamApiError({ err_code, code, description });
const noResponders = () => new RequestError('no responders', { cause: new NoRespondersError('$JS.API.STREAM.INFO.KV_x') });
const wrongRevision = () => apiError(10071, 400, 'wrong last sequence: 4');

it('a bucket create that lost the race with another hub creating it (10065, 10058) is tried again; another refusal is not', async () => {
  const calls = (errors: Error[]) => {
    let n = 0;
    return { create: () => (n < errors.length ? Promise.reject(errors[n++]!) : Promise.resolve(`opened after ${n++} failures`)), count: () => n };
  };
  const overlap = () => apiError(10065, 400, 'subjects overlap with an existing stream');
  const raced = calls([overlap(), apiError(10058, 400, 'stream name already in use with a different configuration')]);
  assert.is(await retryLostCreateRace(raced.create), 'opened after 2 failures');
  const differs = calls([overlap(), overlap(), overlap(), overlap()]);
  await retryLostCreateRace(differs.create).then(() => assert.unreachable('a create refused each time is thrown'), (error: JetStreamApiError) => assert.is(error.code, 10065));
  assert.is(differs.count(), 3);
  const refused = calls([apiError(10074, 500, 'replicas > 1 not supported in non-clustered mode')]);
  await retryLostCreateRace(refused.create).then(() => assert.unreachable('another refusal is thrown at once'), (error: JetStreamApiError) => assert.is(error.code, 10074));
  assert.is(refused.count(), 1);
});

it('transient: timeouts, no responders (as nats.js reports them), a cluster between leaders', () => {
  assert.ok(isTransientEngineError(new TimeoutError()));
  assert.ok(isTransientEngineError(noResponders()));
  assert.ok(isTransientEngineError(new jserrors.JetStreamNotEnabled('jetstream is not enabled', { cause: noResponders() })));
  assert.ok(isTransientEngineError(apiError(10008, 503, 'JetStream system temporarily unavailable')));
  assert.ok(isTransientEngineError(apiError(10009, 500, 'JetStream cluster can not handle request')));
  assert.ok(isTransientEngineError(apiError(10118, 500, 'stream is offline')));
});

it('not transient: a lost compare-and-set, JetStream off for the account, anything else', () => {
  assert.not.ok(isTransientEngineError(wrongRevision()));
  assert.not.ok(isTransientEngineError(apiError(10164, 400, 'wrong last sequence: unknown')));
  assert.not.ok(isTransientEngineError(new jserrors.JetStreamNotEnabled('jetstream not enabled', { cause: apiError(10039, 503, 'jetstream not enabled for account') })));
  assert.not.ok(isTransientEngineError(apiError(10059, 404, 'stream not found')));
  assert.not.ok(isTransientEngineError(new Error('boom')));
  assert.not.ok(isTransientEngineError(undefined));
});

it('retryDelay: jittered below a bound that doubles up to the cap', () => {
  assert.is(retryDelay(0, {}, () => 0.999), 100);
  assert.is(retryDelay(3, {}, () => 0.999), 799);
  assert.is(retryDelay(30, {}, () => 0.999), 1998);
  assert.is(retryDelay(30, { maxDelayMs: 500 }, () => 0.5), 250);
  assert.is(retryDelay(0, {}, () => 0), 1);
});

it('retryTransient: tries again after transient failures, rethrows anything else at once', async () => {
  let calls = 0;
  const value = await retryTransient(async () => {
    calls += 1;
    if (calls < 3) throw new TimeoutError();
    return 'ok';
  }, now);
  assert.is(value, 'ok');
  assert.is(calls, 3);
  calls = 0;
  const refused = await retryTransient(async () => {
    calls += 1;
    throw wrongRevision();
  }, now).catch((error: unknown) => error);
  assert.ok(refused instanceof JetStreamApiError);
  assert.is(calls, 1);
});

it('retryTransient: gives up with the last error once the budget is spent', async () => {
  let calls = 0;
  const error = await retryTransient(async () => {
    calls += 1;
    throw new TimeoutError();
  }, { ...now, budgetMs: 0 }).catch((e: unknown) => e);
  assert.ok(error instanceof TimeoutError);
  assert.is(calls, 1);
});

/**
 * A bucket in memory whose next writes can be made to fail, landed or not; a message id seen before is a
 * duplicate, as JetStream's dedup window answers it.
 */
function fakeKv() {
  const keys = new Map<string, { value: string; revision: number; deleted?: boolean }>();
  const ids = new Map<string, number>();
  let revision = 0;
  const faults: Array<'lost-answer' | 'not-written'> = [];
  let writes = 0;
  const publish = async (subject: string, value: string, options: { expect: { lastSubjectSequence: number }; msgID: string }) => {
    writes += 1;
    const key = subject.split('.').slice(2).join('.');
    const fault = faults.shift();
    if (fault === 'not-written') throw new TimeoutError();
    const seen = ids.get(options.msgID);
    if (seen !== undefined) return { seq: seen, duplicate: true };
    if ((keys.get(key)?.revision ?? 0) !== options.expect.lastSubjectSequence) throw wrongRevision();
    keys.set(key, { value, revision: ++revision });
    ids.set(options.msgID, revision);
    if (fault === 'lost-answer') throw new TimeoutError();
    return { seq: revision, duplicate: false };
  };
  const kv = {
    get: async (key: string) => {
      const entry = keys.get(key);
      return entry ? ({ key, revision: entry.revision, operation: entry.deleted ? 'DEL' : 'PUT', string: () => entry.value } as unknown as KvEntry) : null;
    },
    delete: async (key: string, options?: { previousSeq?: number }) => {
      writes += 1;
      const fault = faults.shift();
      if (fault === 'not-written') throw new TimeoutError();
      if (options?.previousSeq !== undefined && (keys.get(key)?.revision ?? 0) !== options.previousSeq) throw wrongRevision();
      keys.set(key, { value: '', revision: ++revision, deleted: true });
      if (fault === 'lost-answer') throw new TimeoutError();
    },
  } as unknown as KV;
  return {
    target: { kv, js: { publish } as unknown as JetStreamClient, bucket: 'b' } satisfies CasTarget,
    faults,
    keys,
    get writes() {
      return writes;
    },
    /** Another hub's write. */
    other(key: string, value: string) {
      keys.set(key, { value, revision: ++revision });
    },
  };
}

it('casWrite: a write that landed though its answer was lost counts once, not written again', async () => {
  const bucket = fakeKv();
  await casWrite(bucket.target, 'a', 'v1', 0, now);
  bucket.faults.push('lost-answer');
  const revision = await casWrite(bucket.target, 'a', 'v2 by h1', 1, now);
  assert.is(revision, 2);
  assert.is(bucket.keys.get('a')?.value, 'v2 by h1');
  assert.is(bucket.writes, 2, 'the landed write is not repeated');
});

it('casWrite: a write that did not land is written again over the same revision', async () => {
  const bucket = fakeKv();
  await casWrite(bucket.target, 'a', 'v1', 0, now);
  bucket.faults.push('not-written', 'not-written');
  assert.is(await casWrite(bucket.target, 'a', 'v2', 1, now), 2);
  assert.is(bucket.writes, 4);
});

it('casWrite: another hub wrote during the failover: the compare is lost, never taken for a success', async () => {
  const bucket = fakeKv();
  await casWrite(bucket.target, 'a', 'v1', 0, now);
  bucket.faults.push('not-written');
  let first = true;
  const revision = await casWrite(bucket.target, 'a', 'v2 by h1', 1, {
    ...now,
    onRetry: () => {
      if (first) bucket.other('a', 'v2 by h2');
      first = false;
    },
  });
  assert.is(revision, undefined);
  assert.is(bucket.keys.get('a')?.value, 'v2 by h2');
});

it('casWrite: create of a taken key is lost, with or without a failover before it', async () => {
  const bucket = fakeKv();
  bucket.other('a', 'theirs');
  assert.is(await casWrite(bucket.target, 'a', 'mine', 0, now), undefined);
  const landed = fakeKv();
  landed.faults.push('lost-answer');
  assert.is(await casWrite(landed.target, 'b', 'mine', 0, now), 1, 'our own create that landed is ours');
});

it('casWrite: a lost compare after a lost answer is read back (our own earlier attempt landed)', async () => {
  const bucket = fakeKv();
  await casWrite(bucket.target, 'a', 'v1', 0, now);
  // The first attempt lands but its answer is lost; the read-back is served stale (a replica behind),
  // so the second attempt is refused by our own first one.
  bucket.faults.push('lost-answer');
  const get = bucket.target.kv.get.bind(bucket.target.kv);
  let stale = true;
  (bucket.target.kv as { get: KV['get'] }).get = async (key: string) => {
    if (stale) {
      stale = false;
      return { key, revision: 1, operation: 'PUT', string: () => 'v1' } as unknown as KvEntry;
    }
    return get(key);
  };
  assert.is(await casWrite(bucket.target, 'a', 'v2', 1, now), 2);
});

it('casWrite: two writers over one revision (nats-server#4320): the second is a duplicate, lost', async () => {
  const bucket = fakeKv();
  await casWrite(bucket.target, 'a', 'v1', 0, now);
  // The fake checks the revision after the id, as a 2.9 leader whose check let both through would.
  assert.is(await casWrite(bucket.target, 'a', 'v2 by h1', 1, now), 2);
  bucket.keys.set('a', { value: 'v1', revision: 1 }); // as if h1's write were still in flight
  assert.is(await casWrite(bucket.target, 'a', 'v2 by h2', 1, now), undefined);
});

it('casWrite: a refusal that is not transient is thrown', async () => {
  const js = { publish: async () => Promise.reject(apiError(10059, 404, 'stream not found')) } as unknown as JetStreamClient;
  const error = await casWrite({ kv: {} as KV, js, bucket: 'b' }, 'a', 'v', 3, now).catch((e: unknown) => e);
  assert.ok(error instanceof JetStreamApiError);
});

it('casWrite: a duplicate with no lost answer before it is another writer\'s, even holding the same value', async () => {
  const bucket = fakeKv();
  await casWrite(bucket.target, 'e', 'prod', 0, now);
  assert.is(await casWrite(bucket.target, 'e', 'prod', 0, now), undefined, 'two hubs creating one key alike: the second is refused');
});

it('retryingKv: reads tried again through a failover; a lost compare thrown as nats.js throws it', async () => {
  const bucket = fakeKv();
  const kv = retryingKv(bucket.target, now);
  let reads = 0;
  const get = bucket.target.kv.get.bind(bucket.target.kv);
  (bucket.target.kv as { get: KV['get'] }).get = async (key: string) => {
    reads += 1;
    if (reads === 1) throw new TimeoutError();
    return get(key);
  };
  assert.is(await kv.get('a'), null);
  assert.is(reads, 2);
  assert.is(await kv.create('a', 'v1'), 1);
  const taken = await kv.create('a', 'v1 again').catch((e: unknown) => e);
  assert.ok(isWrongRevision(taken), 'create of a taken key');
  const moved = await kv.update('a', 'v2', 7).catch((e: unknown) => e);
  assert.ok(isWrongRevision(moved), 'update over a revision that moved on');
  assert.is(bucket.keys.get('a')?.value, 'v1');
});

it('retryingKv: an update whose answer was lost counts once; a put with previousSeq is a compare-and-set too', async () => {
  const bucket = fakeKv();
  const kv = retryingKv(bucket.target, now);
  await kv.create('a', new TextEncoder().encode('v1'));
  bucket.faults.push('lost-answer');
  assert.is(await kv.update('a', 'v2 by h1', 1), 2);
  assert.is(bucket.writes, 2);
  assert.ok(isWrongRevision(await kv.put('a', 'v3', { previousSeq: 1 }).catch((e: unknown) => e)));
  assert.is(await kv.put('a', 'v3', { previousSeq: 2 }), 3);
});

it('retryingKv: create over a deleted key writes over its delete marker, as nats.js does', async () => {
  const bucket = fakeKv();
  const kv = retryingKv(bucket.target, now);
  await kv.create('a', 'v1');
  await kv.delete('a', { previousSeq: 1 });
  // The same id as the first create (a@0) within the dedup window: a duplicate, then the marker's revision.
  assert.is(await kv.create('a', 'v1'), 3);
  assert.is(bucket.keys.get('a')?.value, 'v1');
});

it('retryingKv: a conditional delete whose answer was lost is read back, not refused; a moved key is', async () => {
  const bucket = fakeKv();
  const kv = retryingKv(bucket.target, now);
  await kv.create('a', 'v1');
  bucket.faults.push('lost-answer');
  await kv.delete('a', { previousSeq: 1 });
  assert.is(bucket.keys.get('a')?.deleted, true);
  assert.is(bucket.writes, 2, 'the landed delete is not repeated');
  await kv.create('b', 'v1');
  bucket.faults.push('not-written');
  await kv.delete('b', { previousSeq: 3 });
  assert.is(bucket.keys.get('b')?.deleted, true, 'written again when it did not land');
  await kv.create('c', 'v1');
  bucket.other('c', 'theirs');
  assert.ok(isWrongRevision(await kv.delete('c', { previousSeq: 5 }).catch((e: unknown) => e)));
  assert.is(bucket.keys.get('c')?.value, 'theirs');
});

it.run();
