/**
 * The worker's side alone: TaskExtension against a fake ExtensionContext (frames recorded, pause/resume
 * counted, time on a SimulatedClock), the shared subscribe frame, the built-in handlers and the options.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { ClaError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { frame, type Frame, type FrameOf } from '../../src/protocol/frames.ts';
import type { ExtensionContext } from '../../src/worker/agent-extension.ts';
import { WorkerPolicy } from '../../src/worker/policy.ts';
import { SubscribeExtension, SubscriptionRegistry } from '../../src/worker/subscriptions.ts';
import { builtinHandler, shellHandler } from '../../src/worker/tasks/builtin-handlers.ts';
import { TaskExtension } from '../../src/worker/tasks/task-extension.ts';
import { parseTaskHandlerSpec, parseTaskOptions } from '../../src/worker/tasks/task-options.ts';
import { flush } from './task-harness.ts';

function fakeContext() {
  const clock = new SimulatedClock();
  const sent: Frame[] = [];
  const calls: string[] = [];
  const work = new Set<string>();
  const ctx: ExtensionContext = {
    workerId: 'w1',
    tags: [],
    clock,
    log: silentLogger(),
    send: (f) => void sent.push(f),
    trackWork: (id) => {
      work.add(id);
      return () => work.delete(id);
    },
    pause: () => void calls.push('pause'),
    resume: () => void calls.push('resume'),
  };
  const of = <T extends Frame['t']>(t: T) => sent.filter((f) => f.t === t) as Array<FrameOf<T>>;
  return { ctx, clock, sent, calls, work, of };
}

function gate() {
  const running: Array<{ id: string; signal: AbortSignal; finish: (value: unknown) => void }> = [];
  const handler = (task: { id: string }, { signal }: { signal: AbortSignal }) => new Promise((finish) => running.push({ id: task.id, signal, finish }));
  return { running, handler };
}

const offer = (id: string, name = 'job', attrs: Record<string, string> = {}) => frame('task_offer', { id, name, attrs, data: { n: id } });
const lease = (id: string, ttlMs = 3000) => frame('task_lease', { re: id, lease: `L-${id}`, ttlMs });

function setup(concurrency: number, prefetch: number) {
  const f = fakeContext();
  const g = gate();
  const registry = new SubscriptionRegistry('w1');
  const tasks = new TaskExtension(registry, { concurrency, prefetch }).handle('job', {}, g.handler);
  tasks.welcomed(f.ctx);
  const deliver = (frame_: Frame) => tasks.frame(frame_, f.ctx);
  return { ...f, g, tasks, registry, deliver };
}

test('claims an offer, runs it once leased, renews at ttl/3, ends with task_done carrying the lease', async () => {
  const s = setup(2, 0);
  assert.ok(s.deliver(offer('a')));
  assert.equal(s.of('task_claim'), [frame('task_claim', { re: 'a' })]);
  assert.is(s.g.running.length, 0, 'nothing runs before the lease');
  s.deliver(lease('a', 3000));
  await flush();
  assert.equal(s.g.running.map((r) => r.id), ['a']);
  assert.ok(s.work.has('task:a'), 'the agent waits for it on stop');
  s.clock.increment(999);
  assert.equal(s.of('task_renew'), []);
  s.clock.increment(1);
  s.clock.increment(1000);
  assert.equal(s.of('task_renew'), [frame('task_renew', { re: 'a', lease: 'L-a' }), frame('task_renew', { re: 'a', lease: 'L-a' })]);
  s.g.running[0]!.finish({ ok: 1 });
  await flush();
  assert.equal(s.of('task_done'), [frame('task_done', { re: 'a', lease: 'L-a', result: { ok: 1 } })]);
  assert.not.ok(s.work.has('task:a'));
  s.clock.increment(5000);
  assert.is(s.of('task_renew').length, 2, 'no renewals after the end');
  assert.is(s.tasks.heldCount(), 0);
});

test('concurrency bounds the running tasks; prefetched ones wait in the queue', async () => {
  const s = setup(1, 2);
  for (const id of ['a', 'b', 'c']) {
    s.deliver(offer(id));
    s.deliver(lease(id));
  }
  await flush();
  assert.equal(s.g.running.map((r) => r.id), ['a']);
  s.g.running[0]!.finish(1);
  await flush();
  assert.equal(s.g.running.map((r) => r.id), ['a', 'b']);
  assert.is(s.registry.frame().taskCapacity, 3, 'announced capacity: concurrency + prefetch');
});

test('an offer beyond capacity pauses reading from the hub; a freed slot claims it and resumes', async () => {
  const s = setup(1, 1);
  s.deliver(offer('a'));
  s.deliver(offer('b'));
  assert.equal(s.calls, [], 'full is not a reason to pause');
  s.deliver(offer('c'));
  assert.equal(s.calls, ['pause']);
  s.deliver(offer('d'));
  assert.equal(s.calls, ['pause'], 'paused once');
  assert.equal(s.of('task_claim').map((f) => f.re), ['a', 'b']);
  s.deliver(lease('a'));
  s.deliver(lease('b'));
  await flush();
  s.g.running[0]!.finish('a done');
  await flush();
  assert.equal(s.of('task_claim').map((f) => f.re), ['a', 'b', 'c'], 'one slot: one overflowed offer claimed');
  assert.equal(s.calls, ['pause'], 'still one offer waiting');
  s.deliver(lease('c'));
  await flush();
  s.g.running[1]!.finish('b done');
  await flush();
  assert.equal(s.of('task_claim').map((f) => f.re), ['a', 'b', 'c', 'd']);
  s.deliver(frame('task_revoked', { re: 'd', reason: 'offer expired' }));
  assert.equal(s.calls, ['pause', 'resume']);
});

test('task_revoked: a queued task never runs, a running one is aborted and reports nothing', async () => {
  const s = setup(1, 1);
  for (const id of ['a', 'b']) {
    s.deliver(offer(id));
    s.deliver(lease(id));
  }
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

test('a refused claim (task_revoked before the lease) frees the slot', () => {
  const s = setup(1, 0);
  s.deliver(offer('a'));
  s.deliver(frame('task_revoked', { re: 'a', reason: 'claim refused' }));
  assert.is(s.tasks.heldCount(), 0);
  s.deliver(lease('a'));
  assert.is(s.tasks.heldCount(), 0, 'a lease for a forgotten claim is ignored');
});

test('disconnected aborts everything; nothing is sent for it afterwards', async () => {
  const s = setup(2, 2);
  for (const id of ['a', 'b', 'c']) {
    s.deliver(offer(id));
    s.deliver(lease(id));
  }
  s.deliver(offer('d'));
  await flush();
  s.tasks.disconnected();
  assert.ok(s.g.running.every((r) => r.signal.aborted));
  for (const r of s.g.running) r.finish('late');
  await flush();
  s.clock.increment(10_000);
  assert.equal(s.sent.filter((f) => f.t !== 'task_claim'), []);
  assert.is(s.tasks.heldCount(), 0);
});

test('handler errors become task_failed with their code; a non-plain result fails with INVALID_ARGUMENT', async () => {
  const f = fakeContext();
  const tasks = new TaskExtension(new SubscriptionRegistry('w1'))
    .handle('throws', {}, () => {
      throw new ClaError('IO_ERROR', 'disk full', { retryable: true });
    })
    .handle('date', {}, () => new Date(0));
  tasks.frame(offer('a', 'throws'), f.ctx);
  tasks.frame(lease('a'), f.ctx);
  tasks.frame(offer('b', 'date'), f.ctx);
  tasks.frame(lease('b'), f.ctx);
  await flush();
  const failed = f.of('task_failed');
  assert.equal(failed.map((x) => [x.re, x.error.code]), [['a', 'IO_ERROR'], ['b', 'INVALID_ARGUMENT']]);
  assert.is(failed[0]!.error.retryable, true);
});

test('a result over the frame limit fails the task instead of costing the connection', async () => {
  const f = fakeContext();
  const tasks = new TaskExtension(new SubscriptionRegistry('w1')).handle('big', {}, () => 'x'.repeat(2 * 1024 * 1024));
  tasks.frame(offer('a', 'big'), f.ctx);
  tasks.frame(lease('a'), f.ctx);
  await flush();
  assert.equal(f.of('task_done'), []);
  assert.match(f.of('task_failed')[0]!.error.message, /over the 1048576-byte frame limit/);
});

test('an offer no local handler matches is not claimed', () => {
  const s = setup(1, 0);
  s.deliver(offer('x', 'other'));
  assert.equal(s.of('task_claim'), []);
});

test('stop: queued tasks are dropped, running ones finish and report', async () => {
  const s = setup(1, 2);
  for (const id of ['a', 'b']) {
    s.deliver(offer(id));
    s.deliver(lease(id));
  }
  await flush();
  const stopped = s.tasks.stop();
  s.deliver(offer('c'));
  assert.equal(s.of('task_claim').map((x) => x.re), ['a', 'b'], 'no claims while stopping');
  s.g.running[0]!.finish('a');
  await stopped;
  assert.equal(s.of('task_done').map((x) => x.re), ['a']);
  assert.equal(s.g.running.map((r) => r.id), ['a']);
});

test('one subscribe frame for actions and task handlers, sent on welcome and on change while connected', () => {
  const f = fakeContext();
  const registry = new SubscriptionRegistry('sub-1');
  const extension = new SubscribeExtension(registry);
  new TaskExtension(registry, { concurrency: 3 }).handle('tag', { cloud: ['aws'] }, () => null);
  registry.addAction({ action: 'collect', waitForCompletion: true, timeoutMs: 60_000 });
  assert.equal(f.sent, []);
  extension.welcomed(f.ctx);
  assert.equal(f.sent, [
    frame('subscribe', {
      subscriberId: 'sub-1',
      actions: [{ action: 'collect', waitForCompletion: true, timeoutMs: 60_000 }],
      tasks: [{ name: 'tag', filter: { cloud: ['aws'] } }],
      taskCapacity: 6,
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

test.run();
