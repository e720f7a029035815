/**
 * The workflow engine end to end in one process: hub + actions extension + workers with action
 * handlers over in-memory transports, on a SimulatedClock (no wall-clock waits, no sleeps).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/version.ts';
import type { ActionContext } from '../../src/worker/actions/action-extension.ts';
import { MemoryResourceStore } from '../../src/hub/actions/memory-resource-store.ts';
import { MemoryWorkflowStore, MemoryWorkflowTables } from '../../src/hub/actions/memory-workflow-store.ts';
import { deferred, settle, TestBed, workflows } from './workflow-harness.ts';
import { unpackStepSnapshot } from '../../machines/workflow-step.helpers.ts';

const ONE_STEP = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  steps: [{ name: 'collect', action: 'collect', timeout: '60s' }],
  triggers: ['manual', { event: `${name}-event` }],
  ...extra,
});
const THREE_STEPS = {
  name: 'collect_and_cleanup',
  steps: [
    { name: 'collect', action: 'collect', timeout: '60s', on_error: 'continue' },
    { name: 'plan_cleanup', action: 'plan_cleanup', timeout: '60s' },
    { name: 'cleanup', action: 'cleanup', timeout: '60s' },
  ],
  triggers: ['manual'],
};

async function bed(defs = workflows(ONE_STEP('collect'), THREE_STEPS), options = {}) {
  const b = new TestBed({ workflows: defs, graceMs: 10_000, resumeGraceMs: 30_000, ...options });
  await b.startHub();
  return b;
}

const statuses = async (b: TestBed, run: string, step = 0) =>
  Object.fromEntries((await b.show(run)).steps[step]!.answers.map((a) => [a.subscriber, a.status]));

test('a broadcast reaches every subscriber and the step waits for all of them', async () => {
  const b = await bed();
  const gates = { w1: deferred(), w2: deferred() };
  const seen: string[] = [];
  for (const id of ['w1', 'w2'] as const) {
    await b.worker(id, {
      collect: async (ctx) => {
        seen.push(`${id}:${ctx.id}`);
        ctx.info('info', `${id} collecting`);
        ctx.progress(1, 2, 'half');
        await gates[id].promise;
      },
    });
  }
  await b.worker('plain', {});
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  assert.equal(seen.sort(), [`w1:${run}.0`, `w2:${run}.0`]);
  assert.equal(await statuses(b, run), { w1: 'pending', w2: 'pending' }, 'a worker without the subscription is not a subscriber');
  gates.w1.resolve();
  await settle();
  assert.is((await b.show(run)).run.state, 'running');
  assert.equal(await statuses(b, run), { w1: 'done', w2: 'pending' });
  gates.w2.resolve();
  await settle();
  const detail = (await b.show(run));
  assert.is(detail.run.state, 'succeeded');
  assert.equal(await statuses(b, run), { w1: 'done', w2: 'done' });
  assert.equal(detail.steps[0]!.messages.map((m) => `${m.subscriber}:${m.message}`).sort(), ['w1:w1 collecting', 'w2:w2 collecting']);
  assert.equal(detail.steps[0]!.answers[0]!.progress, { current: 1, total: 2, message: 'half' });
  assert.ok(detail.steps[0]!.answers.every((a) => a.sentAt !== null && a.answeredAt !== null));
  await b.close();
});

test('an action_error is stored and fails the step; on_error stop ends the run failed', async () => {
  const b = await bed();
  await b.worker('w1', {
    collect: () => {
      throw new ClaError('IO_ERROR', 'disk gone');
    },
  });
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  const detail = (await b.show(run));
  assert.is(detail.run.state, 'failed');
  assert.is(detail.steps[0]!.answers[0]!.error?.code, 'IO_ERROR');
  assert.match(detail.steps[0]!.answers[0]!.error!.message, /disk gone/);
  await b.close();
});

test('a subscriber that drops and comes back within the grace period gets the same message again and is awaited', async () => {
  const b = await bed();
  const gate = deferred();
  let calls = 0;
  const w1 = await b.worker('w1', {
    collect: async () => {
      calls += 1;
      await gate.promise;
    },
  });
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  const before = w1.received.filter((f) => f.t === 'action').length;
  w1.drop();
  await settle();
  await b.advance(5000); // its reconnect backoff (50 ms) is well within the 10 s grace
  assert.is((await b.show(run)).run.state, 'running');
  const actions = w1.received.filter((f) => f.t === 'action');
  assert.is(actions.length, before + 1, 'the action is resent after the reconnect');
  assert.is((actions.at(-1) as { id: string }).id, `${run}.0`, 'with the same message id');
  assert.is(calls, 1, 'the worker does not run a resent action twice');
  gate.resolve();
  await settle();
  assert.is((await b.show(run)).run.state, 'succeeded');
  assert.equal(await statuses(b, run), { w1: 'done' });
  await b.close();
});

test('a subscriber that leaves for good does not block the step past its grace period', async () => {
  const b = await bed();
  const gate = deferred();
  const w1 = await b.worker('w1', { collect: () => gate.promise });
  await b.worker('w2', { collect: () => undefined });
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  assert.equal(await statuses(b, run), { w1: 'pending', w2: 'done' });
  w1.kill();
  await settle();
  await b.advance(9_999);
  assert.is((await b.show(run)).run.state, 'running', 'still within the grace period');
  await b.advance(1);
  assert.is((await b.show(run)).run.state, 'succeeded');
  assert.equal(await statuses(b, run), { w1: 'gone', w2: 'done' });
  await b.close();
});

test('an unsubscribed subscriber is gone at once', async () => {
  const b = await bed();
  const gate = deferred();
  const w1 = await b.worker('w1', { collect: () => gate.promise });
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  // The worker's subscriptions change: it announces no `collect` any more.
  const session = b.hub.session('w1')!;
  b.ext.workerFrame(session, { v: PROTOCOL_VERSION, t: 'subscribe', subscriberId: 'w1', actions: [], tasks: [], taskCapacity: 1 });
  await settle();
  assert.is((await b.show(run)).run.state, 'succeeded');
  assert.equal(await statuses(b, run), { w1: 'gone' });
  gate.resolve();
  void w1;
  await b.close();
});

test('a step timeout aborts the handlers on the workers (AbortSignal) and stops the run', async () => {
  const b = await bed();
  let signal: AbortSignal | undefined;
  const w1 = await b.worker('w1', {
    collect: (ctx: ActionContext) =>
      new Promise<void>((_resolve, reject) => {
        signal = ctx.signal;
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
      }),
  });
  const { run } = await b.ext.engine.runManual('collect');
  await b.advance(59_999);
  assert.is((await b.show(run)).run.state, 'running');
  await b.advance(1);
  assert.is((await b.show(run)).run.state, 'failed');
  assert.is((await b.show(run)).steps[0]!.state, 'timedOut');
  assert.equal(await statuses(b, run), { w1: 'timeout' });
  assert.ok(w1.received.some((f) => f.t === 'abort'), 'the hub sent abort');
  assert.ok(signal?.aborted, 'the handler was aborted');
  assert.is((signal!.reason as ClaError).code, 'ABORTED');
  await b.close();
});

test("a subscriber's own timeoutMs expires it alone", async () => {
  const b = await bed();
  await b.worker('slow', { collect: (ctx) => new Promise<void>((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) }, { timeoutMs: 5000 });
  await b.worker('fast', { collect: () => undefined });
  const { run } = await b.ext.engine.runManual('collect');
  await b.advance(5000);
  assert.equal(await statuses(b, run), { fast: 'done', slow: 'timeout' });
  assert.is((await b.show(run)).run.state, 'failed');
  await b.close();
});

test('on_error continue goes on to the next step; resources and plans are stored; cleanup gets the flagged ids', async () => {
  const b = await bed();
  let cleanupData: unknown;
  await b.worker('w1', {
    collect: (ctx) => {
      const graph = ctx.graph('demo');
      graph.add({ id: '/r', kind: 'folder', attrs: { path: '/r' }, tags: {}, edges: [] });
      graph.add({ id: '/r/a', kind: 'file', attrs: { path: '/r/a', size: 3 }, tags: { owner: 'lukas' }, edges: ['/r'] });
      graph.end();
    },
    plan_cleanup: (ctx) => ctx.flag('demo', ['/r/a']),
    cleanup: (ctx) => {
      cleanupData = ctx.data;
    },
  });
  await b.worker('w2', {
    collect: () => {
      throw new Error('no credentials');
    },
  });
  const { run } = await b.ext.engine.runManual('collect_and_cleanup');
  await settle();
  const detail = (await b.show(run));
  assert.equal(
    detail.steps.map((s) => [s.name, s.state]),
    [
      ['collect', 'failed'],
      ['plan_cleanup', 'succeeded'],
      ['cleanup', 'succeeded'],
    ],
  );
  assert.is(detail.run.state, 'failed', 'a failed step with on_error continue still makes the run fail at the end');
  assert.equal(cleanupData, { clean: { demo: ['/r/a'] } });
  const stored = (await b.ext.resources.search({ all: [] }));
  assert.equal(stored.map((r) => [r.worker, r.id, r.clean, r.tags]), [
    ['w1', '/r', false, {}],
    ['w1', '/r/a', true, { owner: 'lukas' }],
  ]);
  assert.is(stored[0]!.runId, run);
  await b.close();
});

test('on_conflict: skip stores a skipped run; wait queues it; replace aborts the old one; parallel runs both', async () => {
  const defs = workflows(
    ONE_STEP('skipper', { on_conflict: 'skip' }),
    ONE_STEP('waiter', { on_conflict: 'wait' }),
    ONE_STEP('replacer', { on_conflict: 'replace' }),
    ONE_STEP('parallel', { on_conflict: 'parallel' }),
  );
  const b = await bed(defs);
  const gates: Array<ReturnType<typeof deferred<void>>> = [];
  await b.worker('w1', {
    collect: () => {
      const gate = deferred();
      gates.push(gate);
      return gate.promise;
    },
  });
  const first = await b.ext.engine.runManual('skipper');
  const second = await b.ext.engine.runManual('skipper');
  assert.is(second.state, 'skipped');
  await settle();
  gates.shift()!.resolve();
  await settle();
  assert.is((await b.show(first.run)).run.state, 'succeeded');
  assert.match((await b.show(second.run)).run.reason ?? '', /is running/);

  const w1 = await b.ext.engine.runManual('waiter');
  const w2 = await b.ext.engine.runManual('waiter');
  assert.is(w2.state, 'pending');
  await settle();
  gates.shift()!.resolve();
  await settle();
  assert.is((await b.show(w1.run)).run.state, 'succeeded');
  assert.is((await b.show(w2.run)).run.state, 'running', 'the waiting run starts when the first ends');
  gates.shift()!.resolve();
  await settle();
  assert.is((await b.show(w2.run)).run.state, 'succeeded');

  const r1 = await b.ext.engine.runManual('replacer');
  await settle();
  const r2 = await b.ext.engine.runManual('replacer');
  await settle();
  assert.is((await b.show(r1.run)).run.state, 'aborted');
  assert.match((await b.show(r1.run)).run.reason ?? '', /replaced/);
  assert.is((await b.show(r1.run)).steps[0]!.state, 'aborted');
  assert.is((await b.show(r2.run)).run.state, 'running');
  gates.shift(); // r1's handler was aborted
  gates.shift()!.resolve();
  await settle();
  assert.is((await b.show(r2.run)).run.state, 'succeeded');

  const p1 = await b.ext.engine.runManual('parallel');
  const p2 = await b.ext.engine.runManual('parallel');
  await settle();
  assert.equal([(await b.show(p1.run)).run.state, (await b.show(p2.run)).run.state], ['running', 'running']);
  gates.splice(0).forEach((g) => g.resolve());
  await settle();
  assert.equal([(await b.show(p1.run)).run.state, (await b.show(p2.run)).run.state], ['succeeded', 'succeeded']);
  await b.close();
});

test('events start every workflow listening to them; manual needs a manual trigger; unknown names are refused', async () => {
  const defs = workflows(ONE_STEP('a'), { ...ONE_STEP('b'), triggers: [{ event: 'a-event' }] });
  const b = await bed(defs);
  await b.worker('w1', { collect: () => undefined });
  const started = await b.ext.engine.emitEvent('a-event');
  assert.equal(started.map((r) => r.workflow).sort(), ['a', 'b']);
  assert.equal(await b.ext.engine.emitEvent('nothing'), []);
  await b.ext.engine.runManual('b').then(() => assert.unreachable(), (error: Error) => assert.match(error.message, /no `manual` trigger/));
  await b.ext.engine.runManual('nope').then(
    () => assert.unreachable(),
    (error: unknown) => assert.is((error as ClaError).code, 'UNKNOWN_WORKFLOW'),
  );
  await settle();
  assert.equal((await b.ext.store.listRuns(10)).map((r) => [r.workflow, r.trigger, r.state]).sort(), [
    ['a', 'event:a-event', 'succeeded'],
    ['b', 'event:a-event', 'succeeded'],
  ]);
  await b.close();
});

test('abort: the run ends aborted and its pending subscribers get abort', async () => {
  const b = await bed();
  const w1 = await b.worker('w1', { collect: (ctx) => new Promise<void>((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) });
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  await b.ext.engine.abort(run.slice(0, 5), 'enough');
  await settle();
  assert.is((await b.show(run)).run.state, 'aborted');
  assert.is((await b.show(run)).run.reason, 'enough');
  assert.equal(await statuses(b, run), { w1: 'aborted' });
  assert.ok(w1.received.some((f) => f.t === 'abort' && f.reason === 'enough'));
  await b.ext.engine.abort(run).then(() => assert.unreachable(), (error: Error) => assert.match(error.message, /not active/));
  await b.close();
});

test("a step's answer rows go with the broadcast's send time in one write, and at most one write of a waiting step is in flight", async () => {
  /** Records the step writes; while `hold` is set they stay in flight (applied, not yet acknowledged). */
  class HeldStore extends MemoryWorkflowStore {
    writes: string[] = [];
    /** Whether each step write held the snapshot. */
    snapshots: boolean[] = [];
    hold: Promise<void> | undefined;
    override updateStep(messageId: string, patch: Parameters<MemoryWorkflowStore['updateStep']>[1]): Promise<void> {
      const sent = patch.sent ? ` sent ${[...patch.sent.subscribers].sort().join(',')}` : '';
      this.writes.push(`${patch.state} ${patch.subscribers.map((s) => `${s.id}:${s.status}`).join(',')}${sent}`);
      this.snapshots.push(patch.snapshot !== undefined);
      const done = super.updateStep(messageId, patch);
      const hold = this.hold;
      return hold ? hold.then(() => done) : done;
    }
    override markSent(messageId: string, subscribers: readonly string[], at: number): Promise<void> {
      this.writes.push(`markSent ${subscribers.join(',')}`);
      return super.markSent(messageId, subscribers, at);
    }
  }
  const store = new HeldStore(new MemoryWorkflowTables());
  const b = await bed(undefined, { stores: { workflows: store, resources: new MemoryResourceStore() } });
  const gates = { w1: deferred(), w2: deferred(), w3: deferred() };
  for (const id of ['w1', 'w2', 'w3'] as const) await b.worker(id, { collect: () => gates[id].promise });
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  assert.equal(store.writes, ['waiting w1:pending,w2:pending,w3:pending sent w1,w2,w3'], 'the rows and sent_at in one write, no markSent');
  assert.ok((await b.show(run)).steps[0]!.answers.every((a) => a.sentAt !== null));
  const held = deferred();
  store.hold = held.promise;
  gates.w1.resolve();
  await settle();
  assert.equal(store.writes.slice(1), ['waiting w1:done'], 'the first answer (with the snapshot) is written');
  store.hold = undefined;
  gates.w2.resolve();
  await settle();
  assert.equal(store.writes.slice(1), ['waiting w1:done'], 'a second answer waits while the first write is in flight');
  held.resolve();
  await settle();
  assert.equal(store.writes.slice(1), ['waiting w1:done', 'waiting w2:done'], 'and is written once it settled');
  gates.w3.resolve();
  await settle();
  assert.equal(store.writes.slice(1), ['waiting w1:done', 'waiting w2:done', 'succeeded w3:done'], 'the end is written at once');
  assert.equal(store.snapshots, [true, false, false, false], 'only the start holds the snapshot: answers alone, the end too, are told by the rows (issue 9)');
  assert.equal(await statuses(b, run), { w1: 'done', w2: 'done', w3: 'done' });
  await b.close();
});

test('a step that ends by more than answers (an abort) is written with its snapshot', async () => {
  class SnapshotStore extends MemoryWorkflowStore {
    ends: Array<{ state: string; snapshot: boolean }> = [];
    override updateStep(messageId: string, patch: Parameters<MemoryWorkflowStore['updateStep']>[1]): Promise<void> {
      if (patch.state !== 'waiting') this.ends.push({ state: patch.state, snapshot: patch.snapshot !== undefined });
      return super.updateStep(messageId, patch);
    }
  }
  const store = new SnapshotStore(new MemoryWorkflowTables());
  const b = await bed(undefined, { stores: { workflows: store, resources: new MemoryResourceStore() } });
  await b.worker('w1', { collect: () => undefined });
  await b.worker('w2', { collect: () => new Promise<void>(() => undefined) });
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  assert.equal(await statuses(b, run), { w1: 'done', w2: 'pending' });
  await b.ext.engine.abort(run, 'enough');
  await settle();
  assert.equal(store.ends, [{ state: 'aborted', snapshot: true }]);
  await b.close();
});

test('on the memory stores: graph, plan and cleanup flow through, and a restart resumes the run of this hub only', async () => {
  const stores = { workflows: new MemoryWorkflowStore(new MemoryWorkflowTables()), resources: new MemoryResourceStore() };
  const b = await bed(undefined, { stores });
  const gate = deferred();
  let cleanupData: unknown;
  await b.worker('w1', {
    collect: async (ctx) => {
      const graph = ctx.graph('demo');
      graph.add({ id: '/r/a', kind: 'file', attrs: { path: '/r/a' }, tags: {}, edges: [] });
      graph.end();
      await gate.promise;
    },
    plan_cleanup: (ctx) => ctx.flag('demo', ['/r/a']),
    cleanup: (ctx) => {
      cleanupData = ctx.data;
    },
  });
  const { run } = await b.ext.engine.runManual('collect_and_cleanup');
  await settle();
  const other = new MemoryWorkflowStore(stores.workflows.tables, { hubId: 'other-hub' });
  const definition = JSON.stringify(b.ext.engine.workflows.get('collect'));
  await other.createRun({ id: 'theirs', workflow: 'collect', trigger: 'manual', state: 'pending', createdAt: 1, startedAt: null, finishedAt: null, reason: null, definition });
  await b.stopHub();
  await b.startHub({ stores });
  assert.equal(b.ext.engine.activeRuns().map((r) => r.id), [run]);
  assert.equal((await other.activeRuns()).map((r) => [r.id, r.state]), [['theirs', 'pending']], "another hub's run is not resumed (nor started) here");
  await b.advance(1000);
  gate.resolve();
  await settle();
  assert.is((await b.show(run)).run.state, 'succeeded');
  assert.equal(cleanupData, { clean: { demo: ['/r/a'] } });
  assert.equal((await stores.resources.search({ all: [] })).map((r) => [r.id, r.clean]), [['/r/a', true]]);
  await b.close();
});

test('adopt: the unfinished runs of a hub that is gone are taken over and run here; finished ones and other hubs\' stay', async () => {
  const tables = new MemoryWorkflowTables();
  const stores = { workflows: new MemoryWorkflowStore(tables), resources: new MemoryResourceStore() };
  const b = await bed(undefined, { stores });
  let collected = 0;
  await b.worker('w1', {
    collect: () => {
      collected += 1;
    },
  });
  const gone = new MemoryWorkflowStore(tables, { hubId: 'gone-hub' });
  const alive = new MemoryWorkflowStore(tables, { hubId: 'alive-hub' });
  const definition = JSON.stringify(b.ext.engine.workflows.get('collect'));
  const run = (id: string) => ({ id, workflow: 'collect', trigger: 'manual', state: 'pending' as const, createdAt: 1, startedAt: null, finishedAt: null, reason: null, definition });
  await gone.createRun(run('orphan'));
  await gone.createRun(run('ended'));
  await gone.updateRun('ended', { state: 'failed', snapshot: '{}', reason: 'x', at: 2 });
  await alive.createRun(run('kept'));
  assert.is(await b.ext.engine.adopt('gone-hub'), 1);
  await settle();
  assert.is((await b.show('orphan')).run.state, 'succeeded', 'the adopted run ran here');
  assert.is(collected, 1);
  assert.equal((await gone.getStoredRun('orphan'))?.owner, 'hub');
  assert.equal([(await b.show('ended')).run.state, (await alive.activeRuns()).map((r) => r.id)], ['failed', ['kept']]);
  assert.is(await b.ext.engine.adopt('gone-hub'), 0, 'nothing left to adopt');
  await b.close();
});

test('a hub restart resumes the running step: pending subscribers get the same message when back; deadlines come from the store', async () => {
  const b = await bed();
  const gate = deferred();
  let calls = 0;
  const w1 = await b.worker('w1', {
    collect: async () => {
      calls += 1;
      await gate.promise;
    },
  });
  await b.worker('w2', { collect: () => undefined });
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  assert.equal(await statuses(b, run), { w1: 'pending', w2: 'done' });
  const deadline = (await b.show(run)).steps[0]!.deadline;

  await b.stopHub();
  await settle();
  await b.advance(2000); // the hub is down for 2 s; workers retry on their backoff
  await b.startHub();
  await b.advance(1000); // workers reconnect and subscribe again
  assert.is((await b.show(run)).run.state, 'running');
  const resent = w1.received.filter((f) => f.t === 'action' && f.id === `${run}.0`);
  assert.is(resent.length, 2, 'sent before the restart and resent after it');
  assert.is(calls, 1);
  assert.is((await b.show(run)).steps[0]!.deadline, deadline);
  gate.resolve();
  await settle();
  assert.is((await b.show(run)).run.state, 'succeeded');
  assert.equal(await statuses(b, run), { w1: 'done', w2: 'done' });
  await b.close();
});

test('answers stored after the step snapshot count after a restart: the answer rows, not a rewritten snapshot, carry them', async () => {
  const b = await bed();
  const gate = deferred();
  await b.worker('w1', { collect: () => gate.promise });
  const w2 = await b.worker('w2', { collect: () => undefined });
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  assert.equal(await statuses(b, run), { w1: 'pending', w2: 'done' });
  const stored = JSON.parse((await b.ext.store.getStep(run, 0))!.snapshot!) as { context: Record<string, unknown> };
  assert.ok('packed' in stored.context && !('subscribers' in stored.context), 'the snapshot holds its subscribers packed in columns (issue 9)');
  const snapshot = unpackStepSnapshot(stored);
  assert.equal(
    snapshot.context.subscribers.map((s) => `${s.id} ${s.status}`),
    ['w1 pending', 'w2 pending'],
    'an answer alone does not rewrite the snapshot of every subscriber (issue 9)',
  );
  assert.equal(
    [b.store.db.prepare('SELECT count(*) FROM workflow_answers').pluck().get(), b.store.db.prepare('SELECT subscribers, status FROM workflow_answer_sets').all()],
    [0, [{ subscribers: '["w2"]', status: 'done' }]],
    'the pending w1 is in the snapshot alone; the answer of w2 is in the set of its write (issue 9)',
  );
  await b.stopHub();
  w2.kill(); // w2 never comes back: its answer must come from the store, not from a resend
  await settle();
  await b.startHub();
  await b.advance(1000); // w1 reconnects; far less than the 30 s resume grace
  gate.resolve();
  await settle();
  assert.is((await b.show(run)).run.state, 'succeeded');
  assert.equal(await statuses(b, run), { w1: 'done', w2: 'done' });
  assert.is(
    b.store.db.prepare('SELECT count(*) FROM workflow_answer_sets').pluck().get(),
    0,
    "the restored step's end is written with its final snapshot: its sets (each subscriber again after the restart) are dropped",
  );
  await b.close();
});

test('after a restart, a pending subscriber that never comes back is gone after the resume grace period', async () => {
  const b = await bed();
  const w1 = await b.worker('w1', { collect: () => new Promise(() => undefined) });
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  await b.stopHub();
  w1.kill();
  await settle();
  await b.startHub();
  await b.advance(29_999);
  assert.is((await b.show(run)).run.state, 'running');
  await b.advance(1);
  assert.is((await b.show(run)).run.state, 'succeeded');
  assert.equal(await statuses(b, run), { w1: 'gone' });
  await b.close();
});

test('after a restart, a step whose deadline passed while the hub was down times out at once', async () => {
  const b = await bed();
  await b.worker('w1', { collect: () => new Promise(() => undefined) });
  const { run } = await b.ext.engine.runManual('collect');
  await settle();
  await b.stopHub();
  await b.advance(120_000);
  await b.startHub();
  await b.advance(0);
  assert.is((await b.show(run)).steps[0]!.state, 'timedOut');
  assert.is((await b.show(run)).run.state, 'failed');
  await b.close();
});

test('cron triggers follow the simulated clock', async () => {
  const defs = workflows({ ...ONE_STEP('tick'), triggers: [{ cron: '*/5 * * * *' }] });
  const b = new TestBed({ workflows: defs });
  b.clock.set(Date.UTC(2026, 0, 1, 0, 1, 0));
  await b.startHub();
  await b.worker('w1', { collect: () => undefined });
  await b.advance(3 * 60_000 + 59_999);
  assert.equal((await b.ext.store.listRuns(10)), []);
  await b.advance(1);
  assert.equal((await b.ext.store.listRuns(10)).map((r) => [r.trigger, r.state]), [['cron:*/5 * * * *', 'succeeded']]);
  await b.advance(5 * 60_000);
  assert.is((await b.ext.store.listRuns(10)).length, 2);
  await b.close();
});

test('the method table: workflow methods run on the hub at once and refuse what is wrong', async () => {
  const b = await bed();
  await b.worker('w1', { collect: () => undefined });
  const started = (await b.hub.methods.call('workflows.run', { workflow: 'collect' })) as { workflow: string; state: string; run: string };
  assert.is(started.workflow, 'collect');
  assert.ok((await b.ext.store.listRuns(10)).some((r) => r.id === started.run), 'the run exists as soon as the call answers');
  const codeOf = (promise: Promise<unknown>) => promise.then(() => 'answered', (error: unknown) => (error as { code: string }).code);
  assert.is(await codeOf(b.hub.methods.call('workflows.run', { workflow: 'nope' })), 'UNKNOWN_WORKFLOW');
  assert.is(await codeOf(b.hub.methods.call('workflows.run', { workflow: 3 })), 'INVALID_ARGUMENT');
  assert.is(await codeOf(b.hub.methods.call('workflows.fly', {})), 'UNKNOWN_METHOD');
  await b.close();
});

test('tag: one task per matching resource, routed by plugin and worker; its result updates the stored tags', async () => {
  const submitted: unknown[] = [];
  const b = await bed(undefined, {
    tasks: {
      submit: (task: unknown) => (submitted.push(task), `task-${submitted.length}`),
      wait: async () => ({ state: 'done', result: { id: '/r/a', tags: { owner: 'lukas' } } }),
    },
  });
  await b.ext.resources.replaceGraph('w1', 'fs', [{ id: '/r/a', kind: 'file', attrs: { host: 'box' }, tags: {}, edges: [] }], b.clock.now(), null);
  const result = await b.ext.engine.tag("id = '/r/a'", { owner: 'lukas' }, []);
  assert.equal(result, [{ task: 'task-1', worker: 'w1', plugin: 'fs', id: '/r/a' }]);
  assert.equal(submitted, [{ name: 'tag', attrs: { plugin: 'fs', worker: 'w1', host: 'box' }, data: { id: '/r/a', kind: 'file', set: { owner: 'lukas' }, remove: [] }, deadlineMs: 600_000 }]);
  await settle();
  assert.equal((await b.ext.resources.search({ all: [] }))[0]!.tags, { owner: 'lukas' });
  await b.ext.engine.tag('id = nothing', {}, []).then(
    () => assert.unreachable(),
    (error: ClaError) => assert.match(error.message, /No resource matches/),
  );
  await b.close();
});

test('finished runs older than keepRunsDays are deleted daily; active ones stay', async () => {
  const long = { ...ONE_STEP('long'), steps: [{ name: 'collect', action: 'collect', timeout: '10d' }] };
  const b = await bed(workflows(ONE_STEP('collect'), long), { keepRunsDays: 2 });
  await b.worker('w1', { collect: () => undefined });
  const old = await b.ext.engine.runManual('collect');
  await settle();
  await b.worker('w2', { collect: () => new Promise(() => undefined) }, { timeoutMs: 30 * 86_400_000 });
  const active = await b.ext.engine.runManual('long');
  await b.advance(2 * 86_400_000);
  assert.is((await b.ext.store.listRuns(10)).length, 2);
  await b.advance(86_400_000);
  assert.equal((await b.ext.store.listRuns(10)).map((r) => [r.id, r.state]), [[active.run, 'running']]);
  await b.show(old.run).then(() => assert.unreachable(), (error: Error) => assert.match(error.message, /No workflow run/));
  await b.close();
});

test.run();
