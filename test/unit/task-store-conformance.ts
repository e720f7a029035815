// One suite every TaskStore backend must pass (BullMQ's conformance model, ../../shared/STYLE.md). A
// backend's test file calls `taskStoreConformance(name, makeStore).run()`; each test gets a fresh store.
// Besides the rules one by one, the last test replays every model path of machines/task.machine.ts on
// the store, in lockstep with a real actor, and checks that both are in the same state after each step.
import { suite } from 'uvu';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NewTask, TaskRow, TaskStore } from '../../src/hub/tasks/task-store.ts';
import { MODEL_INPUT, modelKey, modelPaths, replayOnActor } from './task-machine-paths.ts';

interface Context {
  store: TaskStore;
  cleanup: () => void;
}

const T0 = 1_000_000;
const task = (id: string, extra: Partial<NewTask> = {}): NewTask => ({
  id,
  name: 'tag',
  attrs: { cloud: 'aws', account: '123' },
  data: { resource: id },
  createdAt: T0,
  deadlineMs: 60_000,
  maxAttempts: 3,
  ...extra,
});

/** Defines the TaskStore conformance suite against stores made by `makeStore`; call `.run()` on it. */
export function taskStoreConformance(name: string, makeStore: () => { store: TaskStore; cleanup: () => void }): Test<Context> {
  const test = suite<Context>(`TaskStore conformance: ${name}`, {} as Context);
  test.before.each((ctx) => {
    const made = makeStore();
    ctx.store = made.store;
    ctx.cleanup = made.cleanup;
  });
  test.after.each((ctx) => ctx.cleanup());

  /** Inserts, offers to `worker` and claims under `lease`. */
  const claimed = (store: TaskStore, id: string, worker = 'w1', lease = 'L1', at = T0 + 10) => {
    store.insert(task(id));
    assert.ok(store.offer(id, worker, `offer-${lease}`, at, at + 1000));
    assert.ok(store.claim(id, worker, lease, at + 1, at + 1 + 3000));
  };

  test('insert stores a pending task once; data keeps binary, nested values and null', ({ store }) => {
    const data = { bytes: new Uint8Array([0, 1, 255]), list: [1, 'two', null, { deep: true }], n: 1.5 };
    assert.ok(store.insert(task('a', { data })));
    assert.not.ok(store.insert(task('a', { name: 'other' })), 'a taken id is refused');
    const row = store.get('a')!;
    assert.equal(
      { name: row.name, state: row.state, attempts: row.attempts, worker: row.worker, lease: row.lease, deadlineAt: row.deadlineAt, maxAttempts: row.maxAttempts },
      { name: 'tag', state: 'pending', attempts: 0, worker: null, lease: null, deadlineAt: T0 + 60_000, maxAttempts: 3 },
    );
    assert.equal(row.attrs, { cloud: 'aws', account: '123' });
    assert.instance((row.data as { bytes: Uint8Array }).bytes, Uint8Array);
    assert.equal([...(row.data as { bytes: Uint8Array }).bytes], [0, 1, 255]);
    assert.equal((row.data as { list: unknown }).list, [1, 'two', null, { deep: true }]);
    assert.ok(store.insert(task('b', { data: null })));
    assert.is(store.get('b')!.data, null);
    assert.is(store.get('nope'), undefined);
  });

  test('pending lists the oldest first, after a seq, only the given names; lastSeq moves on insert', ({ store }) => {
    assert.is(store.lastSeq(), 0);
    store.insert(task('a'));
    store.insert(task('b', { name: 'other' }));
    store.insert(task('c'));
    assert.equal(store.pending(0, ['tag'], 10).map((r) => r.id), ['a', 'c']);
    assert.equal(store.pending(0, ['tag', 'other'], 2).map((r) => r.id), ['a', 'b']);
    const [first] = store.pending(0, ['tag'], 1);
    assert.equal(store.pending(first!.seq, ['tag'], 10).map((r) => r.id), ['c']);
    assert.equal(store.pending(0, [], 10), []);
    store.offer('a', 'w1', 'o', T0, T0 + 1000);
    assert.equal(store.pending(0, ['tag'], 10).map((r) => r.id), ['c']);
    const last = store.lastSeq();
    store.insert(task('d'));
    assert.ok(store.lastSeq() > last);
  });

  test('offer only takes a pending task', ({ store }) => {
    store.insert(task('a'));
    assert.ok(store.offer('a', 'w1', 'o1', T0 + 5, T0 + 1005));
    assert.not.ok(store.offer('a', 'w2', 'o2', T0 + 6, T0 + 1006), 'already offered');
    const row = store.get('a')!;
    assert.equal([row.state, row.worker, row.lease, row.expiresAt, row.offeredAt], ['offered', 'w1', 'o1', T0 + 1005, T0 + 5]);
    assert.not.ok(store.offer('missing', 'w1', 'o', T0, T0));
  });

  test('atomic claim: of two claims on one offer exactly one wins; only the offered worker may claim', ({ store }) => {
    store.insert(task('a'));
    store.offer('a', 'w1', 'o1', T0, T0 + 1000);
    assert.not.ok(store.claim('a', 'w2', 'X', T0 + 1, T0 + 3001), 'another worker cannot claim');
    const results = [store.claim('a', 'w1', 'L1', T0 + 1, T0 + 3001), store.claim('a', 'w1', 'L1b', T0 + 2, T0 + 3002)];
    assert.equal(results, [true, false]);
    const row = store.get('a')!;
    assert.equal([row.state, row.lease, row.attempts, row.expiresAt, row.claimedAt], ['claimed', 'L1', 1, T0 + 3001, T0 + 1]);
    store.insert(task('b'));
    assert.not.ok(store.claim('b', 'w1', 'L', T0, T0), 'a pending task cannot be claimed');
  });

  test('renew extends a current lease; a stale lease is refused', ({ store }) => {
    claimed(store, 'a');
    assert.ok(store.renew('a', 'L1', T0 + 1000, T0 + 4000));
    assert.is(store.get('a')!.expiresAt, T0 + 4000);
    assert.not.ok(store.renew('a', 'stale', T0 + 1001, T0 + 9999));
    assert.is(store.get('a')!.expiresAt, T0 + 4000);
  });

  test('complete with a stale lease is refused; with the current lease it ends the task once', ({ store }) => {
    claimed(store, 'a');
    assert.is(store.complete('a', 'stale', 'x', T0 + 50), undefined);
    assert.is(store.get('a')!.state, 'claimed');
    const row = store.complete('a', 'L1', { tagged: 1 }, T0 + 60)!;
    assert.equal([row.state, row.result, row.lease, row.expiresAt, row.finishedAt], ['done', { tagged: 1 }, null, null, T0 + 60]);
    assert.is(store.complete('a', 'L1', 'again', T0 + 70), undefined, 'a second completion is refused');
    assert.is(store.fail('a', 'L1', { code: 'INTERNAL', message: 'late', retryable: false }, T0 + 80), undefined);
    assert.equal(store.get('a')!.result, { tagged: 1 });
  });

  test('fail records the error; the lease must be current', ({ store }) => {
    claimed(store, 'a');
    const error = { code: 'INTERNAL', message: 'boom', retryable: false, data: { n: 1 } };
    assert.is(store.fail('a', 'stale', error, T0 + 50), undefined);
    const row = store.fail('a', 'L1', error, T0 + 60)!;
    assert.equal([row.state, row.error, row.finishedAt], ['failed', error, T0 + 60]);
  });

  test('expiry: an unclaimed offer and an unrenewed lease go back to pending and can be re-offered', ({ store }) => {
    store.insert(task('a'));
    store.offer('a', 'w1', 'o1', T0, T0 + 1000);
    claimed(store, 'b', 'w2', 'L2', T0);
    assert.equal(store.expire(T0 + 999), { released: [], failed: [] });
    const first = store.expire(T0 + 1000);
    assert.equal(first.released, [{ id: 'a', worker: 'w1', lease: 'o1', from: 'offered', state: 'pending' }]);
    assert.equal(store.get('a')!.state, 'pending');
    const second = store.expire(T0 + 3001);
    assert.equal(second.released, [{ id: 'b', worker: 'w2', lease: 'L2', from: 'claimed', state: 'pending' }]);
    const b = store.get('b')!;
    assert.equal([b.state, b.lease, b.expiresAt, b.attempts, b.worker], ['pending', null, null, 1, 'w2']);
    // Re-offered to another worker; the first worker's lease is stale now.
    assert.ok(store.offer('b', 'w3', 'o3', T0 + 4000, T0 + 5000));
    assert.ok(store.claim('b', 'w3', 'L3', T0 + 4001, T0 + 7001));
    assert.is(store.complete('b', 'L2', 'from w2', T0 + 4002), undefined);
    assert.is(store.complete('b', 'L3', 'from w3', T0 + 4003)!.result, 'from w3');
    assert.is(store.get('b')!.attempts, 2);
  });

  test('expiry: a lease lost on the last attempt fails the task with WORKER_LOST', ({ store }) => {
    store.insert(task('a', { maxAttempts: 1 }));
    store.offer('a', 'w1', 'o1', T0, T0 + 1000);
    store.claim('a', 'w1', 'L1', T0, T0 + 3000);
    const { released, failed } = store.expire(T0 + 3000);
    assert.equal(released, [{ id: 'a', worker: 'w1', lease: 'L1', from: 'claimed', state: 'failed' }]);
    assert.is(failed.length, 1);
    assert.equal([failed[0]!.state, failed[0]!.error?.code], ['failed', 'WORKER_LOST']);
  });

  test('deadline: a pending task fails with NO_WORKER and a message naming it and its attributes', ({ store }) => {
    store.insert(task('a', { deadlineMs: 5000, name: 'tag' }));
    store.insert(task('b', { deadlineMs: 9000 }));
    assert.equal(store.expire(T0 + 4999).failed, []);
    const { failed } = store.expire(T0 + 5000);
    assert.equal(failed.map((r: TaskRow) => r.id), ['a']);
    const error = store.get('a')!.error!;
    assert.is(error.code, 'NO_WORKER');
    assert.is(error.retryable, true);
    assert.is(error.message, 'No worker for task tag with attributes {account=123, cloud=aws} within its deadline of 5 s');
    assert.is(store.get('b')!.state, 'pending');
    // A claimed task is not cut by its deadline; its lease governs.
    claimed(store, 'c', 'w1', 'L1', T0);
    store.renew('c', 'L1', T0 + 59_000, T0 + 90_000);
    store.expire(T0 + 70_000);
    assert.is(store.get('c')!.state, 'claimed');
  });

  test('release (disconnect) puts offered and claimed tasks back; a stale token changes nothing', ({ store }) => {
    store.insert(task('a'));
    store.offer('a', 'w1', 'o1', T0, T0 + 1000);
    claimed(store, 'b', 'w1', 'L1');
    assert.is(store.release('a', 'wrong', T0 + 20), undefined);
    assert.equal(store.release('a', 'o1', T0 + 20), { id: 'a', worker: 'w1', lease: 'o1', from: 'offered', state: 'pending' });
    assert.equal(store.release('b', 'L1', T0 + 20), { id: 'b', worker: 'w1', lease: 'L1', from: 'claimed', state: 'pending' });
    assert.equal([store.get('a')!.state, store.get('b')!.state, store.get('b')!.attempts], ['pending', 'pending', 1]);
    assert.is(store.release('b', 'L1', T0 + 30), undefined, 'already released');
  });

  test('recover (hub restart) returns offered and claimed tasks to pending, leaves ended ones', ({ store }) => {
    store.insert(task('p'));
    store.insert(task('o'));
    store.offer('o', 'w1', 'o1', T0, T0 + 1000);
    claimed(store, 'c');
    claimed(store, 'd', 'w2', 'L2');
    store.complete('d', 'L2', 'ok', T0 + 100);
    assert.is(store.recover(T0 + 200), 2);
    assert.equal(['p', 'o', 'c', 'd'].map((id) => store.get(id)!.state), ['pending', 'pending', 'pending', 'done']);
    assert.is(store.get('c')!.lease, null);
    assert.is(store.complete('c', 'L1', 'stale after restart', T0 + 300), undefined);
  });

  test('list (newest first, by state) and counts', ({ store }) => {
    store.insert(task('a'));
    store.insert(task('b'));
    claimed(store, 'c');
    assert.equal(store.list({ limit: 10 }).map((r) => r.id), ['c', 'b', 'a']);
    assert.equal(store.list({ limit: 1 }).map((r) => r.id), ['c']);
    assert.equal(store.list({ state: 'pending', limit: 10 }).map((r) => r.id), ['b', 'a']);
    assert.equal(store.counts(), { pending: 2, offered: 0, claimed: 1, done: 0, failed: 0 });
  });

  test('transaction rolls back everything when fn throws', ({ store }) => {
    assert.throws(() =>
      store.transaction(() => {
        store.insert(task('a'));
        throw new Error('boom');
      }),
    );
    assert.is(store.get('a'), undefined);
  });

  test('model: every path of the task machine ends in the same state on the store', ({ store }) => {
    const paths = modelPaths();
    let n = 0;
    for (const path of paths) {
      const id = `m${n++}`;
      store.insert({ id, name: MODEL_INPUT.name, attrs: MODEL_INPUT.attrs, data: null, createdAt: 0, deadlineMs: MODEL_INPUT.deadlineMs!, maxAttempts: MODEL_INPUT.maxAttempts! });
      replayOnActor(path, ({ event, snapshot }) => {
        const at = event.at;
        const row = store.get(id)!;
        switch (event.type) {
          case 'OFFER':
            store.offer(id, event.workerId, event.token, at, at + MODEL_INPUT.offerTimeoutMs!);
            break;
          case 'CLAIM':
            store.claim(id, event.workerId, event.lease, at, at + MODEL_INPUT.leaseTtlMs!);
            break;
          case 'RENEW':
            store.renew(id, event.lease, at, at + MODEL_INPUT.leaseTtlMs!);
            break;
          case 'DONE':
            store.complete(id, event.lease, event.result, at);
            break;
          case 'FAIL':
            store.fail(id, event.lease, event.error, at);
            break;
          case 'WORKER_LOST':
            // The store releases by token: the runtime knows the tokens of a lost connection.
            if (row.worker === event.workerId && row.lease !== null) store.release(id, row.lease, at);
            break;
          case 'TIMER':
            store.expire(at);
            break;
        }
        const after = store.get(id)!;
        const stored = modelKey(after.state, { ...snapshot.context, attempts: after.attempts, worker: after.worker, lease: after.lease, error: after.error }, after.state === 'done' || after.state === 'failed' ? 'done' : 'active');
        const expected = modelKey(snapshot.value, snapshot.context, snapshot.status);
        assert.is(stored, expected, `${event.type} on path ${path.steps.map((s) => s.event.type).join(' > ')}`);
      });
    }
    assert.ok(n > 15);
  });

  return test;
}
