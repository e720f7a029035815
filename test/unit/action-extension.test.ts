/** The worker's action handling, with a fake extension context that records what would be sent. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { ClaError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { frame, type Frame, type FrameOf } from '../../src/protocol/frames.ts';
import type { ActionSubscription } from '../../src/protocol/frames-bus.ts';
import { ActionExtension } from '../../src/worker/actions/action-extension.ts';
import { GraphWriter } from '../../src/worker/actions/graph-writer.ts';
import type { ExtensionContext } from '../../src/worker/agent-extension.ts';

function fake() {
  const sent: Frame[] = [];
  const work: string[] = [];
  const subs: ActionSubscription[] = [];
  const ctx: ExtensionContext = {
    workerId: 'w1',
    tags: [],
    clock: new SimulatedClock(),
    log: silentLogger(),
    send: (f) => sent.push(f),
    sendEncoded: (encoded) => sent.push(encoded.frame),
    trackWork: (kind) => {
      work.push(kind);
      return () => void work.splice(work.indexOf(kind), 1);
    },
    pause: () => undefined,
    resume: () => undefined,
  };
  const ext = new ActionExtension({ addAction: (s) => subs.push(s) });
  ext.welcomed(ctx);
  const action = (id: string, name = 'collect', data: unknown = {}) => ext.frame(frame('action', { id, action: name, run: 'r', step: name, data }), ctx);
  return { ctx, ext, sent, work, subs, action, types: () => sent.map((f) => f.t) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test('on() announces the subscription: waited for if any handler wants it, the largest timeout', () => {
  const f = fake();
  f.ext.on('collect', () => undefined, { waitForCompletion: false, timeoutMs: 1000 });
  f.ext.on('collect', () => undefined, { timeoutMs: 5000 });
  assert.equal(f.subs.at(-1), { action: 'collect', waitForCompletion: true, timeoutMs: 5000 });
  assert.equal(f.ext.actions(), ['collect']);
});

test('every handler of an action runs; one answer: done, with info and progress before it; work is tracked', async () => {
  const f = fake();
  const g = gate();
  f.ext.on('collect', async (ctx) => {
    ctx.info('info', 'one');
    ctx.progress(1, 2);
    await g.promise;
  });
  f.ext.on('collect', (ctx) => ctx.info('warn', 'two'));
  f.action('m1');
  await tick();
  assert.equal(f.work, ['action'], 'one unit of the worker load while the handlers run');
  assert.equal(f.types(), ['action_info', 'action_progress', 'action_info']);
  g.open();
  await tick();
  assert.equal(f.types().at(-1), 'action_done');
  assert.equal(f.work, []);
});

test('handlers that return at once are answered in the same call, sent after their own frames, and never count as work', () => {
  const f = fake();
  const tracked: string[] = [];
  const track = f.ctx.trackWork;
  f.ctx.trackWork = (kind) => {
    tracked.push(kind);
    return track(kind);
  };
  f.ext.on('collect', (ctx) => ctx.info('info', 'quick'));
  f.action('m1');
  // No tick: the answer is already out, so it leaves in this turn's write (issue 9, 1,000-worker broadcast).
  assert.equal(f.types(), ['action_info', 'action_done']);
  assert.equal(tracked, [], 'no LOAD events (and no state frames) for an action that never held the process across a turn');
  assert.is(f.ext.runningCount(), 0);
});

test('a handler that returns a promise counts as work before any of its frames is sent', async () => {
  const f = fake();
  const order: string[] = [];
  const send = f.ctx.send;
  f.ctx.send = (fr) => {
    order.push(fr.t);
    send(fr);
  };
  const track = f.ctx.trackWork;
  f.ctx.trackWork = (kind) => {
    order.push(`take ${kind}`);
    return track(kind);
  };
  const g = gate();
  f.ext.on('collect', async (ctx) => {
    ctx.info('info', 'sync part');
    await g.promise;
  });
  f.action('m1');
  assert.equal(order, ['take action', 'action_info'], 'the worker is busy (its state frame goes first) before the handler\'s frames');
  g.open();
  await tick();
  assert.equal(f.work, []);
  assert.equal(order.at(-1), 'action_done');
});

test('failures make one action_error naming each failed handler; the first ClaError code wins', async () => {
  const f = fake();
  f.ext.on('collect', () => {
    throw new ClaError('IO_ERROR', 'disk');
  }, { name: 'fs' });
  f.ext.on('collect', () => Promise.reject(new Error('auth')), { name: 'aws' });
  f.ext.on('collect', () => undefined, { name: 'ok' });
  f.action('m1');
  await tick();
  const error = f.sent.at(-1) as FrameOf<'action_error'>;
  assert.is(error.t, 'action_error');
  assert.is(error.error.code, 'IO_ERROR');
  assert.is(error.error.message, 'fs: disk; aws: auth');
  assert.equal(error.error.data, { failed: ['fs', 'aws'] });
});

test('an action without handler, or while stopping, is answered with an error at once', async () => {
  const f = fake();
  f.action('m1', 'unknown');
  assert.is((f.sent[0] as FrameOf<'action_error'>).error.code, 'UNSUPPORTED');
  f.ext.on('collect', () => undefined);
  await f.ext.stop();
  f.action('m2');
  assert.is((f.sent[1] as FrameOf<'action_error'>).error.code, 'WORKER_BUSY');
});

test('abort aborts the handler signal with ABORTED', async () => {
  const f = fake();
  let reason: unknown;
  f.ext.on('collect', (ctx) => new Promise<void>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject((reason = ctx.signal.reason)))));
  f.action('m1');
  await tick();
  assert.ok(f.ext.frame(frame('abort', { re: 'm1', reason: 'timed out' }), f.ctx));
  await tick();
  assert.is((reason as ClaError).code, 'ABORTED');
  assert.is((f.sent.at(-1) as FrameOf<'action_error'>).error.code, 'ABORTED');
  assert.ok(f.ext.frame(frame('abort', { re: 'unknown', reason: 'x' }), f.ctx), 'an abort for nothing is still ours');
});

test('a view of the context made with Object.create (as plugin hosts do) shares its signal and its frames', async () => {
  const f = fake();
  const g = gate();
  let signal: AbortSignal | undefined;
  f.ext.on('collect', async (ctx) => {
    const view = Object.create(ctx) as typeof ctx;
    signal = view.signal;
    view.graph('fs').end();
    await g.promise;
  });
  f.action('m1');
  f.ext.frame(frame('abort', { re: 'm1', reason: 'timed out' }), f.ctx);
  assert.ok(signal?.aborted, 'the abort reaches the signal the view handed out');
  g.open();
  await tick();
  assert.equal(f.types(), ['resources', 'action_done']);
});

test('a resent action is not run again: while running, graph and plan frames are repeated; after, the answer is', async () => {
  const f = fake();
  const g = gate();
  let runs = 0;
  f.ext.on('collect', async (ctx) => {
    runs += 1;
    const graph = ctx.graph('demo');
    graph.add({ id: 'a', kind: 'file', attrs: {}, tags: {}, edges: [] });
    graph.end();
    ctx.info('info', 'not repeated');
    await g.promise;
  });
  f.action('m1');
  await tick();
  assert.equal(f.types(), ['resources', 'action_info']);
  f.ext.disconnected();
  f.ext.welcomed(f.ctx);
  f.action('m1');
  assert.equal(f.types(), ['resources', 'action_info', 'resources']);
  g.open();
  await tick();
  f.action('m1');
  assert.equal(f.types(), ['resources', 'action_info', 'resources', 'action_done', 'resources', 'action_done']);
  assert.is(runs, 1);
  f.action('m2');
  await tick();
  assert.is(runs, 2, 'another message id runs again');
});

test('stop() resolves when the running handlers have ended', async () => {
  const f = fake();
  const g = gate();
  f.ext.on('collect', () => g.promise);
  f.action('m1');
  let stopped = false;
  void f.ext.stop().then(() => (stopped = true));
  await tick();
  assert.not.ok(stopped);
  g.open();
  await tick();
  assert.ok(stopped);
});

test('stop() aborts the handlers still running after its grace period', async () => {
  const f = fake();
  let reason: unknown;
  f.ext.on('collect', (ctx) => new Promise<void>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject((reason = ctx.signal.reason)))));
  f.action('m1');
  let stopped = false;
  void f.ext.stop(1000).then(() => (stopped = true));
  (f.ctx.clock as SimulatedClock).increment(999);
  await tick();
  assert.not.ok(stopped);
  (f.ctx.clock as SimulatedClock).increment(1);
  await tick();
  assert.ok(stopped);
  assert.is((reason as ClaError).code, 'ABORTED');
});

test('the graph writer cuts batches by count and size; an empty graph still sends its last batch', () => {
  const out: Array<[number, boolean, number]> = [];
  const writer = new GraphWriter((batch, last, resources) => out.push([batch, last, resources.length]), 3, 10_000);
  for (let i = 0; i < 7; i += 1) writer.add({ id: `r${i}`, kind: 'file', attrs: {}, tags: {}, edges: [] });
  writer.end();
  writer.end();
  assert.equal(out, [
    [0, false, 3],
    [1, false, 3],
    [2, true, 1],
  ]);
  const bySize: number[] = [];
  const big = new GraphWriter((_b, _l, r) => bySize.push(r.length), 10_000, 200);
  for (let i = 0; i < 5; i += 1) big.add({ id: 'x'.repeat(100), kind: 'file', attrs: {}, tags: {}, edges: [] });
  big.end();
  assert.equal(bySize, [1, 1, 1, 1, 1]);
  const empty: Array<[number, boolean, number]> = [];
  new GraphWriter((b, l, r) => empty.push([b, l, r.length])).end();
  assert.equal(empty, [[0, true, 0]]);
});

test.run();
