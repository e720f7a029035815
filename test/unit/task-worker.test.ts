/**
 * The worker's side alone: TaskExtension against a fake ExtensionContext (frames recorded, pause/resume
 * counted, time on a SimulatedClock), the shared subscribe frame, the built-in handlers and the options.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { ClaError } from '../../src/errors.ts';
import { decodeFrame, encodeValue } from '../../src/protocol/codec.ts';
import { silentLogger } from '../../src/logger.ts';
import { frame, type Frame, type FrameOf } from '../../src/protocol/frames.ts';
import type { ExtensionContext } from '../../src/worker/agent-extension.ts';
import { WorkerPolicy } from '../../src/worker/policy.ts';
import { SubscribeExtension, SubscriptionRegistry } from '../../src/worker/subscriptions.ts';
import { builtinHandler, shellHandler } from '../../src/worker/tasks/builtin-handlers.ts';
import { MAX_TASK_CAPACITY, TaskExtension, defaultTaskPrefetch } from '../../src/worker/tasks/task-extension.ts';
import { parseTaskHandlerSpec, parseTaskOptions } from '../../src/worker/tasks/task-options.ts';
import { WorkLoad } from '../../src/worker/work-load.ts';
import { flush } from './task-harness.ts';

function fakeContext() {
  const clock = new SimulatedClock();
  const sent: Frame[] = [];
  /** The bytes of each frame sent already encoded (`sendEncoded`), in order. */
  const encoded: Uint8Array[] = [];
  const calls: string[] = [];
  /** The agent's one capacity model; `reports` is what its lifecycle machine hears (LOAD). */
  const reports: number[] = [];
  const load = new WorkLoad({ job: 1 }, (running) => reports.push(running));
  const ctx: ExtensionContext = {
    workerId: 'w1',
    tags: [],
    clock,
    log: silentLogger(),
    send: (f) => void sent.push(f),
    sendEncoded: (e) => {
      sent.push(e.frame);
      encoded.push(e.bytes);
    },
    trackWork: (kind) => load.take(kind),
    pause: () => void calls.push('pause'),
    resume: () => void calls.push('resume'),
  };
  const of = <T extends Frame['t']>(t: T) => sent.filter((f) => f.t === t) as Array<FrameOf<T>>;
  return { ctx, clock, sent, encoded, calls, load, reports, of };
}

function gate() {
  const running: Array<{ id: string; signal: AbortSignal; finish: (value: unknown) => void }> = [];
  const handler = (task: { id: string }, { signal }: { signal: AbortSignal }) => new Promise((finish) => running.push({ id: task.id, signal, finish }));
  return { running, handler };
}

const push = (id: string, name = 'job', attrs: Record<string, string> = {}, ttlMs = 3000) =>
  frame('task_push', { id, name, attrs, data: encodeValue({ n: id }), lease: `L-${id}`, ttlMs });

function setup(concurrency: number, prefetch: number) {
  const f = fakeContext();
  const g = gate();
  const registry = new SubscriptionRegistry('w1');
  const tasks = new TaskExtension(registry, { concurrency, prefetch }).handle('job', {}, g.handler);
  tasks.welcomed(f.ctx);
  const deliver = (frame_: Frame) => tasks.frame(frame_, f.ctx);
  return { ...f, g, tasks, registry, deliver };
}

test('runs a pushed lease at once, renews at ttl/3, ends with task_done carrying the lease: nothing else sent', async () => {
  const s = setup(2, 0);
  assert.ok(s.deliver(push('a', 'job', {}, 3000)));
  await flush();
  assert.equal(s.g.running.map((r) => r.id), ['a']);
  assert.equal(s.g.running.length, 1);
  assert.is(s.load.running('task'), 1, 'the agent waits for running tasks on stop');
  s.clock.increment(999);
  assert.equal(s.of('task_renew'), []);
  s.clock.increment(1);
  s.clock.increment(1000);
  assert.equal(s.of('task_renew'), [frame('task_renew', { re: 'a', lease: 'L-a' }), frame('task_renew', { re: 'a', lease: 'L-a' })]);
  s.g.running[0]!.finish({ ok: 1 });
  await flush();
  assert.equal(s.sent.filter((f) => f.t !== 'task_renew'), [frame('task_done', { re: 'a', lease: 'L-a', result: encodeValue({ ok: 1 }) })], 'one answer per task');
  assert.is(s.load.running(), 0);
  s.clock.increment(5000);
  assert.is(s.of('task_renew').length, 2, 'no renewals after the end');
  assert.is(s.tasks.heldCount(), 0);
});

test('each held task is a unit of the worker load; the lifecycle hears only when it leaves and reaches zero', async () => {
  const f = fakeContext();
  const g = gate();
  const tasks = new TaskExtension(new SubscriptionRegistry('w1'), { concurrency: 3, prefetch: 0 }).handle('job', {}, g.handler);
  tasks.welcomed(f.ctx);
  for (const id of ['a', 'b', 'c']) tasks.frame(push(id), f.ctx);
  await flush();
  assert.is(g.running.length, 3);
  assert.is(f.load.running('task'), 3);
  for (const r of g.running) r.finish(1);
  await flush();
  assert.equal(f.reports, [3, 0], 'two lifecycle events for three tasks (the load when it left zero, at the end of that turn; then zero)');
});

test('queued tasks hold the load too; a revoked running task holds it until its handler returns', async () => {
  const f = fakeContext();
  const g = gate();
  const tasks = new TaskExtension(new SubscriptionRegistry('w1'), { concurrency: 1, prefetch: 2 }).handle('job', {}, g.handler);
  tasks.welcomed(f.ctx);
  for (const id of ['a', 'b', 'c']) tasks.frame(push(id), f.ctx);
  for (let i = 0; i < 3; i++) {
    await flush();
    assert.is(f.load.running('task'), 3 - i, `before task ${i} ends`);
    g.running[i]!.finish(i);
    await flush();
    assert.equal(f.reports, i < 2 ? [3] : [3, 0], `after task ${i}`);
  }
  tasks.frame(push('d'), f.ctx);
  await flush();
  tasks.frame(frame('task_revoked', { re: 'd', reason: 'lease expired' }), f.ctx);
  assert.is(tasks.heldCount(), 0);
  assert.equal(f.reports, [3, 0, 1], 'the aborted handler still runs');
  g.running[3]!.finish('late');
  await flush();
  assert.equal(f.reports, [3, 0, 1, 0]);
  // A queued task dropped before it ran (disconnect) releases at once.
  tasks.frame(push('e'), f.ctx);
  tasks.frame(push('f'), f.ctx);
  await flush();
  tasks.disconnected();
  assert.is(f.load.running('task'), 1, 'e runs (aborted) until its handler returns; f was only queued');
  g.running[4]!.finish('gone');
  await flush();
  assert.is(f.load.running(), 0);
  assert.equal(f.sent.filter((x) => x.t === 'task_done').map((x) => (x as FrameOf<'task_done'>).re), ['a', 'b', 'c'], 'no result after a revoke or a disconnect');
});

test('concurrency bounds the running tasks; prefetched ones wait in the queue', async () => {
  const s = setup(1, 2);
  for (const id of ['a', 'b', 'c']) s.deliver(push(id));
  await flush();
  assert.equal(s.g.running.map((r) => r.id), ['a']);
  s.g.running[0]!.finish(1);
  await flush();
  assert.equal(s.g.running.map((r) => r.id), ['a', 'b']);
  assert.is(s.registry.frame().taskCapacity, 3, 'announced capacity: concurrency + prefetch');
});

test('a push beyond capacity pauses reading from the hub; a freed slot takes it and resumes', async () => {
  const s = setup(1, 1);
  s.deliver(push('a'));
  s.deliver(push('b'));
  assert.equal(s.calls, [], 'full is not a reason to pause');
  s.deliver(push('c'));
  assert.equal(s.calls, ['pause']);
  s.deliver(push('d'));
  assert.equal(s.calls, ['pause'], 'paused once');
  assert.is(s.tasks.heldCount(), 2);
  await flush();
  s.g.running[0]!.finish('a done');
  await flush();
  assert.is(s.tasks.heldCount(), 2, 'one slot: one overflowed push taken');
  assert.equal(s.calls, ['pause'], 'still one push waiting');
  s.g.running[1]!.finish('b done');
  await flush();
  assert.equal(s.calls, ['pause'], 'full again (c running, d queued): still paused');
  s.g.running[2]!.finish('c done');
  await flush();
  assert.equal(s.calls, ['pause', 'resume'], 'a free slot and nothing waiting: reading again');
  assert.equal(s.g.running.map((r) => r.id), ['a', 'b', 'c', 'd']);
});

test('task_revoked: a queued task never runs, a running one is aborted and reports nothing', async () => {
  const s = setup(1, 1);
  for (const id of ['a', 'b']) s.deliver(push(id));
  await flush();
  s.deliver(frame('task_revoked', { re: 'b', reason: 'lease expired' }));
  s.deliver(frame('task_revoked', { re: 'a', reason: 'lease expired' }));
  assert.ok(s.g.running[0]!.signal.aborted);
  assert.instance(s.g.running[0]!.signal.reason, ClaError);
  s.g.running[0]!.finish('too late');
  await flush();
  assert.equal(s.g.running.map((r) => r.id), ['a']);
  assert.equal([...s.of('task_done'), ...s.of('task_failed')], []);
  assert.is(s.tasks.heldCount(), 0);
});

test('a duplicate push of a held task is ignored', async () => {
  const s = setup(2, 0);
  s.deliver(push('a'));
  s.deliver(push('a'));
  await flush();
  assert.equal(s.g.running.map((r) => r.id), ['a']);
  assert.is(s.tasks.heldCount(), 1);
});

test('disconnected aborts everything; nothing is sent for it afterwards', async () => {
  const s = setup(2, 2);
  for (const id of ['a', 'b', 'c', 'd']) s.deliver(push(id));
  await flush();
  s.tasks.disconnected();
  assert.ok(s.g.running.every((r) => r.signal.aborted));
  for (const r of s.g.running) r.finish('late');
  await flush();
  s.clock.increment(10_000);
  assert.equal(s.sent, []);
  assert.is(s.tasks.heldCount(), 0);
});

test('handler errors become task_failed with their code; a non-plain result fails with INVALID_ARGUMENT', async () => {
  const f = fakeContext();
  const tasks = new TaskExtension(new SubscriptionRegistry('w1'))
    .handle('throws', {}, () => {
      throw new ClaError('IO_ERROR', 'disk full', { retryable: true });
    })
    .handle('date', {}, () => new Date(0));
  tasks.frame(push('a', 'throws'), f.ctx);
  tasks.frame(push('b', 'date'), f.ctx);
  await flush();
  const failed = f.of('task_failed');
  assert.equal(failed.map((x) => [x.re, x.error.code]), [['a', 'IO_ERROR'], ['b', 'INVALID_ARGUMENT']]);
  assert.is(failed[0]!.error.retryable, true);
});

test('data bytes that are not one msgpack plain value fail the task with INVALID_ARGUMENT; its handler never runs', async () => {
  const f = fakeContext();
  const ran: string[] = [];
  const tasks = new TaskExtension(new SubscriptionRegistry('w1')).handle('job', {}, (task) => (ran.push(task.id), 'ok'));
  // A msgpack timestamp (msgpackr decodes it to a Date), then bytes cut short.
  tasks.frame(frame('task_push', { id: 'date', name: 'job', attrs: {}, data: Buffer.from([0xd6, 0xff, 0, 0, 0, 0]), lease: 'L-date', ttlMs: 3000 }), f.ctx);
  tasks.frame(frame('task_push', { id: 'cut', name: 'job', attrs: {}, data: Buffer.from([0x92, 0x01]), lease: 'L-cut', ttlMs: 3000 }), f.ctx);
  await flush();
  const failed = f.of('task_failed');
  assert.equal(failed.map((x) => [x.re, x.lease, x.error.code]), [['date', 'L-date', 'INVALID_ARGUMENT'], ['cut', 'L-cut', 'INVALID_ARGUMENT']]);
  assert.match(failed[0]!.error.message, /The data of task date \(job\) is not plain data .*: submit nil, booleans/);
  assert.match(failed[1]!.error.message, /The data of task cut \(job\) is not msgpack: Value is not valid msgpack \(2 bytes\)/);
  assert.equal(ran, []);
});

test('a result over the frame limit fails the task instead of costing the connection', async () => {
  const f = fakeContext();
  const tasks = new TaskExtension(new SubscriptionRegistry('w1')).handle('big', {}, () => 'x'.repeat(2 * 1024 * 1024));
  tasks.frame(push('a', 'big'), f.ctx);
  await flush();
  assert.equal(f.of('task_done'), []);
  assert.match(f.of('task_failed')[0]!.error.message, /over the 1048576-byte frame limit/);
});

test('a large result goes out in the bytes it was measured in: its frame is encoded once (issue 9)', async () => {
  const f = fakeContext();
  const result = { text: 'x'.repeat(64 * 1024) };
  const tasks = new TaskExtension(new SubscriptionRegistry('w1'))
    .handle('big', {}, () => result)
    .handle('small', {}, () => 'ok');
  tasks.frame(push('a', 'big'), f.ctx);
  tasks.frame(push('b', 'small'), f.ctx);
  await flush();
  assert.equal(f.of('task_done').map((x) => x.re), ['a', 'b']);
  // The small result is left to the channel's one encode; the large one was encoded to measure it.
  assert.is(f.encoded.length, 1);
  assert.equal(decodeFrame(f.encoded[0]!), frame('task_done', { re: 'a', lease: 'L-a', result: encodeValue(result) }));
});

test('a push no local handler matches is rejected at once with its lease, and never runs', async () => {
  const s = setup(1, 0);
  s.deliver(push('x', 'other', { cloud: 'aws' }));
  await flush();
  const [rejected] = s.of('task_rejected');
  assert.equal([rejected?.re, rejected?.lease], ['x', 'L-x']);
  assert.match(rejected!.reason, /no handler on this worker matches task other with attributes \{cloud=aws\}/);
  assert.is(s.tasks.heldCount(), 0);
  assert.is(s.g.running.length, 0);
});

test('stop: queued and overflowed tasks are rejected back to the hub, running ones finish and report', async () => {
  const s = setup(1, 1);
  for (const id of ['a', 'b', 'c']) s.deliver(push(id));
  await flush();
  const stopped = s.tasks.stop();
  assert.equal(s.of('task_rejected').map((x) => x.re).sort(), ['b', 'c']);
  s.deliver(push('d'));
  assert.equal(s.of('task_rejected').map((x) => x.re).sort(), ['b', 'c', 'd'], 'pushes while stopping are rejected');
  s.g.running[0]!.finish('a');
  await stopped;
  assert.equal(s.of('task_done').map((x) => x.re), ['a']);
  assert.equal(s.g.running.map((r) => r.id), ['a']);
});

test('one subscribe frame for actions and task handlers, sent on welcome and on change while connected', () => {
  const f = fakeContext();
  const registry = new SubscriptionRegistry('sub-1');
  const extension = new SubscribeExtension(registry);
  new TaskExtension(registry, { concurrency: 3 }).handle('tag', { cloud: ['aws'] }, () => null); // default prefetch 16
  registry.addAction({ action: 'collect', waitForCompletion: true, timeoutMs: 60_000 });
  assert.equal(f.sent, []);
  extension.welcomed(f.ctx);
  assert.equal(f.sent, [
    frame('subscribe', {
      subscriberId: 'sub-1',
      actions: [{ action: 'collect', waitForCompletion: true, timeoutMs: 60_000 }],
      tasks: [{ name: 'tag', filter: { cloud: ['aws'] } }],
      taskCapacity: 19,
    }),
  ]);
  registry.addAction({ action: 'cleanup', waitForCompletion: false, timeoutMs: 1000 });
  assert.is(f.sent.length, 2);
  assert.equal((f.sent[1] as FrameOf<'subscribe'>).actions.map((a) => a.action), ['collect', 'cleanup']);
  extension.disconnected();
  registry.addAction({ action: 'collect', waitForCompletion: false, timeoutMs: 5 });
  assert.is(f.sent.length, 2, 'not sent while disconnected');
  assert.is(registry.actions().length, 2, 'an action subscribes once');
});

test('built-in handlers: echo returns its data, shell returns code and output, unknown names are refused', async () => {
  const signal = new AbortController().signal;
  const task = (data: unknown) => ({ id: 't', name: 'x', attrs: {}, data });
  assert.equal(await builtinHandler('echo')(task({ a: [1] }), { signal }), { a: [1] });
  const result = (await shellHandler()(task({ cmd: 'echo out; echo err >&2; exit 3' }), { signal })) as Record<string, unknown>;
  assert.equal(result, { code: 3, signal: null, timedOut: false, stdout: 'out\n', stderr: 'err\n' });
  try {
    await shellHandler()(task({ nope: 1 }), { signal });
    assert.unreachable();
  } catch (error) {
    assert.is((error as ClaError).code, 'INVALID_ARGUMENT');
  }
  assert.throws(() => builtinHandler('nope'), /among echo, shell/);
  assert.throws(() => builtinHandler('shell', { policy: new WorkerPolicy({ deny: ['exec'] }) }), /needs the `exec` verb/);
});

test('shell: aborting the task cancels the command', async () => {
  const abort = new AbortController();
  const running = shellHandler()({ id: 't', name: 'shell', attrs: {}, data: { cmd: ['sleep', '30'] } }, { signal: abort.signal });
  await flush(20); // I/O turns, not time: the spawn is usually under way by now, and either way it must end
  abort.abort();
  const result = (await running) as { code: number | null; signal: string | null };
  assert.ok(result.code !== 0, `ended by the cancel: ${JSON.stringify(result)}`);
});

test('options: handler specs with filters, concurrency from flags or environment', () => {
  assert.equal(parseTaskHandlerSpec('echo'), { name: 'echo', filter: {} });
  assert.equal(parseTaskHandlerSpec('shell:cloud=aws,account=1,account=2,account=1'), { name: 'shell', filter: { cloud: ['aws'], account: ['1', '2'] } });
  assert.throws(() => parseTaskHandlerSpec('tag'), /Expected `--task-handler` to name a handler among echo, shell/);
  assert.throws(() => parseTaskHandlerSpec('echo:cloud'), /attr=value/);
  assert.equal(parseTaskOptions({}, {}), { concurrency: 4, handlers: [] });
  assert.equal(parseTaskOptions({ taskConcurrency: '8', taskHandler: ['echo'] }, { CLA_WORKER_TASK_CONCURRENCY: '2' }), { concurrency: 8, handlers: [{ name: 'echo', filter: {} }] });
  assert.equal(parseTaskOptions({}, { CLA_WORKER_TASK_CONCURRENCY: '2', CLA_WORKER_TASK_HANDLERS: 'echo shell:cloud=aws' }), {
    concurrency: 2,
    handlers: [{ name: 'echo', filter: {} }, { name: 'shell', filter: { cloud: ['aws'] } }],
  });
  assert.throws(() => parseTaskOptions({ taskConcurrency: '0' }, {}), /Expected `--task-concurrency` to be a positive integer up to 10000, got `0` \(string\)/);
  assert.throws(() => new TaskExtension(new SubscriptionRegistry('x'), { concurrency: 0 }), /Expected `concurrency` to be a positive integer, got `0` \(number\)/);
});

test('prefetch: max(concurrency, 16) by default, within the 10000 a worker may announce; --task-prefetch or the environment sets it', () => {
  const capacity = (options: { concurrency: number; prefetch?: number }) => new TaskExtension(new SubscriptionRegistry('x'), options).capacity;
  assert.is(capacity({ concurrency: 1 }), 17);
  assert.is(capacity({ concurrency: 4 }), 20);
  assert.is(capacity({ concurrency: 100 }), 200);
  assert.is(capacity({ concurrency: 9_990 }), MAX_TASK_CAPACITY, 'the default is cut to fit');
  assert.is(defaultTaskPrefetch(MAX_TASK_CAPACITY), 0);
  assert.is(capacity({ concurrency: 2, prefetch: 0 }), 2);
  assert.throws(() => capacity({ concurrency: 2, prefetch: 9_999 }), /Expected `prefetch` to be a non-negative integer, at most 10000 with `concurrency` \(2\), got `9999`/);
  assert.equal(parseTaskOptions({ taskPrefetch: '0' }, { CLA_WORKER_TASK_PREFETCH: '5' }), { concurrency: 4, prefetch: 0, handlers: [] });
  assert.equal(parseTaskOptions({}, { CLA_WORKER_TASK_PREFETCH: '5' }), { concurrency: 4, prefetch: 5, handlers: [] });
  assert.throws(() => parseTaskOptions({ taskPrefetch: '-1' }, {}), /Expected `--task-prefetch` to be an integer from 0 to 9996 \(10000 less the task concurrency\), got `-1` \(string\)/);
  assert.throws(() => parseTaskOptions({ taskConcurrency: '10', taskPrefetch: '9991' }, {}), /from 0 to 9990/);
});

test('one timer renews every held lease, queued ones too, so a lease never runs out while its task waits', async () => {
  const s = setup(1, 3);
  s.deliver(push('a', 'job', {}, 3000));
  s.clock.increment(100);
  s.deliver(push('b', 'job', {}, 3000));
  s.clock.increment(100);
  s.deliver(push('c', 'job', {}, 3000));
  await flush();
  assert.equal(s.g.running.map((r) => r.id), ['a'], 'b and c wait in the queue');
  s.clock.increment(800); // t = 1000: a is due; b and c are due within a third of their interval: renewed with it
  assert.equal(s.of('task_renew').map((x) => x.re), ['a', 'b', 'c']);
  for (let t = 0; t < 6; t++) s.clock.increment(1000); // t = 7000, past each lease's 3000 ms ttl twice over
  assert.is(s.of('task_renew').length, 3 * 7, 'every held lease renewed once a second');
  s.g.running[0]!.finish('a');
  await flush();
  s.clock.increment(1000);
  assert.equal(s.of('task_renew').slice(-2).map((x) => x.re), ['b', 'c'], 'a finished: no longer renewed');
  s.g.running[1]!.finish('b');
  await flush();
  s.g.running[2]!.finish('c');
  await flush();
  const renewed = s.of('task_renew').length;
  s.clock.increment(10_000);
  assert.is(s.of('task_renew').length, renewed, 'nothing held: no renewals');
  assert.equal(s.of('task_done').map((x) => x.re), ['a', 'b', 'c']);
});

test('a task revoked while queued frees its slot at once and its handler never runs; the signal is made on demand', async () => {
  const s = setup(1, 1);
  const reads: boolean[] = [];
  let proceed!: () => void;
  const revoked = new Promise<void>((resolve) => (proceed = resolve));
  s.registry.addTaskHandler({ name: 'late-signal', filter: {} }, async (task, context) => {
    await revoked;
    reads.push(context.signal.aborted);
    return task.id;
  });
  s.deliver(push('a'));
  s.deliver(push('b'));
  s.deliver(frame('task_revoked', { re: 'b', reason: 'lease expired' }));
  assert.is(s.tasks.heldCount(), 1, 'b left at once');
  s.deliver(push('c'));
  assert.equal(s.calls, [], 'b\'s slot was free again: c fits without a pause');
  await flush();
  s.g.running[0]!.finish('a');
  await flush();
  assert.equal(s.g.running.map((r) => r.id), ['a', 'c'], 'b never ran');
  s.g.running[1]!.finish('c');
  await flush();
  // A handler that reads its signal only after the task was revoked sees it aborted.
  s.deliver(push('d', 'late-signal'));
  s.deliver(frame('task_revoked', { re: 'd', reason: 'lease expired' }));
  await flush();
  assert.equal(s.of('task_done').map((x) => x.re), ['a', 'c']);
  s.deliver(push('e', 'late-signal'));
  await flush();
  s.deliver(frame('task_revoked', { re: 'e', reason: 'stale' }));
  proceed();
  await flush(5);
  assert.equal(reads, [true], 'd never ran; e read its signal after its revocation: aborted');
  assert.equal(s.of('task_done').map((x) => x.re), ['a', 'c'], 'no result after a revocation');
  assert.is(s.load.running(), 0);
});

test.run();
