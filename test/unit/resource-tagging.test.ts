// "Tag each match" (src/hub/actions/resource-tagging.ts) with an in-memory task submitter and a
// SimulatedClock: one task per match with its routing attributes, a bounded wait for the outcomes, the
// summary, and the stored tags following a done task; the subscriber directory's live view.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { ClaError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { parseResourceQuery, type ResourceQuery } from '../../src/hub/actions/resource-query.ts';
import type { StoredResource } from '../../src/hub/actions/resource-store.ts';
import { runTagLine, tagResources, type TaggingDeps } from '../../src/hub/actions/resource-tagging.ts';
import { SubscriberDirectory } from '../../src/hub/actions/subscriber-directory.ts';
import { matchesQuery } from '../../src/hub/actions/resource-query.ts';
import type { WorkerSession } from '../../src/hub/worker-session.ts';
import { frame } from '../../src/protocol/frames.ts';

const resource = (id: string, worker: string, attrs: Record<string, unknown> = {}): StoredResource => ({
  worker,
  plugin: 'ec2',
  id,
  kind: 'aws_ec2_instance',
  attrs,
  tags: {},
  edges: [],
  clean: false,
  collectedAt: 0,
  runId: null,
});

type Row = { state: string; result: unknown; worker?: string | null; error?: { code: string; message: string } | null };

function setup(resources: StoredResource[]) {
  const clock = new SimulatedClock();
  const submitted: Array<{ id: string; attrs: Record<string, string>; data: unknown }> = [];
  const ends = new Map<string, (row: Row) => void>();
  const stored = new Map<string, Record<string, string>>();
  const deps: TaggingDeps = {
    resources: {
      search: async (query: ResourceQuery, limit?: number) => resources.filter((r) => matchesQuery(query, r)).slice(0, limit),
      setTags: async (_worker: string, _plugin: string, id: string, tags: Record<string, string>) => (stored.set(id, tags), true),
    },
    tasks: {
      submit: (task) => {
        const id = `t${submitted.length + 1}`;
        submitted.push({ id, attrs: task.attrs, data: task.data });
        return id;
      },
      wait: (id) => new Promise<Row>((resolve) => ends.set(id, resolve)),
    },
    clock,
    log: silentLogger(),
  };
  return { clock, deps, submitted, ends, stored };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test('one task per match, routed by collector and account; the summary waits for the outcomes, bounded', async () => {
  const { clock, deps, submitted, ends, stored } = setup([
    resource('i-1', 'wA', { account: '111', cloud: 'aws' }),
    resource('i-2', 'wB', { account: '222' }),
    resource('i-3', 'wB', { account: '222' }),
  ]);
  const pending = tagResources(deps, parseResourceQuery('id ~ ^i-'), 'id ~ ^i-', { set: { owner: 'lukas' }, remove: [] }, { deadlineMs: 600_000, waitMs: 30_000 });
  await flush();
  assert.equal(submitted.map((s) => [s.id, s.attrs]), [
    ['t1', { plugin: 'ec2', worker: 'wA', cloud: 'aws', account: '111' }],
    ['t2', { plugin: 'ec2', worker: 'wB', account: '222' }],
    ['t3', { plugin: 'ec2', worker: 'wB', account: '222' }],
  ]);
  assert.equal(submitted[0]!.data, { id: 'i-1', kind: 'aws_ec2_instance', set: { owner: 'lukas' }, remove: [] });
  ends.get('t1')!({ state: 'done', result: { id: 'i-1', tags: { owner: 'lukas' } }, worker: 'wC' });
  ends.get('t2')!({ state: 'failed', result: null, worker: 'wB', error: { code: 'IO_ERROR', message: 'api down' } });
  await flush();
  clock.increment(30_000); // t3 never ends: the wait is bounded
  const summary = await pending;
  assert.equal([summary.matched, summary.done, summary.failed, summary.waiting], [3, 1, 1, 1]);
  assert.equal(summary.tasks.map((t) => [t.task, t.state, t.by]), [['t1', 'done', 'wC'], ['t2', 'failed', 'wB'], ['t3', 'waiting', null]]);
  assert.equal(summary.tasks[1]!.error, { code: 'IO_ERROR', message: 'api down' });
  assert.equal(stored.get('i-1'), { owner: 'lukas' });
});

test('without a wait it returns once submitted; a late done task still updates the stored tags', async () => {
  const { deps, ends, stored } = setup([resource('i-1', 'wA')]);
  const summary = await runTagLine(deps, 'search id = i-1 | tag delete owner', { deadlineMs: 1000, waitMs: 0 });
  assert.equal([summary.waiting, summary.change], [1, { set: {}, remove: ['owner'] }]);
  ends.get('t1')!({ state: 'done', result: { id: 'i-1', tags: {} }, worker: 'wA' });
  await flush();
  assert.equal(stored.get('i-1'), {});
});

test('nothing matching, or no task dispatcher, is refused with what to do', async () => {
  const { deps } = setup([resource('i-1', 'wA')]);
  try {
    await runTagLine(deps, 'id = nope | tag update a b', { deadlineMs: 1000 });
    assert.unreachable();
  } catch (error) {
    assert.is((error as ClaError).code, 'INVALID_ARGUMENT');
    assert.match((error as Error).message, /No resource matches `id = nope`/);
  }
  try {
    await runTagLine({ ...deps, tasks: undefined }, 'id = i-1 | tag update a b', { deadlineMs: 1000 });
    assert.unreachable();
  } catch (error) {
    assert.is((error as ClaError).code, 'UNSUPPORTED');
  }
});

test('the subscriber directory lists live connections only, a newer subscribe replacing the older', () => {
  const dir = new SubscriberDirectory();
  const session = (workerId: string) => ({ info: { workerId }, isDisabled: () => workerId === 'b' }) as unknown as WorkerSession;
  const a1 = session('a');
  const sub = (id: string, actions: string[]) => frame('subscribe', { subscriberId: id, actions: actions.map((action) => ({ action, waitForCompletion: true, timeoutMs: 1000 })), tasks: [{ name: 'tag', filter: { plugin: ['fs'] } }], taskCapacity: 4 });
  dir.subscribed(a1, sub('resoto.worker', ['collect', 'cleanup']), 5);
  dir.subscribed(session('b'), sub('b', ['collect']), 6);
  assert.equal(dir.list().map((v) => [v.workerId, v.subscriberId, v.actions.map((a) => a.action), v.disabled]), [['a', 'resoto.worker', ['collect', 'cleanup'], false], ['b', 'b', ['collect'], true]]);
  assert.equal(dir.list('cleanup').map((v) => v.workerId), ['a']);
  const a2 = session('a');
  dir.subscribed(a2, sub('resoto.worker', ['collect']), 7);
  dir.sessionClosed(a1); // the replaced connection closing does not remove the new one
  assert.equal(dir.list('collect').map((v) => [v.workerId, v.since]), [['a', 7], ['b', 6]]);
  dir.sessionClosed(a2);
  assert.equal(dir.list().map((v) => v.workerId), ['b']);
});

test.run();
