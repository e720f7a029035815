// One suite every TaskStore backend must pass (BullMQ's conformance model, ../../shared/STYLE.md). A
// backend's test file calls `taskStoreConformance(name, makeBackend).run()`; each test gets a fresh
// backend, opened as hub `hub-a` (and, for ownership, as a second hub `hub-b` on the same backend).
// Besides the rules one by one, the last test replays every model path of machines/task.machine.ts on
// the store, in lockstep with a real actor, and checks that both are in the same state after each step.
import { suite } from 'uvu';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NewTask, TaskRow, TaskStore } from '../../src/hub/tasks/task-store.ts';
import { decodeValue, encodeValue } from '../../src/protocol/codec.ts';
import { MODEL_INPUT, modelKey, modelPaths, replayOnActor } from './task-machine-paths.ts';

/** A fresh backend: `open(hubId)` gives a store that writes as that hub, on the same rows. */
export interface TaskBackend {
  open(hubId: string): TaskStore;
  cleanup(): void | Promise<void>;
}

interface Context {
  store: TaskStore;
  backend: TaskBackend;
}

const T0 = 1_000_000;
/** A value as the msgpack bytes a store keeps (task data and results, issue 9). */
const mp = (value: unknown): Uint8Array => encodeValue(value);
/** A task whose `data` is given as a value (default `{resource: id}`), stored as its msgpack bytes. */
const task = (id: string, extra: Partial<Omit<NewTask, 'data'>> & { data?: unknown } = {}): NewTask => ({
  id,
  name: 'tag',
  attrs: { cloud: 'aws', account: '123' },
  createdAt: T0,
  deadlineMs: 60_000,
  maxAttempts: 3,
  ...extra,
  data: mp('data' in extra ? extra.data : { resource: id }),
});
/** A row with its bytes as plain arrays: a backend may hand out a Buffer or a Uint8Array for the same bytes. */
const bytesAsArrays = (row: TaskRow | undefined) => row && { ...row, data: [...row.data], result: row.result && [...row.result] };

const states = async (store: TaskStore, ids: string[]) => Promise.all(ids.map(async (id) => (await store.get(id))?.state));

/** Defines the TaskStore conformance suite against stores made by `makeStore`; call `.run()` on it. */
export function taskStoreConformance(name: string, makeBackend: () => TaskBackend): Test<Context> {
  const test = suite<Context>(`TaskStore conformance: ${name}`, {} as Context);
  test.before.each((ctx) => {
    ctx.backend = makeBackend();
    ctx.store = ctx.backend.open('hub-a');
  });
  test.after.each(async (ctx) => {
    await ctx.store.close();
    await ctx.backend.cleanup();
  });

  /** Inserts and leases to `worker` under `lease` at `at + 1`, for 3000 ms. */
  const claimed = async (store: TaskStore, id: string, worker = 'w1', lease = 'L1', at = T0 + 10) => {
    await store.insert(task(id));
    assert.ok((await store.lease(id, worker, lease, at + 1, at + 1 + 3000)));
  };

  test('insert stores a pending task once; data keeps binary, nested values and null', async ({ store }) => {
    const data = { bytes: new Uint8Array([0, 1, 255]), list: [1, 'two', null, { deep: true }], n: 1.5 };
    assert.ok((await store.insert(task('a', { data }))));
    assert.not.ok((await store.insert(task('a', { name: 'other' }))), 'a taken id is refused');
    const row = (await store.get('a'))!;
    assert.equal([...row.data], [...mp(data)], 'the bytes stored are the bytes given');
    const decoded = decodeValue(row.data);
    assert.equal(
      { name: row.name, state: row.state, attempts: row.attempts, worker: row.worker, lease: row.lease, deadlineAt: row.deadlineAt, maxAttempts: row.maxAttempts },
      { name: 'tag', state: 'pending', attempts: 0, worker: null, lease: null, deadlineAt: T0 + 60_000, maxAttempts: 3 },
    );
    assert.equal(row.attrs, { cloud: 'aws', account: '123' });
    assert.instance((decoded as { bytes: Uint8Array }).bytes, Uint8Array);
    assert.equal([...(decoded as { bytes: Uint8Array }).bytes], [0, 1, 255]);
    assert.equal((decoded as { list: unknown }).list, [1, 'two', null, { deep: true }]);
    assert.ok((await store.insert(task('b', { data: null }))));
    assert.is(decodeValue((await store.get('b'))!.data), null);
    assert.is((await store.get('nope')), undefined);
  });

  test('pending lists the oldest first, after a seq, only the given names; lastSeq moves on insert', async ({ store }) => {
    assert.is((await store.lastSeq()), 0);
    await store.insert(task('a'));
    await store.insert(task('b', { name: 'other' }));
    await store.insert(task('c'));
    assert.equal((await store.pending(0, ['tag'], 10)).map((r) => r.id), ['a', 'c']);
    assert.equal((await store.pending(0, ['tag', 'other'], 2)).map((r) => r.id), ['a', 'b']);
    const [first] = await store.pending(0, ['tag'], 1);
    assert.equal((await store.pending(first!.seq, ['tag'], 10)).map((r) => r.id), ['c']);
    assert.equal((await store.pending(0, [], 10)), []);
    await store.lease('a', 'w1', 'L', T0, T0 + 1000);
    assert.equal((await store.pending(0, ['tag'], 10)).map((r) => r.id), ['c']);
    const last = await store.lastSeq();
    await store.insert(task('d'));
    assert.ok((await store.lastSeq()) > last);
  });

  test('lease (push): pending -> claimed in one step, exactly one of two wins; reject puts it back unrun', async ({ store }) => {
    await store.insert(task('a'));
    const results = await Promise.all([store.lease('a', 'w1', 'L1', T0 + 1, T0 + 3001), store.lease('a', 'w2', 'L2', T0 + 1, T0 + 3001)]);
    assert.equal(results, [true, false]);
    let row = (await store.get('a'))!;
    assert.equal([row.state, row.worker, row.lease, row.owner, row.attempts, row.expiresAt, row.offeredAt, row.claimedAt], ['claimed', 'w1', 'L1', 'hub-a', 1, T0 + 3001, T0 + 1, T0 + 1]);
    assert.not.ok(await store.lease('a', 'w1', 'L3', T0 + 2, T0 + 3002), 'a claimed task cannot be leased again');
    assert.not.ok(await store.lease('missing', 'w1', 'L', T0 + 2, T0 + 3002));
    assert.not.ok(await store.reject('a', 'stale', T0 + 3));
    assert.ok(await store.reject('a', 'L1', T0 + 3));
    row = (await store.get('a'))!;
    assert.equal([row.state, row.lease, row.owner, row.attempts, row.expiresAt], ['pending', null, null, 0, null]);
    assert.not.ok(await store.reject('a', 'L1', T0 + 4), 'already rejected');
    assert.is(await store.complete('a', 'L1', mp('late'), T0 + 5), undefined, 'a rejected lease is stale');
    // Leased again elsewhere, released when lost, then done under a newer lease.
    assert.ok(await store.lease('a', 'w2', 'L4', T0 + 6, T0 + 3006));
    assert.equal(await store.release('a', 'L4', T0 + 7), { id: 'a', worker: 'w2', lease: 'L4', state: 'pending' });
    assert.ok(await store.lease('a', 'w3', 'L5', T0 + 8, T0 + 3008));
    assert.is((await store.complete('a', 'L5', mp('ok'), T0 + 9))!.attempts, 2);
  });

  test('leasePending (where a backend has it): read and lease in one step, as chosen, in seq order', async ({ store }) => {
    if (!store.leasePending) return; // optional: the dispatcher drives such a backend through pending + lease
    for (const id of ['a', 'b', 'c', 'd']) await store.insert(task(id));
    await store.insert(task('x', { name: 'other' }));
    const seqs = new Map<string, number>();
    for (const id of ['a', 'b', 'c', 'd']) seqs.set(id, (await store.get(id))!.seq);
    const asked: string[] = [];
    const choices: Record<string, { worker: string; lease: string } | undefined | null> = { a: { worker: 'w1', lease: 'L1' }, b: undefined, c: { worker: 'w2', lease: 'L2' }, d: null };
    const page = await store.leasePending(0, ['tag'], 10, (row) => (asked.push(row.id), choices[row.id]), T0 + 1, T0 + 3001);
    assert.equal(asked, ['a', 'b', 'c', 'd'], 'rows of the names asked, oldest first, up to the stop');
    assert.equal([page.seen, page.lastSeq], [3, seqs.get('c')], 'the stopping row is not seen: the next page starts at it');
    assert.equal(page.leased.map(({ row, choice }) => [row.id, choice.worker, choice.lease]), [['a', 'w1', 'L1'], ['c', 'w2', 'L2']]);
    const a = (await store.get('a'))!;
    assert.equal([a.state, a.worker, a.lease, a.owner, a.attempts, a.expiresAt, a.claimedAt], ['claimed', 'w1', 'L1', 'hub-a', 1, T0 + 3001, T0 + 1]);
    assert.equal(await states(store, ['b', 'c', 'd', 'x']), ['pending', 'claimed', 'pending', 'pending']);
    // Leased rows are not read again; `afterSeq` and `limit` bound the read as `pending`'s do.
    const again: string[] = [];
    const next = await store.leasePending(0, ['tag'], 1, (row) => (again.push(row.id), undefined), T0 + 2, T0 + 3002);
    assert.equal([again, next.seen, next.leased.length], [['b'], 1, 0]);
    const after: string[] = [];
    await store.leasePending(seqs.get('b')!, ['tag', 'other'], 10, (row) => (after.push(row.id), undefined), T0 + 2, T0 + 3002);
    assert.equal(after, ['d', 'x']);
    // A leased row is a lease like any other: completed under it, refused under another.
    assert.is(await store.complete('c', 'L1', mp('wrong lease'), T0 + 3), undefined);
    const done = (await store.complete('c', 'L2', mp({ ok: [1, 'two'], bytes: new Uint8Array([7]) }), T0 + 3))!;
    assert.equal([done.state, done.worker, done.attempts, done.finishedAt, done.lease, done.expiresAt], ['done', 'w2', 1, T0 + 3, null, null]);
    assert.equal(bytesAsArrays(done), bytesAsArrays(await store.get('c')), 'the final row returned is the stored one');
    assert.equal([...done.result!], [...mp({ ok: [1, 'two'], bytes: new Uint8Array([7]) })], 'the result stored is the bytes given');
    assert.is(await store.complete('c', 'L2', mp('twice'), T0 + 4), undefined, 'ended: the lease is no longer current');
    // A row leased in a step, released, and leased again without one: completed under the new lease only.
    await store.leasePending(0, ['tag'], 1, () => ({ worker: 'w4', lease: 'L6' }), T0 + 5, T0 + 3005);
    assert.ok(await store.release('b', 'L6', T0 + 6));
    assert.ok(await store.lease('b', 'w5', 'L7', T0 + 7, T0 + 3007));
    assert.is(await store.complete('b', 'L6', mp('old lease'), T0 + 8), undefined);
    assert.equal(bytesAsArrays(await store.complete('b', 'L7', mp('new lease'), T0 + 8)), bytesAsArrays(await store.get('b')));
    // A choice that throws leases nothing of that step.
    await store.insert(task('e'));
    const thrown = await store.leasePending(0, ['tag'], 10, (row) => {
      if (row.id === 'e') throw new Error('choose failed');
      return { worker: 'w3', lease: `L-${row.id}` };
    }, T0 + 4, T0 + 3004).then(() => undefined, (error: unknown) => error);
    assert.instance(thrown, Error);
    assert.equal(await states(store, ['d', 'e']), ['pending', 'pending'], 'd was chosen before e threw');
  });

  test('renew extends a current lease; a stale lease is refused', async ({ store }) => {
    await claimed(store, 'a');
    assert.ok((await store.renew('a', 'L1', T0 + 1000, T0 + 4000)));
    assert.is((await store.get('a'))!.expiresAt, T0 + 4000);
    assert.not.ok((await store.renew('a', 'stale', T0 + 1001, T0 + 9999)));
    assert.is((await store.get('a'))!.expiresAt, T0 + 4000);
  });

  test('complete with a stale lease is refused; with the current lease it ends the task once', async ({ store }) => {
    await claimed(store, 'a');
    assert.is((await store.complete('a', 'stale', mp('x'), T0 + 50)), undefined);
    assert.is((await store.get('a'))!.state, 'claimed');
    const row = (await store.complete('a', 'L1', mp({ tagged: 1 }), T0 + 60))!;
    assert.equal([row.state, decodeValue(row.result!), row.lease, row.expiresAt, row.finishedAt], ['done', { tagged: 1 }, null, null, T0 + 60]);
    assert.is((await store.complete('a', 'L1', mp('again'), T0 + 70)), undefined, 'a second completion is refused');
    assert.is((await store.fail('a', 'L1', { code: 'INTERNAL', message: 'late', retryable: false }, T0 + 80)), undefined);
    assert.equal(decodeValue((await store.get('a'))!.result!), { tagged: 1 });
  });

  test('fail records the error; the lease must be current', async ({ store }) => {
    await claimed(store, 'a');
    const error = { code: 'INTERNAL', message: 'boom', retryable: false, data: { n: 1 } };
    assert.is((await store.fail('a', 'stale', error, T0 + 50)), undefined);
    const row = (await store.fail('a', 'L1', error, T0 + 60))!;
    assert.equal([row.state, row.error, row.finishedAt], ['failed', error, T0 + 60]);
  });

  test('expiry: an unrenewed lease goes back to pending and can be leased again', async ({ store }) => {
    await store.insert(task('a'));
    await claimed(store, 'b', 'w2', 'L2', T0);
    assert.equal((await store.expire(T0 + 3000)), { released: [], failed: [] });
    const expired = await store.expire(T0 + 3001);
    assert.equal(expired.released, [{ id: 'b', worker: 'w2', lease: 'L2', state: 'pending' }]);
    assert.equal((await store.get('a'))!.state, 'pending', 'a pending task has no lease to expire');
    const b = (await store.get('b'))!;
    assert.equal([b.state, b.lease, b.expiresAt, b.attempts, b.worker], ['pending', null, null, 1, 'w2']);
    // Leased to another worker; the first worker's lease is stale now.
    assert.ok((await store.lease('b', 'w3', 'L3', T0 + 4001, T0 + 7001)));
    assert.is((await store.complete('b', 'L2', mp('from w2'), T0 + 4002)), undefined);
    assert.is(decodeValue((await store.complete('b', 'L3', mp('from w3'), T0 + 4003))!.result!), 'from w3');
    assert.is((await store.get('b'))!.attempts, 2);
  });

  test('expiry: a lease lost on the last attempt fails the task with WORKER_LOST', async ({ store }) => {
    await store.insert(task('a', { maxAttempts: 1 }));
    await store.lease('a', 'w1', 'L1', T0, T0 + 3000);
    const { released, failed } = (await store.expire(T0 + 3000));
    assert.equal(released, [{ id: 'a', worker: 'w1', lease: 'L1', state: 'failed' }]);
    assert.is(failed.length, 1);
    assert.equal([failed[0]!.state, failed[0]!.error?.code], ['failed', 'WORKER_LOST']);
  });

  test('deadline: a pending task fails with NO_WORKER and a message naming it and its attributes', async ({ store }) => {
    await store.insert(task('a', { deadlineMs: 5000, name: 'tag' }));
    await store.insert(task('b', { deadlineMs: 9000 }));
    assert.equal((await store.expire(T0 + 4999)).failed, []);
    const { failed } = (await store.expire(T0 + 5000));
    assert.equal(failed.map((r: TaskRow) => r.id), ['a']);
    const error = (await store.get('a'))!.error!;
    assert.is(error.code, 'NO_WORKER');
    assert.is(error.retryable, true);
    assert.is(error.message, 'No worker for task tag with attributes {account=123, cloud=aws} within its deadline of 5 s');
    assert.is((await store.get('b'))!.state, 'pending');
    // A claimed task is not cut by its deadline; its lease governs.
    await claimed(store, 'c', 'w1', 'L1', T0);
    await store.renew('c', 'L1', T0 + 59_000, T0 + 90_000);
    await store.expire(T0 + 70_000);
    assert.is((await store.get('c'))!.state, 'claimed');
  });

  test('release (disconnect) puts a leased task back; a stale token changes nothing', async ({ store }) => {
    await claimed(store, 'b', 'w1', 'L1');
    assert.is((await store.release('b', 'wrong', T0 + 20)), undefined);
    assert.equal((await store.get('b'))!.state, 'claimed');
    assert.equal((await store.release('b', 'L1', T0 + 20)), { id: 'b', worker: 'w1', lease: 'L1', state: 'pending' });
    assert.equal([(await store.get('b'))!.state, (await store.get('b'))!.attempts], ['pending', 1]);
    assert.is((await store.release('b', 'L1', T0 + 30)), undefined, 'already released');
  });

  test('recover (hub restart) returns claimed tasks to pending, leaves pending and ended ones', async ({ store }) => {
    await store.insert(task('p'));
    await claimed(store, 'c');
    await claimed(store, 'd', 'w2', 'L2');
    await store.complete('d', 'L2', mp('ok'), T0 + 100);
    assert.is((await store.recover(T0 + 200)), 1);
    assert.equal(await states(store, ['p', 'c', 'd']), ['pending', 'pending', 'done']);
    assert.is((await store.get('c'))!.lease, null);
    assert.is((await store.complete('c', 'L1', mp('stale after restart'), T0 + 300)), undefined);
  });

  test('list (newest first, by state) and counts', async ({ store }) => {
    await store.insert(task('a'));
    await store.insert(task('b'));
    await claimed(store, 'c');
    assert.equal((await store.list({ limit: 10 })).map((r) => r.id), ['c', 'b', 'a']);
    assert.equal((await store.list({ limit: 1 })).map((r) => r.id), ['c']);
    assert.equal((await store.list({ state: 'pending', limit: 10 })).map((r) => r.id), ['b', 'a']);
    assert.equal((await store.counts()), { pending: 2, claimed: 1, done: 0, failed: 0 });
  });

  test('ownership: leases name their hub; recover releases only what this hub held', async ({ store, backend }) => {
    const other = backend.open('hub-b');
    try {
      assert.is(store.hubId, 'hub-a');
      await store.insert(task('mine'));
      await store.insert(task('theirs'));
      await store.insert(task('theirs-too'));
      assert.ok(await store.lease('mine', 'w1', 'L1', T0 + 1, T0 + 3001));
      assert.ok(await other.lease('theirs', 'w2', 'L2', T0 + 1, T0 + 3001));
      assert.ok(await other.lease('theirs-too', 'w3', 'L3', T0 + 1, T0 + 3001));
      assert.equal([(await store.get('mine'))!.owner, (await store.get('theirs'))!.owner, (await store.get('theirs-too'))!.owner], ['hub-a', 'hub-b', 'hub-b']);
      assert.is(await store.recover(T0 + 10), 1, 'only hub-a\'s lease');
      assert.equal(await states(store, ['mine', 'theirs', 'theirs-too']), ['pending', 'claimed', 'claimed']);
      assert.is((await store.get('mine'))!.owner, null);
      // hub-b's worker still completes under its lease, seen by both.
      assert.is((await other.complete('theirs', 'L2', mp('ok'), T0 + 20))!.state, 'done');
      assert.is((await store.get('theirs'))!.owner, null);
      assert.is(await other.recover(T0 + 30), 1);
      assert.equal(await states(store, ['mine', 'theirs', 'theirs-too']), ['pending', 'done', 'pending']);
    } finally {
      await other.close();
    }
  });

  test('releaseMany: one entry per pair, stale tokens undefined, in order', async ({ store }) => {
    await claimed(store, 'a', 'w1', 'La');
    await claimed(store, 'b', 'w1', 'Lb');
    const released = await store.releaseMany([['a', 'La'], ['b', 'stale'], ['missing', 'x'], ['b', 'Lb']], T0 + 50);
    assert.equal(released, [
      { id: 'a', worker: 'w1', lease: 'La', state: 'pending' },
      undefined,
      undefined,
      { id: 'b', worker: 'w1', lease: 'Lb', state: 'pending' },
    ]);
    assert.equal(await store.releaseMany([], T0 + 60), []);
  });

  test('calls made in one turn take effect in call order, each answering after its own change', async ({ store }) => {
    // Not awaited one by one: a batching backend must still apply them in order.
    const results = await Promise.all([
      store.insert(task('a')),
      store.lease('a', 'w1', 'L1', T0 + 1, T0 + 3001),
      store.get('a'),
      store.complete('a', 'L1', mp('ok'), T0 + 2),
      store.complete('a', 'L1', mp('twice'), T0 + 3),
      store.counts(),
    ]);
    assert.equal(results.slice(0, 2), [true, true]);
    assert.is((results[2] as TaskRow).state, 'claimed');
    assert.is(decodeValue((results[3] as TaskRow).result!), 'ok');
    assert.is(results[4], undefined, 'the second completion in the same turn is refused');
    assert.equal(results[5], { pending: 0, claimed: 0, done: 1, failed: 0 });
  });

  test('model: every path of the task machine ends in the same state on the store', async ({ store }) => {
    const paths = modelPaths();
    let n = 0;
    for (const path of paths) {
      const id = `m${n++}`;
      await store.insert({ id, name: MODEL_INPUT.name, attrs: MODEL_INPUT.attrs, data: mp(null), createdAt: 0, deadlineMs: MODEL_INPUT.deadlineMs!, maxAttempts: MODEL_INPUT.maxAttempts! });
      // The actor runs synchronously: record its steps, then apply them to the (async) store.
      const steps: Array<Parameters<Parameters<typeof replayOnActor>[1] & {}>[0]> = [];
      replayOnActor(path, (step) => steps.push(step));
      for (const { event, snapshot } of steps) {
        const at = event.at;
        const row = (await store.get(id))!;
        switch (event.type) {
          case 'LEASE':
            await store.lease(id, event.workerId, event.lease, at, at + MODEL_INPUT.leaseTtlMs!);
            break;
          case 'REJECT':
            await store.reject(id, event.lease, at);
            break;
          case 'RENEW':
            await store.renew(id, event.lease, at, at + MODEL_INPUT.leaseTtlMs!);
            break;
          case 'DONE':
            await store.complete(id, event.lease, mp(event.result), at);
            break;
          case 'FAIL':
            await store.fail(id, event.lease, event.error, at);
            break;
          case 'WORKER_LOST':
            // The store releases by token: the runtime knows the tokens of a lost connection.
            if (row.worker === event.workerId && row.lease !== null) await store.release(id, row.lease, at);
            break;
          case 'TIMER':
            await store.expire(at);
            break;
        }
        const after = (await store.get(id))!;
        const stored = modelKey(after.state, { ...snapshot.context, attempts: after.attempts, worker: after.worker, lease: after.lease, error: after.error }, after.state === 'done' || after.state === 'failed' ? 'done' : 'active');
        const expected = modelKey(snapshot.value, snapshot.context, snapshot.status);
        assert.is(stored, expected, `${event.type} on path ${path.steps.map((s) => s.event.type).join(' > ')}`);
      }
    }
    assert.ok(n > 15);
  });

  return test;
}
