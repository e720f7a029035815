// One suite every WorkflowStore backend must pass (../../shared/STYLE.md, "backends on one suite"). A
// backend's test file calls `workflowStoreConformance(name, makeBackend).run()`; each test gets a fresh
// backend, opened as hub `hub-a` (and, for ownership, as hubs `hub-b` and `hub-c` on the same backend).
import { suite } from 'uvu';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { StepSubscriber } from '../../machines/workflow-step.helpers.ts';
import { ClaError } from '../../src/errors.ts';
import { MAX_MESSAGES_PER_ANSWER, type NewRun, type WorkflowStore } from '../../src/hub/actions/workflow-store.ts';

/** A fresh backend: `open(hubId)` gives a store that writes as that hub, on the same rows. */
export interface WorkflowBackend {
  open(hubId: string): WorkflowStore;
  cleanup(): void | Promise<void>;
}

interface Context {
  store: WorkflowStore;
  backend: WorkflowBackend;
  opened: WorkflowStore[];
}

const T0 = 1_700_000_000_000;
const newRun = (id: string, extra: Partial<NewRun> = {}): NewRun => ({
  id,
  workflow: 'collect',
  trigger: 'manual',
  state: 'pending',
  createdAt: T0,
  startedAt: null,
  finishedAt: null,
  reason: null,
  definition: JSON.stringify({ name: 'collect' }),
  ...extra,
});
const subscriber = (id: string, status: StepSubscriber['status'], extra: Partial<StepSubscriber> = {}): StepSubscriber => ({
  id,
  wait: true,
  timeoutAt: T0 + 60_000,
  graceUntil: null,
  status,
  answeredAt: null,
  ...extra,
});
const step = (runId: string, index = 0) => ({ runId, index, name: `s${index}`, action: 'collect', messageId: `${runId}.${index}`, startedAt: T0 + 1, deadline: T0 + 60_000 });

const rejectsWith = async (promise: Promise<unknown>, code: string, message: RegExp) => {
  await promise.then(
    () => assert.unreachable(`expected ${code}`),
    (error: unknown) => {
      assert.instance(error, ClaError);
      assert.is((error as ClaError).code, code);
      assert.match((error as ClaError).message, message);
    },
  );
};

/** Defines the WorkflowStore conformance suite against backends made by `makeBackend`; call `.run()` on it. */
export function workflowStoreConformance(name: string, makeBackend: () => WorkflowBackend): Test<Context> {
  const test = suite<Context>(`WorkflowStore conformance: ${name}`, {} as Context);
  const open = (ctx: Context, hubId: string) => {
    const store = ctx.backend.open(hubId);
    ctx.opened.push(store);
    return store;
  };
  test.before.each((ctx) => {
    ctx.backend = makeBackend();
    ctx.opened = [];
    ctx.store = open(ctx, 'hub-a');
  });
  test.after.each(async (ctx) => {
    for (const store of ctx.opened) await store.close();
    await ctx.backend.cleanup();
  });

  test('a new run is stored as given, owned by this hub; a taken id is refused', async ({ store }) => {
    assert.is(store.hubId, 'hub-a');
    await store.createRun(newRun('run-1'));
    const stored = await store.getStoredRun('run-1');
    assert.equal(stored, { ...newRun('run-1'), snapshot: null, owner: 'hub-a' });
    assert.is(await store.getStoredRun('nope'), undefined);
    await store.createRun(newRun('run-1')).then(
      () => assert.unreachable('a taken id must be refused'),
      () => undefined,
    );
    assert.equal(await store.listRuns(), [{ id: 'run-1', workflow: 'collect', trigger: 'manual', state: 'pending', createdAt: T0, startedAt: null, finishedAt: null, reason: null }]);
  });

  test('updateRun stores state, snapshot and reason; startedAt and finishedAt are set once', async ({ store }) => {
    await store.createRun(newRun('r'));
    await store.updateRun('r', { state: 'running', snapshot: '{"a":1}', reason: null, at: T0 + 10 });
    await store.updateRun('r', { state: 'running', snapshot: '{"a":2}', reason: null, at: T0 + 20 });
    let run = (await store.getStoredRun('r'))!;
    assert.equal([run.state, run.snapshot, run.startedAt, run.finishedAt], ['running', '{"a":2}', T0 + 10, null]);
    await store.updateRun('r', { state: 'failed', snapshot: '{"a":3}', reason: 'step collect failed', at: T0 + 30 });
    await store.updateRun('r', { state: 'failed', snapshot: '{"a":4}', reason: 'step collect failed', at: T0 + 40 });
    run = (await store.getStoredRun('r'))!;
    assert.equal([run.state, run.reason, run.startedAt, run.finishedAt], ['failed', 'step collect failed', T0 + 10, T0 + 30]);
    await store.updateRun('missing', { state: 'running', snapshot: '{}', reason: null, at: T0 });
    assert.is(await store.getStoredRun('missing'), undefined, 'updating a missing run creates nothing');
  });

  test('calls take effect in call order without awaiting each', async ({ store }) => {
    void store.createRun(newRun('r'));
    void store.updateRun('r', { state: 'running', snapshot: '1', reason: null, at: T0 + 1 });
    void store.startStep(step('r'));
    const [run, stepRow] = await Promise.all([store.getStoredRun('r'), store.getStep('r', 0)]);
    assert.is(run?.state, 'running');
    assert.is(stepRow?.state, 'waiting');
  });

  test('activeRuns: this hub\'s pending and running runs, oldest first', async (ctx) => {
    const { store } = ctx;
    const other = open(ctx, 'hub-b');
    await store.createRun(newRun('late', { createdAt: T0 + 5 }));
    await store.createRun(newRun('early-2', { createdAt: T0 }));
    await store.createRun(newRun('done', { createdAt: T0 - 5 }));
    await store.updateRun('done', { state: 'succeeded', snapshot: '{}', reason: null, at: T0 });
    await store.createRun(newRun('early-1', { createdAt: T0 - 1 }));
    await store.updateRun('early-1', { state: 'running', snapshot: '{}', reason: null, at: T0 });
    await other.createRun(newRun('theirs', { createdAt: T0 - 10 }));
    assert.equal((await store.activeRuns()).map((r) => r.id), ['early-1', 'early-2', 'late']);
    assert.equal((await other.activeRuns()).map((r) => [r.id, r.owner]), [['theirs', 'hub-b']]);
    const [first] = await store.activeRuns();
    assert.equal([first!.definition, first!.snapshot, first!.owner], [JSON.stringify({ name: 'collect' }), '{}', 'hub-a']);
  });

  test('adoptRuns: another hub takes a dead hub\'s active runs; of two adopting at once, each run goes to exactly one', async (ctx) => {
    const { store } = ctx;
    for (const id of ['a1', 'a2', 'a3']) await store.createRun(newRun(id));
    await store.updateRun('a3', { state: 'aborted', snapshot: '{}', reason: 'x', at: T0 });
    const b = open(ctx, 'hub-b');
    const c = open(ctx, 'hub-c');
    const [byB, byC] = await Promise.all([b.adoptRuns('hub-a'), c.adoptRuns('hub-a')]);
    assert.equal([...byB, ...byC].sort(), ['a1', 'a2'], 'finished runs are not adopted');
    assert.equal(byB.filter((id) => byC.includes(id)), [], 'no run adopted twice');
    assert.equal(await store.activeRuns(), [], 'the old owner no longer resumes them');
    const owners = await Promise.all(['a1', 'a2', 'a3'].map(async (id) => (await store.getStoredRun(id))!.owner));
    assert.ok(owners[0] === 'hub-b' || owners[0] === 'hub-c');
    assert.is(owners[2], 'hub-a');
    assert.equal(await b.adoptRuns('hub-a'), [], 'nothing left to adopt');
  });

  test('writes to a run another hub adopted are refused with RUN_NOT_OWNED and change nothing; the new owner writes on', async (ctx) => {
    const { store } = ctx;
    await store.createRun(newRun('r'));
    await store.updateRun('r', { state: 'running', snapshot: 'A1', reason: null, at: T0 + 1 });
    await store.startStep(step('r', 0));
    await store.updateStep('r.0', { state: 'waiting', snapshot: 'S-A', finishedAt: null, subscribers: [subscriber('w1', 'pending'), subscriber('w2', 'pending')] });
    await store.addMessage('r.0', 'w1', T0 + 2, 'info', 'from a');
    const b = open(ctx, 'hub-b');
    assert.equal(await b.adoptRuns('hub-a'), ['r']);
    const refused = /owned by hub hub-b/;
    await rejectsWith(store.updateRun('r', { state: 'succeeded', snapshot: 'A2', reason: null, at: T0 + 3 }), 'RUN_NOT_OWNED', refused);
    await rejectsWith(store.updateStep('r.0', { state: 'done', snapshot: 'S-A2', finishedAt: T0 + 3, subscribers: [subscriber('w1', 'done', { answeredAt: T0 + 3 })] }), 'RUN_NOT_OWNED', refused);
    await rejectsWith(store.markSent('r.0', ['w1'], T0 + 3), 'RUN_NOT_OWNED', refused);
    await rejectsWith(store.recordError('r.0', 'w2', { code: 'INTERNAL', message: 'x', retryable: false }), 'RUN_NOT_OWNED', refused);
    await rejectsWith(store.recordProgress('r.0', 'w1', 1, 2, null), 'RUN_NOT_OWNED', refused);
    await rejectsWith(store.addMessage('r.0', 'w1', T0 + 3, 'info', 'late from a'), 'RUN_NOT_OWNED', refused);
    await rejectsWith(store.startStep(step('r', 1)), 'RUN_NOT_OWNED', refused);
    const run = (await b.getStoredRun('r'))!;
    assert.equal([run.state, run.snapshot, run.finishedAt, run.owner], ['running', 'A1', null, 'hub-b'], 'the run is as the old owner left it before the adoption');
    assert.equal((await b.getStep('r', 0))?.snapshot, 'S-A');
    assert.is(await b.getStep('r', 1), undefined);
    let detail = await b.getRun('r');
    assert.equal(detail.steps[0]!.answers.map((a) => [a.subscriber, a.status, a.sentAt, a.error, a.progress]), [['w1', 'pending', null, null, null], ['w2', 'pending', null, null, null]]);
    assert.equal(detail.steps[0]!.messages.map((m) => m.message), ['from a']);
    // The adopter writes on, as the owner.
    await b.updateStep('r.0', { state: 'done', snapshot: 'S-B', finishedAt: T0 + 4, subscribers: [subscriber('w1', 'done', { answeredAt: T0 + 4 }), subscriber('w2', 'done', { answeredAt: T0 + 4 })] });
    await b.addMessage('r.0', 'w2', T0 + 4, 'info', 'from b');
    await b.startStep(step('r', 1));
    await b.updateRun('r', { state: 'succeeded', snapshot: 'B1', reason: null, at: T0 + 5 });
    detail = await store.getRun('r');
    assert.equal([detail.run.state, detail.steps.length, detail.steps[0]!.messages.length], ['succeeded', 2, 2]);
  });

  test('a step the old owner created after the adoption is taken over by the new owner when it starts that step', async (ctx) => {
    const { store } = ctx;
    await store.createRun(newRun('r'));
    const b = open(ctx, 'hub-b');
    // The old owner's startStep raced the adoption and landed first; the adopter starts the same step.
    await store.startStep(step('r', 0));
    assert.equal(await b.adoptRuns('hub-a'), ['r']);
    await b.startStep(step('r', 0));
    await b.updateStep('r.0', { state: 'waiting', snapshot: 'S-B', finishedAt: null, subscribers: [subscriber('w1', 'pending')] });
    await rejectsWith(store.updateStep('r.0', { state: 'done', snapshot: 'S-A', finishedAt: T0, subscribers: [] }), 'RUN_NOT_OWNED', /hub-b/);
    assert.is((await b.getStep('r', 0))?.snapshot, 'S-B');
  });

  test('activeRunsOf: every hub\'s pending and running runs of one workflow, oldest first', async (ctx) => {
    const { store } = ctx;
    const b = open(ctx, 'hub-b');
    await b.createRun(newRun('b-late', { createdAt: T0 + 2 }));
    await store.createRun(newRun('a-early', { createdAt: T0 }));
    await store.createRun(newRun('a-other', { createdAt: T0, workflow: 'other' }));
    await b.createRun(newRun('b-done', { createdAt: T0 - 1 }));
    await b.updateRun('b-done', { state: 'succeeded', snapshot: '{}', reason: null, at: T0 });
    await b.updateRun('b-late', { state: 'running', snapshot: '{}', reason: null, at: T0 + 3 });
    for (const s of [store, b]) assert.equal((await s.activeRunsOf('collect')).map((r) => [r.id, r.state, r.owner]), [['a-early', 'pending', 'hub-a'], ['b-late', 'running', 'hub-b']]);
  });

  test('listRuns: newest first (creation order breaks ties), limit and workflow filter', async ({ store }) => {
    await store.createRun(newRun('r1', { createdAt: T0 }));
    await store.createRun(newRun('r2', { createdAt: T0 }));
    await store.createRun(newRun('r3', { createdAt: T0 + 1, workflow: 'other' }));
    await store.createRun(newRun('r0', { createdAt: T0 - 1 }));
    assert.equal((await store.listRuns()).map((r) => r.id), ['r3', 'r2', 'r1', 'r0']);
    assert.equal((await store.listRuns(2)).map((r) => r.id), ['r3', 'r2']);
    assert.equal((await store.listRuns(10, 'collect')).map((r) => r.id), ['r2', 'r1', 'r0']);
    assert.equal(await store.listRuns(10, 'none'), []);
  });

  test('resolveRunId: the id, or a unique prefix of at least 4 characters', async ({ store }) => {
    await store.createRun(newRun('abcdef-1'));
    await store.createRun(newRun('abcdxx-2'));
    assert.is(await store.resolveRunId('abcdef-1'), 'abcdef-1');
    assert.is(await store.resolveRunId('abcde'), 'abcdef-1');
    await rejectsWith(store.resolveRunId('abcd'), 'INVALID_ARGUMENT', /ambiguous/);
    await rejectsWith(store.resolveRunId('abc'), 'INVALID_ARGUMENT', /No workflow run `abc`/);
    await rejectsWith(store.resolveRunId('zzzzzz'), 'INVALID_ARGUMENT', /No workflow run/);
    await rejectsWith(store.getRun('nope'), 'INVALID_ARGUMENT', /No workflow run/);
  });

  test('steps: started once, updated with their answers; finishedAt kept once set; getRun leaves snapshots out', async ({ store }) => {
    await store.createRun(newRun('r'));
    await store.startStep(step('r', 0));
    await store.startStep({ ...step('r', 0), name: 'again' });
    assert.equal(await store.getStep('r', 0), { ...step('r', 0), state: 'waiting', finishedAt: null, snapshot: null });
    assert.is(await store.getStep('r', 1), undefined);
    await store.updateStep('r.0', { state: 'waiting', snapshot: '', finishedAt: null, subscribers: [subscriber('w2', 'pending'), subscriber('w1', 'pending', { wait: false })] });
    await store.updateStep('r.0', { state: 'waiting', snapshot: 'S1', finishedAt: null, subscribers: [] });
    await store.updateStep('r.0', { state: 'waiting', finishedAt: null, subscribers: [subscriber('w1', 'done', { answeredAt: T0 + 5, wait: true })] });
    assert.is((await store.getStep('r', 0))!.snapshot, 'S1', 'a patch without a snapshot keeps the stored one');
    await store.updateStep('r.0', { state: 'succeeded', snapshot: 'S2', finishedAt: T0 + 9, subscribers: [subscriber('w2', 'gone', { answeredAt: T0 + 9 })] });
    await store.updateStep('r.0', { state: 'succeeded', snapshot: 'S3', finishedAt: T0 + 99, subscribers: [] });
    const row = (await store.getStep('r', 0))!;
    assert.equal([row.state, row.snapshot, row.finishedAt], ['succeeded', 'S3', T0 + 9]);
    const detail = await store.getRun('r');
    assert.equal(detail.run, (await store.listRuns())[0]);
    assert.is(detail.steps.length, 1);
    assert.not.ok('snapshot' in detail.steps[0]!);
    assert.equal(
      detail.steps[0]!.answers.map((a) => [a.subscriber, a.wait, a.status, a.answeredAt]),
      [
        ['w1', false, 'done', T0 + 5],
        ['w2', true, 'gone', T0 + 9],
      ],
      'answers by subscriber; `wait` as first stored',
    );
  });

  test('markSent, recordError and recordProgress change existing answers only; addMessage keeps order and a cap', async ({ store }) => {
    await store.createRun(newRun('r'));
    await store.startStep(step('r'));
    await store.updateStep('r.0', { state: 'waiting', snapshot: '', finishedAt: null, subscribers: [subscriber('w1', 'pending'), subscriber('w2', 'pending')] });
    await store.markSent('r.0', ['w1', 'w2', 'stranger'], T0 + 1);
    await store.markSent('r.0', ['w2'], T0 + 2);
    await store.recordError('r.0', 'w1', { code: 'IO_ERROR', message: 'disk gone', retryable: false });
    await store.recordProgress('r.0', 'w2', 1, 4, 'a quarter');
    await store.recordProgress('r.0', 'stranger', 1, 4, null);
    assert.ok(await store.addMessage('r.0', 'w1', T0 + 3, 'info', 'first'));
    assert.ok(await store.addMessage('r.0', 'w2', T0 + 4, 'warn', 'second'));
    const [answers, messages] = await store.getRun('r').then((d) => [d.steps[0]!.answers, d.steps[0]!.messages] as const);
    assert.equal(
      answers.map((a) => [a.subscriber, a.sentAt, a.error, a.progress]),
      [
        ['w1', T0 + 1, { code: 'IO_ERROR', message: 'disk gone', retryable: false }, null],
        ['w2', T0 + 2, null, { current: 1, total: 4, message: 'a quarter' }],
      ],
    );
    assert.equal(messages, [
      { subscriber: 'w1', at: T0 + 3, level: 'info', message: 'first' },
      { subscriber: 'w2', at: T0 + 4, level: 'warn', message: 'second' },
    ]);
    const added = await Promise.all(Array.from({ length: MAX_MESSAGES_PER_ANSWER }, (_, i) => store.addMessage('r.0', 'w1', T0 + 10 + i, 'info', `m${i}`)));
    assert.is(added.filter(Boolean).length, MAX_MESSAGES_PER_ANSWER - 1, 'the cap counts per answer, checked atomically');
    assert.ok(await store.addMessage('r.0', 'w2', T0, 'info', 'w2 has room'));
  });

  test('updateStep with `sent` notes the send time as markSent does, with the rows it writes, and keeps it over later upserts', async ({ store }) => {
    await store.createRun(newRun('r'));
    await store.startStep(step('r'));
    await store.updateStep('r.0', { state: 'waiting', snapshot: '', finishedAt: null, subscribers: [subscriber('w0', 'pending')] });
    // w1 and w2 are new rows, w0 an existing one, `stranger` has no row; w3 was not sent.
    await store.updateStep('r.0', {
      state: 'waiting',
      snapshot: '',
      finishedAt: null,
      subscribers: [subscriber('w1', 'pending'), subscriber('w2', 'pending'), subscriber('w3', 'pending')],
      sent: { subscribers: ['w2', 'w1', 'w0', 'stranger'], at: T0 + 1 },
    });
    const sentAt = async () => (await store.getRun('r')).steps[0]!.answers.map((a) => [a.subscriber, a.status, a.sentAt]);
    assert.equal(await sentAt(), [['w0', 'pending', T0 + 1], ['w1', 'pending', T0 + 1], ['w2', 'pending', T0 + 1], ['w3', 'pending', null]]);
    await store.updateStep('r.0', { state: 'waiting', finishedAt: null, subscribers: [subscriber('w1', 'done', { answeredAt: T0 + 2 })] });
    await store.updateStep('r.0', { state: 'waiting', finishedAt: null, subscribers: [subscriber('w3', 'pending')], sent: { subscribers: ['w3'], at: T0 + 3 } });
    assert.equal(await sentAt(), [['w0', 'pending', T0 + 1], ['w1', 'done', T0 + 1], ['w2', 'pending', T0 + 1], ['w3', 'pending', T0 + 3]], 'an upsert without `sent` keeps the send time');
  });

  test("updateStep `initial`: every subscriber is listed as given, and later sends, errors, progress and answers reach them", async (ctx) => {
    const { store } = ctx;
    await store.createRun(newRun('r'));
    await store.startStep(step('r'));
    const subscribers = [subscriber('w1', 'pending'), subscriber('w2', 'pending'), subscriber('w3', 'sent', { wait: false }), subscriber('w4', 'pending', { graceUntil: T0 + 10 })];
    const snapshot = JSON.stringify({ status: 'active', value: 'waiting', context: { subscribers } });
    await store.updateStep('r.0', { state: 'waiting', snapshot, finishedAt: null, subscribers, sent: { subscribers: ['w1', 'w2', 'w3'], at: T0 + 1 }, initial: true });
    const show = async (s: WorkflowStore) =>
      (await s.getRun('r')).steps[0]!.answers.map((a) => [a.subscriber, a.wait, a.status, a.sentAt, a.answeredAt, a.error?.code ?? null, a.progress?.current ?? null]);
    assert.equal(await show(store), [
      ['w1', true, 'pending', T0 + 1, null, null, null],
      ['w2', true, 'pending', T0 + 1, null, null, null],
      ['w3', false, 'sent', T0 + 1, null, null, null],
      ['w4', true, 'pending', null, null, null, null],
    ]);
    await store.recordProgress('r.0', 'w1', 1, 2, null);
    await store.recordError('r.0', 'w2', { code: 'IO_ERROR', message: 'disk gone', retryable: false });
    await store.markSent('r.0', ['w4'], T0 + 5);
    await store.updateStep('r.0', { state: 'waiting', finishedAt: null, subscribers: [subscriber('w2', 'error', { answeredAt: T0 + 6 }), subscriber('w3', 'done', { wait: false, answeredAt: T0 + 6 })] });
    await store.updateStep('r.0', { state: 'failed', finishedAt: T0 + 7, subscribers: [subscriber('w1', 'done', { answeredAt: T0 + 7 }), subscriber('w4', 'timeout', { answeredAt: T0 + 7 })] });
    const ended = [
      ['w1', true, 'done', T0 + 1, T0 + 7, null, 1],
      ['w2', true, 'error', T0 + 1, T0 + 6, 'IO_ERROR', null],
      ['w3', false, 'done', T0 + 1, T0 + 6, null, null],
      ['w4', true, 'timeout', T0 + 5, T0 + 7, null, null],
    ];
    assert.equal(await show(store), ended);
    assert.equal(await show(open(ctx, 'hub-b')), ended, "another hub's view of the same backend");
  });

  test('pruneRuns deletes finished runs created before the cutoff, with their steps, answers and messages', async ({ store }) => {
    for (const [id, createdAt, state] of [
      ['old-done', T0 - 100, 'succeeded'],
      ['old-active', T0 - 100, 'running'],
      ['new-done', T0 + 100, 'failed'],
    ] as const) {
      await store.createRun(newRun(id, { createdAt }));
      await store.updateRun(id, { state, snapshot: '{}', reason: null, at: createdAt });
      await store.startStep(step(id));
      await store.updateStep(`${id}.0`, { state: 'waiting', snapshot: '', finishedAt: null, subscribers: [subscriber('w1', 'pending')] });
      await store.addMessage(`${id}.0`, 'w1', createdAt, 'info', 'hi');
    }
    assert.is(await store.pruneRuns(T0), 1);
    assert.equal((await store.listRuns()).map((r) => r.id).sort(), ['new-done', 'old-active']);
    assert.is(await store.getStep('old-done', 0), undefined);
    // A run created again under the pruned id starts clean: nothing of the old one is left behind.
    await store.createRun(newRun('old-done'));
    await store.startStep(step('old-done'));
    const detail = await store.getRun('old-done');
    assert.equal([detail.steps[0]!.answers, detail.steps[0]!.messages], [[], []]);
    assert.is(await store.pruneRuns(T0), 0);
  });

  return test;
}
