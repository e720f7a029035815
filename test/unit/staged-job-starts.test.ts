/**
 * Issue 13: a job's start record is held back (src/hub/staged-job-starts.ts) so that a job ending within
 * the delay costs one commit; its end is still acknowledged only after the commit that holds both.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { Registry } from '../../src/hub/registry.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.ts';

interface Context {
  store: SqliteStore;
  clock: SimulatedClock;
  registry: Registry;
}

const DELAY = 10;
const job = (id: string, workerId = 'w1') => ({ id, workerId, kind: 'exec' as const, command: ['true'], at: 1_000 });
const ok = { at: 1_005, exitCode: 0, signal: null, outcome: 'ok' as const };

const test = suite<Context>('staged job starts', {} as Context);
test.before.each(async (ctx) => {
  ctx.store = openSqliteStore(':memory:');
  ctx.clock = new SimulatedClock();
  ctx.clock.set(1_000);
  ctx.registry = new Registry(ctx.store, ctx.clock);
  const { passkey } = await ctx.registry.createProject('A');
  await ctx.registry.register({ passkey, id: 'w1' });
  await ctx.registry.hubId();
});
test.after.each(async (ctx) => {
  await ctx.store.close();
});

test('a job that ends within the delay: start and end in one commit, the end resolves after it', async ({ store, registry }) => {
  const before = store.commits;
  const started = registry.stageJobStart(job('j1'), DELAY);
  const ended = registry.recordJobEnd('j1', ok);
  assert.ok(await ended, 'the end found its start');
  await started;
  assert.is(store.commits - before, 1, 'one commit for both records');
  const row = await store.getJob('j1');
  assert.equal([row?.startedAt, row?.finishedAt, row?.outcome], [1_000, 1_005, 'ok']);
  assert.is((await registry.getWorker('w1'))?.jobsRun, 1);
});

test('a job still running when the delay is up: its start is written alone, then its end', async ({ store, clock, registry }) => {
  const started = registry.stageJobStart(job('j2'), DELAY);
  clock.increment(DELAY - 1);
  assert.is(await store.getJob('j2'), undefined, 'held back before the delay');
  let before = store.commits;
  clock.increment(1);
  await started;
  assert.is(store.commits - before, 1, 'the start in a commit of its own');
  assert.is((await store.getJob('j2'))?.finishedAt, null, 'recorded as running');
  before = store.commits;
  assert.ok(await registry.recordJobEnd('j2', ok));
  assert.is(store.commits - before, 1, 'the end in a commit of its own');
});

test('a jobs listing writes staged starts first: it never misses a dispatched job', async ({ registry }) => {
  const started = registry.stageJobStart(job('j3'), DELAY);
  const listed = await registry.recentJobs(10);
  assert.equal(listed.map((j) => [j.id, j.finishedAt]), [['j3', null]]);
  await started;
});

test('flushJobStarts writes every staged start; a failed write rejects its own promise only', async ({ store, registry }) => {
  const good = registry.stageJobStart(job('j4'), DELAY);
  const bad = registry.stageJobStart(job('j5', 'nobody'), DELAY);
  const failure = bad.then(
    () => assert.unreachable('an unknown worker is refused'),
    (error: { code?: string }) => error.code,
  );
  await registry.flushJobStarts();
  await good;
  assert.is(await failure, 'UNKNOWN_WORKER');
  assert.ok(await store.getJob('j4'));
  assert.is(await store.getJob('j5'), undefined);
});

test('a bad kind is refused at once, before anything is staged', ({ registry }) => {
  assert.throws(() => registry.stageJobStart({ ...job('j6'), kind: 'nope' as 'exec' }, DELAY), /Expected job kind/);
});

test.run();
