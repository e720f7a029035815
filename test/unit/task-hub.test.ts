/**
 * The dispatcher and the worker extension together, in one process: real WorkerAgents and raw
 * connections over in-memory transports, time on a SimulatedClock (no wall-clock waits).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { frame } from '../../src/protocol/frames.ts';
import { flush, startTaskHarness, until, type TaskHarness } from './task-harness.ts';
import { decodeValue, encodeValue } from '../../src/protocol/codec.ts';

const LEASE = { leaseTtlMs: 3000, pollMs: 100 };

/** A handler whose runs the test ends by hand. */
function gate() {
  const running: Array<{ id: string; signal: AbortSignal; finish: (value: unknown) => void; fail: (error: unknown) => void }> = [];
  const handler = (task: { id: string }, { signal }: { signal: AbortSignal }) =>
    new Promise((finish, fail) => running.push({ id: task.id, signal, finish, fail }));
  return { running, handler };
}

const tasks = suite<{ h: TaskHarness }>('tasks in process', {} as { h: TaskHarness });
tasks.after.each(async (ctx) => {
  await ctx.h?.close();
});

tasks('data and results stay msgpack bytes: the push carries the stored bytes, the stored result is the bytes the worker sent', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  const raw = await h.raw('bytes');
  raw.send(frame('subscribe', { subscriberId: 'bytes', actions: [], tasks: [{ name: 'job', filter: {} }], taskCapacity: 2 }));
  await flush();
  // Bytes no encoder of ours writes for their value ({k: 7, bin: <09 08>} with a map32 header, a str8 key,
  // a uint32 7): a hub that decoded and encoded them again would send or store other bytes.
  const odd = Buffer.from([0xdf, 0, 0, 0, 2, 0xd9, 1, 0x6b, 0xce, 0, 0, 0, 7, 0xa3, 0x62, 0x69, 0x6e, 0xc4, 2, 9, 8]);
  assert.is.not(Buffer.compare(Buffer.from(encodeValue(decodeValue(odd))), odd), 0, 'a decode and encode changes these bytes');
  assert.ok(await h.store.insert({ id: 'odd', name: 'job', attrs: {}, data: odd, createdAt: h.clock.now(), deadlineMs: 60_000, maxAttempts: 3 }));
  const data = { blob: new Uint8Array([0, 1, 255]), nested: { list: [1, 'two', null, { deep: { deeper: true } }], empty: {} } };
  const id = await h.tasks.submit({ name: 'job', data });
  await until(async () => raw.of('task_push').length === 2, 'both pushed');
  const [first, second] = raw.of('task_push');
  assert.equal([first!.id, second!.id], ['odd', id]);
  assert.equal([...first!.data], [...odd], 'pushed as stored, not decoded and encoded again');
  const stored = (await h.store.get(id))!;
  assert.equal([...stored.data], [...encodeValue(data)], 'encoded once at submission');
  assert.equal([...second!.data], [...stored.data], 'the push carries the stored bytes');
  raw.send(frame('task_done', { re: 'odd', lease: first!.lease, result: odd }));
  const result = encodeValue({ echo: decodeValue(second!.data), bytes: new Uint8Array([7]) });
  raw.send(frame('task_done', { re: id, lease: second!.lease, result }));
  const [oddRow, row] = await Promise.all([h.tasks.wait('odd'), h.tasks.wait(id)]);
  assert.equal([...(await h.store.get('odd'))!.result!], [...odd], 'the result is stored as the worker sent it');
  assert.equal([...(await h.store.get(id))!.result!], [...result]);
  // Readers get the values: decoded where they are used.
  assert.equal(oddRow.result, { k: 7, bin: new Uint8Array([9, 8]) });
  assert.equal(row.data, data);
  assert.equal(row.result, { echo: data, bytes: new Uint8Array([7]) });
});

tasks('a result that is not the msgpack of one plain value fails its task with a message naming the worker, and the task list still reads', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  const raw = await h.raw('garbage');
  raw.send(frame('subscribe', { subscriberId: 'garbage', actions: [], tasks: [{ name: 'job', filter: {} }], taskCapacity: 3 }));
  await flush();
  const ids = [await h.tasks.submit({ name: 'job', data: 1 }), await h.tasks.submit({ name: 'job', data: 2 }), await h.tasks.submit({ name: 'job', data: 3 })];
  await until(async () => raw.of('task_push').length === 3, 'all pushed');
  // Never-used byte 0xc1, an array of 2 cut after its first item, and a valid value followed by a stray byte.
  const bad = [Buffer.from([0xc1]), Buffer.from([0x92, 0x01]), Buffer.from([0x01, 0x02])];
  for (const push of raw.of('task_push')) raw.send(frame('task_done', { re: push.id, lease: push.lease, result: bad[ids.indexOf(push.id)]! }));
  const rows = await Promise.all(ids.map((id) => h.tasks.wait(id)));
  for (const row of rows) {
    assert.is(row.state, 'failed');
    assert.is(row.error?.code, 'INVALID_ARGUMENT');
    assert.match(row.error!.message, /Worker garbage answered with a result of \d+ bytes that is (not valid msgpack|msgpack, but not plain data).*Upgrade the worker/);
    assert.is(row.result, null);
  }
  const listed = await h.tasks.list({ limit: 10 });
  assert.equal(listed.map((t) => t.state).sort(), ['failed', 'failed', 'failed']);
});

tasks('a real worker gets its data decoded once and its result arrives as the bytes of what the handler returned', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  const seen: unknown[] = [];
  await h.worker('echo', (t) => t.handle('echo', {}, (task) => (seen.push(task.data), { got: task.data, map: { a: { b: [new Uint8Array([1, 2])] } } })));
  const data = { bytes: new Uint8Array([5, 6]), list: [{ x: 1 }, 'y'] };
  const id = await h.tasks.submit({ name: 'echo', data });
  const row = await h.tasks.wait(id);
  assert.instance((seen[0] as { bytes: Uint8Array }).bytes, Uint8Array, 'the handler gets binary as binary');
  assert.equal(seen, [data]);
  const returned = { got: data, map: { a: { b: [new Uint8Array([1, 2])] } } };
  assert.equal([...(await h.store.get(id))!.result!], [...encodeValue(returned)], 'stored: the bytes of what the handler returned');
  assert.equal(row.result, returned);
});

tasks('a task goes to the worker with the most specific filter and its result comes back', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  const seen: string[] = [];
  await h.worker('generic', (t) => t.handle('tag', { cloud: ['aws'] }, (task) => (seen.push(`generic:${task.id}`), 'generic')));
  await h.worker('acct', (t) => t.handle('tag', { cloud: ['aws'], account: ['123'] }, (task) => (seen.push(`acct:${task.id}`), { by: 'acct', data: task.data })));
  const specific = (await h.tasks.submit({ name: 'tag', attrs: { cloud: 'aws', account: '123' }, data: { tag: 'owner' } }));
  const other = (await h.tasks.submit({ name: 'tag', attrs: { cloud: 'aws', account: '999' } }));
  const [a, b] = await Promise.all([h.tasks.wait(specific), h.tasks.wait(other)]);
  assert.equal([a.state, a.worker, a.result], ['done', 'acct', { by: 'acct', data: { tag: 'owner' } }]);
  assert.equal([b.state, b.worker, b.result], ['done', 'generic', 'generic']);
  assert.equal(seen.sort(), [`acct:${specific}`, `generic:${other}`]);
});

tasks('tasks waiting for a busy, more specific worker stay queued; later tasks pass them to other workers', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  const g = gate();
  await h.worker('acct', (t) => t.handle('tag', { cloud: ['aws'], account: ['123'] }, g.handler), { concurrency: 1, prefetch: 0 });
  const catchAll: string[] = [];
  await h.worker('catch-all', (t) => t.handle('tag', {}, (task) => (catchAll.push(task.id), 'catch-all')), { concurrency: 1, prefetch: 1 });
  const waiting = await Promise.all(Array.from({ length: 40 }, () => h.tasks.submit({ name: 'tag', attrs: { cloud: 'aws', account: '123' } })));
  const later = (await h.tasks.submit({ name: 'tag', attrs: { cloud: 'gcp' } }));
  const row = await h.tasks.wait(later);
  assert.equal([row.state, row.worker], ['done', 'catch-all']);
  assert.equal(catchAll, [later], 'the catch-all took none of the account-123 tasks');
  assert.equal((await h.tasks.counts()), { pending: 39, claimed: 1, done: 1, failed: 0 });
  for (let i = 0; i < waiting.length; i++) {
    await until(async () => g.running.length > i, `task ${i} running`);
    g.running[i]!.finish(i);
  }
  const rows = await Promise.all(waiting.map((id) => h.tasks.wait(id)));
  assert.ok(rows.every((r) => r.state === 'done' && r.worker === 'acct'));
});

tasks('a handler that throws fails the task with its error; result$ of an unknown id errors', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  await h.worker('w1', (t) =>
    t.handle('boom', {}, () => {
      throw new ClaError('IO_ERROR', 'disk full', { retryable: true });
    }),
  );
  const row = await h.tasks.wait((await h.tasks.submit({ name: 'boom' })));
  assert.equal([row.state, row.error?.code, row.error?.message, row.error?.retryable], ['failed', 'IO_ERROR', 'disk full', true]);
  try {
    await h.tasks.wait('nope');
    assert.unreachable();
  } catch (error) {
    assert.is((error as ClaError).code, 'UNKNOWN_TASK');
  }
});

tasks('the hub never holds more than taskCapacity at a worker; the queue runs `concurrency` at once', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  const g = gate();
  const w = await h.worker('w1', (t) => t.handle('slow', {}, g.handler), { concurrency: 2, prefetch: 1 });
  assert.is(w.tasks.capacity, 3);
  const ids = await Promise.all(Array.from({ length: 10 }, () => h.tasks.submit({ name: 'slow' })));
  await until(async () => g.running.length === 2, 'two running');
  await flush(20);
  assert.is(g.running.length, 2, 'concurrency 2');
  const counts = (await h.tasks.counts());
  assert.is(counts.claimed, 3, 'taskCapacity 3: two running, one prefetched');
  assert.is(counts.pending, 7);
  let finished = 0;
  while (finished < ids.length) {
    await until(async () => g.running.length > 0, 'a task running');
    g.running.shift()!.finish(finished++);
    await flush(3);
    const c = (await h.tasks.counts());
    assert.ok(c.claimed <= 3, `held ${c.claimed}`);
  }
  await until(async () => (await h.tasks.counts()).done === 10, 'all done');
  assert.ok((await Promise.all(ids.map((id) => h.tasks.get(id)))).every((row) => row!.attempts === 1));
});

tasks('a running task keeps its lease by renewing at ttl/3, long past the ttl', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  const g = gate();
  await h.worker('w1', (t) => t.handle('slow', {}, g.handler));
  const id = (await h.tasks.submit({ name: 'slow' }));
  await until(async () => g.running.length === 1, 'running');
  for (let i = 0; i < 30; i++) {
    h.clock.increment(500); // 15 s in all, five lease lifetimes
    await flush(2);
  }
  assert.is((await h.tasks.get(id))!.state, 'claimed');
  assert.not.ok(g.running[0]!.signal.aborted);
  g.running[0]!.finish('late but fine');
  const row = await h.tasks.wait(id);
  assert.equal([row.state, row.result, row.attempts], ['done', 'late but fine', 1]);
});

tasks('SQLite: a submit reaches its push in one commit, a done and the next push share one commit, a done with nothing pending reads nothing', async (ctx) => {
  ctx.h = await startTaskHarness();
  const { h } = ctx;
  // The task store's commits (GroupCommit runs each batch as one immediate transaction).
  let base = h.store.commits;
  const commitsSince = () => h.store.commits - base;
  const raw = await h.raw('one-slot');
  raw.send(frame('subscribe', { subscriberId: 'one-slot', actions: [], tasks: [{ name: 'job', filter: {} }], taskCapacity: 1 }));
  await flush();
  base = h.store.commits;
  const first = await h.tasks.submit({ name: 'job', data: 1 });
  await until(async () => raw.of('task_push').length === 1, 'first pushed');
  assert.is(commitsSince(), 1, 'insert, read and lease in one commit');
  const second = await h.tasks.submit({ name: 'job', data: 2 });
  await flush();
  assert.is(raw.of('task_push').length, 1, 'one slot: the second waits');
  base = h.store.commits;
  raw.send(frame('task_done', { re: first, lease: raw.of('task_push')[0]!.lease, result: encodeValue('one') }));
  await until(async () => raw.of('task_push').length === 2, 'second pushed');
  assert.is(commitsSince(), 1, 'the end of the first and the lease of the second in one commit');
  assert.is(raw.of('task_push')[1]!.id, second);
  assert.equal((await h.tasks.wait(first)).result, 'one');
  // Nothing waits now: the slot the second frees costs no read of pending rows.
  const leasePending = h.store.leasePending.bind(h.store);
  let reads = 0;
  h.store.leasePending = (...args) => (reads++, leasePending(...args));
  raw.send(frame('task_done', { re: second, lease: raw.of('task_push')[1]!.lease, result: encodeValue('two') }));
  assert.equal((await h.tasks.wait(second)).result, 'two');
  await flush();
  assert.is(reads, 0, 'no pump for a freed slot with nothing pending');
  const third = await h.tasks.submit({ name: 'job', data: 3 });
  await until(async () => raw.of('task_push').length === 3, 'third pushed');
  assert.equal([reads, raw.of('task_push')[2]!.id], [1, third], 'a submit still pumps');
});

tasks('a lease that is not renewed is revoked and pushed again; the old lease is then refused (STALE_LEASE), an unknown task too (UNKNOWN_TASK)', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  const raw = await h.raw('silent');
  raw.send(frame('subscribe', { subscriberId: 'silent', actions: [], tasks: [{ name: 'job', filter: {} }], taskCapacity: 1 }));
  await flush();
  const id = (await h.tasks.submit({ name: 'job', data: 7 }));
  await until(async () => raw.of('task_push').length === 1, 'leased to the raw worker');
  const pushed = raw.of('task_push')[0]!;
  assert.equal([pushed.id, pushed.name, decodeValue(pushed.data), pushed.ttlMs], [id, 'job', 7, 3000], 'the push carries the task and its lease');
  const oldLease = pushed.lease;
  // No renewal: the sweep after ttl revokes it.
  h.clock.increment(2999);
  await flush();
  assert.is(raw.of('task_revoked').length, 0);
  h.clock.increment(100);
  await until(async () => raw.of('task_revoked').length === 1, 'revoked');
  assert.match(raw.of('task_revoked')[0]!.reason, /lease expired/);
  // The raw worker gets it again (it is the only one) under a new lease.
  await until(async () => raw.of('task_push').length === 2, 'pushed again');
  assert.is.not(raw.of('task_push')[1]!.lease, oldLease);
  raw.send(frame('task_done', { re: id, lease: oldLease, result: encodeValue('stale') }));
  await until(async () => raw.of('error').length === 1, 'refused');
  assert.is(raw.of('error')[0]!.error.code, 'STALE_LEASE');
  assert.is(raw.of('error')[0]!.re, id);
  assert.is((await h.tasks.get(id))!.state, 'claimed');
  raw.send(frame('task_failed', { re: 'no-such-task', lease: oldLease, error: { code: 'IO_ERROR', message: 'x', retryable: false } }));
  await until(async () => raw.of('error').length === 2, 'refused again');
  assert.equal([raw.of('error')[1]!.re, raw.of('error')[1]!.error.code], ['no-such-task', 'UNKNOWN_TASK']);
  raw.send(frame('task_done', { re: id, lease: raw.of('task_push')[1]!.lease, result: encodeValue('fresh') }));
  const row = await h.tasks.wait(id);
  assert.equal([row.result, row.attempts], ['fresh', 2]);
});

tasks('a rejected push is pending again, unrun and uncounted, and goes to another worker; a stale rejection changes nothing', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  const raw = await h.raw('picky');
  raw.send(frame('subscribe', { subscriberId: 'picky', actions: [], tasks: [{ name: 'job', filter: { cloud: ['aws'] } }], taskCapacity: 1 }));
  await flush();
  const id = await h.tasks.submit({ name: 'job', attrs: { cloud: 'aws' } });
  await until(async () => raw.of('task_push').length === 1, 'pushed');
  const { lease } = raw.of('task_push')[0]!;
  raw.send(frame('task_rejected', { re: id, lease: 'not-the-lease', reason: 'stale' }));
  await flush(10);
  assert.is((await h.tasks.get(id))!.state, 'claimed', 'a rejection with another lease is ignored');
  raw.send(frame('task_rejected', { re: id, lease, reason: 'changed my mind' }));
  await until(async () => (await h.tasks.get(id))!.state === 'pending', 'pending again');
  assert.is((await h.tasks.get(id))!.attempts, 0, 'a rejected lease is not an attempt');
  await flush(10);
  assert.is(raw.of('task_push').length, 1, 'not pushed back to the connection that rejected it');
  await h.worker('backup', (t) => t.handle('job', {}, () => 'backup did it'));
  const row = await h.tasks.wait(id);
  assert.equal([row.state, row.worker, row.result, row.attempts], ['done', 'backup', 'backup did it', 1]);
});

tasks('a disconnected worker loses its claims; the tasks go to another worker and finish once', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  const g = gate();
  const first = await h.worker('first', (t) => t.handle('job', {}, g.handler), { concurrency: 2, prefetch: 0 });
  const ids = [(await h.tasks.submit({ name: 'job' })), (await h.tasks.submit({ name: 'job' }))];
  await until(async () => g.running.length === 2, 'both running on first');
  const ranOnSecond: string[] = [];
  await h.worker('second', (t) => t.handle('job', {}, (task) => (ranOnSecond.push(task.id), 'second')));
  first.transport().terminate();
  await until(async () => g.running.every((r) => r.signal.aborted), 'first aborted its handlers');
  const rows = await Promise.all(ids.map((id) => h.tasks.wait(id)));
  assert.equal(rows.map((r) => [r.state, r.worker, r.result, r.attempts]), [
    ['done', 'second', 'second', 2],
    ['done', 'second', 'second', 2],
  ]);
  assert.equal(ranOnSecond.sort(), [...ids].sort());
  // The aborted handlers finishing late change nothing.
  for (const r of g.running) r.finish('too late');
  await flush();
  assert.equal((await Promise.all(ids.map((id) => h.tasks.get(id)))).map((row) => row!.result), ['second', 'second']);
});

tasks('a task no worker can handle fails at its deadline with the clear NO_WORKER error', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  await h.worker('aws', (t) => t.handle('tag', { cloud: ['aws'] }, () => 'x'));
  const id = (await h.tasks.submit({ name: 'tag', attrs: { cloud: 'gcp', account: '7' }, deadlineMs: 2000 }));
  const result = h.tasks.wait(id);
  h.clock.increment(1900);
  await flush();
  assert.is((await h.tasks.get(id))!.state, 'pending');
  h.clock.increment(200);
  const row = await result;
  assert.equal([row.state, row.error?.code], ['failed', 'NO_WORKER']);
  assert.is(row.error?.message, 'No worker for task tag with attributes {account=7, cloud=gcp} within its deadline of 2 s');
});

tasks('tasks.submit (the method behind `cla-hub task submit`) reaches the dispatcher at once, with no poll', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const { h } = ctx;
  await h.worker('w1', (t) => t.handle('echo', {}, (task) => task.data));
  const { id } = (await h.hub.methods.call('tasks.submit', { name: 'echo', data: 'hi' })) as { id: string };
  // The simulated clock never moves: only the submission itself can have started the push.
  const row = await h.tasks.wait(id);
  assert.equal([row.state, row.result], ['done', 'hi']);
  const shown = (await h.hub.methods.call('tasks.show', { id })) as { state: string };
  assert.is(shown.state, 'done');
  const code = await h.hub.methods.call('tasks.show', { id: 'nope' }).then(() => 'answered', (error: { code: string }) => error.code);
  assert.is(code, 'UNKNOWN_TASK');
});

tasks('a hub restart returns claimed tasks to pending; the reconnected worker finishes them', async (ctx) => {
  const first = await startTaskHarness(LEASE);
  const g = gate();
  await first.worker('w1', (t) => t.handle('job', {}, g.handler), { concurrency: 1, prefetch: 1 });
  const ids = [(await first.tasks.submit({ name: 'job' })), (await first.tasks.submit({ name: 'job' })), (await first.tasks.submit({ name: 'job' }))];
  await until(async () => g.running.length === 1, 'one running');
  assert.equal((await first.tasks.counts()), { pending: 1, claimed: 2, done: 0, failed: 0 });
  const { mainStore, clock } = first;
  // The hub goes away as in a crash: connections drop, the tasks stay in the store as they were.
  await first.stopHub();
  assert.ok(g.running[0]!.signal.aborted, 'the worker aborted its handler on the disconnect');
  assert.equal((await first.store.counts()), { pending: 1, claimed: 2, done: 0, failed: 0 });
  const second = await startTaskHarness(LEASE, { mainStore, clock });
  try {
    assert.equal((await second.tasks.counts()), { pending: 3, claimed: 0, done: 0, failed: 0 });
    await second.worker('w2', (t) => t.handle('job', {}, (task) => `again ${task.id}`));
    const rows = await Promise.all(ids.map((id) => second.tasks.wait(id)));
    assert.ok(rows.every((r) => r.state === 'done' && r.worker === 'w2'));
  } finally {
    await second.close();
    await first.close();
  }
});

tasks('subscribe is read by the dispatcher and left for the next extension; no BAD_FRAME comes back', async (ctx) => {
  ctx.h = await startTaskHarness(LEASE);
  const raw = await ctx.h.raw('plain');
  raw.send(frame('subscribe', { subscriberId: 'plain', actions: [{ action: 'collect', waitForCompletion: true, timeoutMs: 1000 }], tasks: [], taskCapacity: 1 }));
  await flush();
  assert.equal(raw.of('error'), []);
});

tasks.run();
