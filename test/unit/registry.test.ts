import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { ClaError, InvalidArgumentError } from '../../src/errors.ts';
import { ADMIN_TOKEN_HASH_SETTING, HUB_ID_SETTING, Registry } from '../../src/hub/registry.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import type { SqliteStore } from '../../src/store/sqlite-store.ts';

interface Context {
  store: SqliteStore;
  clock: SimulatedClock;
  registry: Registry;
}

const agent = { version: '0.1.0', pid: 7, user: 'ci', host: 'box', platform: 'linux' };
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const HEX32 = /^[0-9a-f]{32}$/;
const BAD_TOKEN = 'Worker id or token is not valid. Register again with `cla-worker register --passkey KEY`.';
const BAD_PASSKEY =
  'The passkey is not valid for any project. Get the current passkey with `cla-hub project passkey NAME`.';

/** A deterministic stand-in for crypto.randomBytes. */
function fakeRandom(): (size: number) => Buffer {
  let n = 0;
  return (size) => Buffer.from(Array.from({ length: size }, () => (n++ * 97 + 13) & 0xff));
}

async function caught(fn: () => Promise<unknown>): Promise<ClaError> {
  try {
    await fn();
  } catch (error) {
    assert.instance(error, ClaError);
    return error as ClaError;
  }
  throw new assert.Assertion({ message: 'expected a ClaError', operator: 'throws', expects: true, actual: false });
}

const test = suite<Context>('Registry', {} as Context);
test.before.each((ctx) => {
  ctx.store = openSqliteStore(':memory:');
  ctx.clock = new SimulatedClock();
  ctx.clock.set(1_000);
  ctx.registry = new Registry(ctx.store, ctx.clock, fakeRandom());
});
test.after.each(async (ctx) => {
  await ctx.store.close();
});

test('createProject makes a 32-hex passkey; a taken name is PROJECT_EXISTS', async ({ registry, store }) => {
  const { project, passkey } = await registry.createProject('CLARIVE');
  assert.is(project, 'CLARIVE');
  assert.match(passkey, HEX32);
  assert.is((await store.getProject('CLARIVE'))?.passkeyHash, sha256(passkey));
  assert.is((await store.getProject('CLARIVE'))?.createdAt, 1_000);
  assert.is((await caught(async () => await registry.createProject('CLARIVE'))).code, 'PROJECT_EXISTS');
  assert.is((await registry.createProject('clarive')).project, 'clarive', 'names are case-sensitive');
});

test('project names are 1-100 characters of [A-Za-z0-9_.-]', async ({ registry }) => {
  await registry.createProject('a'.repeat(100));
  await registry.createProject('My_proj-1.2');
  for (const bad of ['', 'a'.repeat(101), 'with space', 'x/y', 'ünï']) {
    const error = await caught(async () => await registry.createProject(bad));
    assert.instance(error, InvalidArgumentError);
    assert.match(error.message, "A-Z, a-z, 0-9, '_', '.' or '-'");
  }
});

test('ensureDefaultProject creates a project only when there is none', async ({ registry }) => {
  const first = await registry.ensureDefaultProject();
  assert.equal([first.project, first.created], ['default', true]);
  assert.match(first.passkey!, HEX32);
  assert.equal(await registry.ensureDefaultProject(), { project: 'default', passkey: first.passkey, created: false });
  assert.equal(await registry.ensureDefaultProject('other'), { project: 'default', passkey: first.passkey, created: false });
  assert.equal(await registry.listProjects(), [{ name: 'default', hasPasskey: true, createdAt: 1_000 }]);
});

test('passkey, rotatePasskey and invalidatePasskey', async ({ registry }) => {
  const { passkey } = await registry.createProject('A');
  assert.is(await registry.passkey('A'), passkey);
  const rotated = await registry.rotatePasskey('A');
  assert.is.not(rotated, passkey);
  assert.is(await registry.passkey('A'), rotated);
  assert.is((await caught(async () => await registry.register({ passkey }))).code, 'BAD_PASSKEY', 'the old passkey stops working');
  assert.is((await registry.register({ passkey: rotated })).added, 'A');
  await registry.invalidatePasskey('A');
  assert.is(await registry.passkey('A'), null);
  assert.equal((await registry.listProjects())[0]?.hasPasskey, false);
  const onMissing = [
    () => registry.passkey('B'),
    () => registry.rotatePasskey('B'),
    () => registry.invalidatePasskey('B'),
  ];
  for (const fn of onMissing) assert.is((await caught(fn)).code, 'UNKNOWN_PROJECT');
});

test('environments are global and case-sensitive', async ({ registry }) => {
  assert.ok(await registry.addEnv('QA'));
  assert.not.ok(await registry.addEnv('QA'));
  assert.ok(await registry.addEnv('PROD'));
  assert.equal(await registry.listEnvs(), ['PROD', 'QA']);
  assert.equal(await registry.missingEnvs(['QA', 'qa', 'DEV', 'qa', 'PROD']), ['qa', 'DEV']);
  assert.equal(await registry.missingEnvs([]), []);
  assert.instance(await caught(async () => await registry.addEnv('no spaces')), InvalidArgumentError);
});

test('register a new worker: generated base62 id, 32-hex token, only its hash stored', async ({ registry, store }) => {
  const { passkey } = await registry.createProject('CLARIVE');
  const result = await registry.register({ passkey, agent });
  assert.match(result.id, /^[A-Za-z0-9]{9}$/);
  assert.match(result.token, HEX32);
  assert.equal([result.projects, result.added], [['CLARIVE'], 'CLARIVE']);
  const row = (await store.getWorker(result.id))!;
  assert.is.not(row.tokenHash, result.token);
  assert.not.ok(row.tokenHash.includes(result.token));
  assert.is(row.tokenHash, sha256(result.token));
  assert.equal([row.agent, row.createdAt, row.projects], [agent, 1_000, ['CLARIVE']]);
  const second = await registry.register({ passkey });
  assert.is.not(second.id, result.id);
  assert.is.not(second.token, result.token);
});

test('register with a chosen id; an invalid id is refused', async ({ registry }) => {
  const { passkey } = await registry.createProject('A');
  assert.is((await registry.register({ passkey, id: 'myworker' })).id, 'myworker');
  assert.instance(await caught(async () => await registry.register({ passkey, id: 'bad id' })), InvalidArgumentError);
});

test('the same id twice in one project is DUPLICATE_WORKER', async ({ registry }) => {
  const { passkey } = await registry.createProject('A');
  const { token } = await registry.register({ passkey, id: 'w1' });
  for (const again of [{ passkey, id: 'w1' }, { passkey, id: 'w1', token }]) {
    const error = await caught(async () => await registry.register(again));
    assert.is(error.code, 'DUPLICATE_WORKER');
    assert.match(error.message, 'already registered in project `A`');
    assert.match(error.message, '`cla-worker unregister --id w1 --token TOKEN`');
    assert.match(error.message, 'another --id');
    assert.not.match(error.message, token);
    assert.not.match(error.message, passkey);
  }
});

test("adding a project to an existing id needs that worker's token", async ({ registry, store }) => {
  const a = await registry.createProject('A');
  const b = await registry.createProject('B');
  const first = await registry.register({ passkey: a.passkey, id: 'w1' });
  const hashBefore = (await store.getWorker('w1'))!.tokenHash;
  const other = await registry.register({ passkey: a.passkey, id: 'w2' });
  for (const token of [undefined, other.token, 'f'.repeat(32)]) {
    const error = await caught(async () => await registry.register({ passkey: b.passkey, id: 'w1', token }));
    assert.is(error.code, 'DUPLICATE_WORKER');
    assert.is(
      error.message,
      'Worker `w1` is already registered in projects ["A"]; to add project `B` re-run register with ' +
        "--token <that worker's token>.",
    );
  }
  assert.equal((await store.getWorker('w1'))!.projects, ['A']);
  const added = await registry.register({ passkey: b.passkey, id: 'w1', token: first.token, agent });
  assert.equal(added, { id: 'w1', token: first.token, projects: ['A', 'B'], added: 'B' });
  assert.is((await store.getWorker('w1'))!.tokenHash, hashBefore, 'the token is kept');
  assert.equal((await store.getWorker('w1'))!.agent, agent);
  assert.equal((await registry.authenticate('w1', first.token)).projects, ['A', 'B']);
});

test('a wrong or invalidated passkey is BAD_PASSKEY', async ({ registry }) => {
  const { passkey } = await registry.createProject('A');
  const wrong = await caught(async () => await registry.register({ passkey: 'nope' }));
  assert.equal([wrong.code, wrong.message], ['BAD_PASSKEY', BAD_PASSKEY]);
  await registry.invalidatePasskey('A');
  const invalidated = await caught(async () => await registry.register({ passkey }));
  assert.equal([invalidated.code, invalidated.message], ['BAD_PASSKEY', BAD_PASSKEY]);
  assert.instance(await caught(async () => await registry.register({ passkey: '' })), InvalidArgumentError);
});

test('authenticate: one BAD_TOKEN message for an unknown id and for a wrong token', async ({ registry }) => {
  const { passkey } = await registry.createProject('A');
  const { id, token } = await registry.register({ passkey, agent });
  const info = await registry.authenticate(id, token);
  assert.equal([info.id, info.projects, info.agent], [id, ['A'], agent]);
  assert.not.ok('tokenHash' in info, 'the token hash is not handed out');
  const wrongToken = await caught(async () => await registry.authenticate(id, 'f'.repeat(32)));
  const unknownId = await caught(async () => await registry.authenticate('nobody', token));
  const emptyToken = await caught(async () => await registry.authenticate(id, ''));
  for (const error of [wrongToken, unknownId, emptyToken]) {
    assert.equal([error.code, error.message, error.data], ['BAD_TOKEN', BAD_TOKEN, undefined]);
  }
});

test('unregister from one project keeps the others; from the last deletes the worker', async ({ registry, store }) => {
  const a = await registry.createProject('A');
  const b = await registry.createProject('B');
  const { token } = await registry.register({ passkey: a.passkey, id: 'w1' });
  await registry.register({ passkey: b.passkey, id: 'w1', token });
  assert.is((await caught(async () => await registry.unregister('w1', 'f'.repeat(32), 'A'))).code, 'BAD_TOKEN');
  assert.is((await caught(async () => await registry.unregister('w1', token, 'C'))).code, 'UNKNOWN_PROJECT');
  assert.equal(await registry.unregister('w1', token, 'A'), { id: 'w1', projects: ['B'] });
  assert.equal((await registry.authenticate('w1', token)).projects, ['B']);
  assert.is((await caught(async () => await registry.unregister('w1', token, 'A'))).code, 'UNKNOWN_PROJECT');
  assert.equal(await registry.unregister('w1', token, 'B'), { id: 'w1', projects: [] });
  assert.is(await store.getWorker('w1'), undefined);
  assert.is((await caught(async () => await registry.authenticate('w1', token))).code, 'BAD_TOKEN');
  const again = await registry.register({ passkey: a.passkey, id: 'w1' });
  assert.is.not(again.token, token, 'the id is free again, with a new token');
});

test('unregister without a project removes the worker everywhere', async ({ registry, store }) => {
  const a = await registry.createProject('A');
  const b = await registry.createProject('B');
  const { token } = await registry.register({ passkey: a.passkey, id: 'w1' });
  await registry.register({ passkey: b.passkey, id: 'w1', token });
  assert.equal(await registry.unregister('w1', token), { id: 'w1', projects: [] });
  assert.is(await store.getWorker('w1'), undefined);
  assert.equal(await registry.listWorkers('B'), []);
});

test('admin token: created once, checked in constant time, rotated', async ({ registry, store }) => {
  assert.not.ok(await registry.checkAdminToken('anything'));
  const { token } = await registry.ensureAdminToken();
  assert.match(token!, HEX32);
  assert.equal(await registry.ensureAdminToken(), { token: null });
  assert.is(await store.getSetting(ADMIN_TOKEN_HASH_SETTING), sha256(token!));
  assert.ok(await registry.checkAdminToken(token!));
  assert.not.ok(await registry.checkAdminToken('f'.repeat(32)));
  assert.not.ok(await registry.checkAdminToken(''));
  const rotated = await registry.rotateAdminToken();
  assert.not.ok(await registry.checkAdminToken(token!));
  assert.ok(await registry.checkAdminToken(rotated));
});

test('connection bookkeeping: connected, seen, disconnected, disabled, reset', async ({ registry, clock }) => {
  const a = await registry.createProject('A');
  const b = await registry.createProject('B');
  await registry.register({ passkey: a.passkey, id: 'w1' });
  await registry.register({ passkey: b.passkey, id: 'w2' });
  await registry.markConnected('w1', agent, 2_000);
  await registry.markConnected('w2', agent, 2_100);
  assert.ok(await registry.markSeen('w1', 2_500));
  let w1 = (await registry.getWorker('w1'))!;
  assert.equal([w1.agent, w1.connectedSince, w1.lastSeen], [agent, 2_000, 2_500]);
  assert.ok(await registry.markDisconnected('w1', 3_000));
  w1 = (await registry.getWorker('w1'))!;
  assert.equal([w1.connectedSince, w1.lastSeen], [null, 3_000]);
  assert.not.ok(await registry.markDisconnected('gone', 3_000));
  assert.not.ok(await registry.markSeen('gone', 3_000));
  assert.is((await caught(async () => await registry.markConnected('gone', agent, 3_000))).code, 'UNKNOWN_WORKER');
  await registry.setDisabled('w2', true);
  assert.ok((await registry.getWorker('w2'))!.disabled);
  await registry.setDisabled('w2', false);
  assert.not.ok((await registry.getWorker('w2'))!.disabled);
  assert.is((await caught(async () => await registry.setDisabled('gone', true))).code, 'UNKNOWN_WORKER');
  assert.is(await registry.resetConnections(), 1);
  assert.is((await registry.getWorker('w2'))!.connectedSince, null);
  assert.is(await registry.getWorker('gone'), undefined);
  assert.equal((await registry.listWorkers()).map((w) => w.id), ['w1', 'w2']);
  assert.equal((await registry.listWorkers('B')).map((w) => w.id), ['w2']);
  assert.is((await caught(async () => await registry.listWorkers('C'))).code, 'UNKNOWN_PROJECT');
  assert.is(clock.now(), 1_000, 'the registry never moves time');
});

test('jobs: start, end once, counters, recent', async ({ registry }) => {
  const { passkey } = await registry.createProject('A');
  await registry.register({ passkey, id: 'w1' });
  await registry.recordJobStart({ id: 'j1', workerId: 'w1', kind: 'exec', command: { cmd: 'true' }, at: 10 });
  await registry.recordJobStart({ id: 'j2', workerId: 'w1', kind: 'exec', command: ['false'], at: 20 });
  await registry.recordJobStart({ id: 'j3', workerId: 'w1', kind: 'exec', command: 'sleep 9', at: 30 });
  assert.instance(
    await caught(async () => await registry.recordJobStart({ id: 'j1', workerId: 'w1', kind: 'exec', command: 'x', at: 40 })),
    InvalidArgumentError,
  );
  const start = { id: 'j9', workerId: 'nobody', kind: 'exec' as const, command: 'x', at: 40 };
  assert.is((await caught(async () => await registry.recordJobStart(start))).code, 'UNKNOWN_WORKER');
  assert.ok(await registry.recordJobEnd('j1', { at: 11, exitCode: 0, signal: null, outcome: 'ok' }));
  assert.ok(await registry.recordJobEnd('j2', { at: 21, exitCode: 1, signal: null, outcome: 'failed' }));
  assert.not.ok(await registry.recordJobEnd('j2', { at: 22, exitCode: 1, signal: null, outcome: 'failed' }), 'counted once');
  const cancelled = { at: 31, exitCode: null, signal: null, outcome: 'cancelled' as const, errorCode: 'CANCELLED' };
  assert.ok(await registry.recordJobEnd('j3', cancelled));
  assert.not.ok(await registry.recordJobEnd('j404', { at: 1, exitCode: 0, signal: null, outcome: 'ok' }));
  const w1 = (await registry.getWorker('w1'))!;
  assert.equal([w1.jobsRun, w1.failures], [3, 1], 'a cancellation is not a failure');
  const recent = await registry.recentJobs(2);
  assert.equal(
    recent.map((j) => [j.id, j.outcome, j.errorCode]),
    [['j3', 'cancelled', 'CANCELLED'], ['j2', 'failed', null]],
  );
  assert.equal((await registry.recentJobs(10, 'w1'))[2]?.command, { cmd: 'true' });
  assert.equal(await registry.recentJobs(10, 'w2'), []);
  for (const limit of [0, 1.5, 10_001]) assert.instance(await caught(async () => await registry.recentJobs(limit)), InvalidArgumentError);
});

test('the hub id is made once and kept in the store; a given one sticks', async ({ registry, store, clock }) => {
  const id = await registry.hubId();
  assert.is(await store.getSetting(HUB_ID_SETTING), id);
  assert.is(await new Registry(store, clock).hubId(), id, 'the same id after a restart');
  assert.is(await registry.hubId('hub-x'), 'hub-x');
  assert.is(await registry.hubId(), 'hub-x');
  assert.is(await store.getSetting(HUB_ID_SETTING), id, 'a given id is not stored');
});

test('jobs belong to the hub that ran them: a starting hub closes only its own as lost', async ({ registry, store, clock }) => {
  const { passkey } = await registry.createProject('A');
  await registry.register({ passkey, id: 'w1' });
  const other = new Registry(store, clock);
  await registry.hubId('hub-a');
  await other.hubId('hub-b');
  await registry.recordJobStart({ id: 'a1', workerId: 'w1', kind: 'exec', command: 'x', at: 10 });
  await other.recordJobStart({ id: 'b1', workerId: 'w1', kind: 'exec', command: 'x', at: 11 });
  await registry.recordJobStart({ id: 'a2', workerId: 'w1', kind: 'exec', command: 'x', at: 12 });
  await registry.recordJobEnd('a2', { at: 13, exitCode: 0, signal: null, outcome: 'ok' });
  assert.is((await store.getJob('a1'))?.owner, 'hub-a');
  const closed = await registry.closeJobsOfPreviousLife(50);
  assert.equal(closed.map((j) => [j.id, j.outcome, j.errorCode, j.finishedAt]), [['a1', 'lost', 'WORKER_LOST', 50]]);
  assert.is((await store.getJob('b1'))?.finishedAt, null, "hub-b's job is left running");
  const w1 = (await registry.getWorker('w1'))!;
  assert.equal([w1.jobsRun, w1.failures], [2, 1]);
  assert.equal((await other.closeJobsOfPreviousLife(60)).map((j) => j.id), ['b1']);
});

test('the jobs of a dead hub on a shared store: any hub closes them as lost, each once; its own and other hubs\' stay', async ({ registry, store, clock }) => {
  const { passkey } = await registry.createProject('A');
  await registry.register({ passkey, id: 'w1' });
  const dead = new Registry(store, clock);
  const other = new Registry(store, clock);
  await registry.hubId('hub-a');
  await dead.hubId('hub-dead');
  await other.hubId('hub-c');
  await dead.recordJobStart({ id: 'd1', workerId: 'w1', kind: 'exec', command: 'x', at: 10 });
  await registry.recordJobStart({ id: 'a1', workerId: 'w1', kind: 'exec', command: 'x', at: 11 });
  await other.recordJobStart({ id: 'c1', workerId: 'w1', kind: 'exec', command: 'x', at: 12 });
  const [byA, byC] = await Promise.all([registry.closeJobsOfDeadHub('hub-dead', 50), other.closeJobsOfDeadHub('hub-dead', 51)]);
  assert.equal([...byA, ...byC].map((j) => [j.id, j.outcome, j.errorCode]), [['d1', 'lost', 'WORKER_LOST']], 'closed once');
  assert.equal([(await store.getJob('a1'))?.finishedAt, (await store.getJob('c1'))?.finishedAt], [null, null]);
  const w1 = (await registry.getWorker('w1'))!;
  assert.equal([w1.jobsRun, w1.failures], [1, 1], 'counted once');
});

test('settings pass through', async ({ registry }) => {
  assert.is(await registry.getSetting('hub.url'), undefined);
  await registry.setSetting('hub.url', 'wss://hub:8080');
  assert.is(await registry.getSetting('hub.url'), 'wss://hub:8080');
});

test.run();
