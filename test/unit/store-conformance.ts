// One suite every RegistryStore backend must pass (BullMQ's conformance model, ../../shared/STYLE.md). A
// backend's test file calls `storeConformance(name, makeStore).run()`; each test gets a fresh, empty store.
// Backend-specific cases (a commit that fails, reopening a file) live in the backend's own test file.
import { suite } from 'uvu';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import type { AgentInfo, JobEnd, NewJob, RegistryStore } from '../../src/store/store.ts';

interface Context {
  store: RegistryStore;
  cleanup: () => void | Promise<void>;
}

const agent: AgentInfo = { version: '0.1.0', pid: 42, user: 'ci', host: 'box-1', platform: 'linux' };
const hash = (c: string) => c.repeat(64);
const project = (name: string, hashChar: string) => ({
  name,
  passkey: `pk-${name}`,
  passkeyHash: hash(hashChar),
  createdAt: 1000,
});

const job = (id: string, workerId: string, startedAt: number, extra: Partial<NewJob> = {}): NewJob => ({
  id,
  workerId,
  kind: 'exec',
  command: 'true',
  startedAt,
  owner: 'hub-a',
  ...extra,
});
const lost: JobEnd = { finishedAt: 100, exitCode: null, signal: null, outcome: 'lost', errorCode: 'WORKER_LOST' };

async function throwsCode(fn: () => Promise<unknown>, code: string): Promise<void> {
  try {
    await fn();
  } catch (error) {
    assert.instance(error, ClaError);
    assert.is((error as ClaError).code, code);
    return;
  }
  assert.unreachable(`expected ClaError ${code}`);
}

/** Defines the Store conformance suite against stores made by `makeStore`; call `.run()` on the result. */
export function storeConformance(
  name: string,
  makeStore: () => { store: RegistryStore; cleanup: () => void | Promise<void> },
): Test<Context> {
  const test = suite<Context>(`Store conformance: ${name}`, {} as Context);
  test.before.each((ctx) => {
    const made = makeStore();
    ctx.store = made.store;
    ctx.cleanup = made.cleanup;
  });
  test.after.each(async (ctx) => {
    await ctx.cleanup();
  });

  test('calls take effect in call order, even when not awaited one by one', async ({ store }) => {
    const [added, listed, again, missing] = await Promise.all([store.addEnv('QA'), store.listEnvs(), store.addEnv('QA'), store.missingEnvs(['QA', 'PROD'])]);
    assert.equal([added, listed, again, missing], [true, ['QA'], false, ['PROD']]);
  });

  test('createProject stores a project once; a taken name is refused and left unchanged', async ({ store }) => {
    assert.ok(await store.createProject({ name: 'A', passkey: 'p1', passkeyHash: hash('1'), createdAt: 5 }));
    assert.not.ok(await store.createProject({ name: 'A', passkey: 'p2', passkeyHash: hash('2'), createdAt: 6 }));
    assert.equal(await store.getProject('A'), { name: 'A', passkey: 'p1', passkeyHash: hash('1'), createdAt: 5 });
    assert.is(await store.getProject('a'), undefined, 'names are case-sensitive');
    assert.is(await store.getProject('B'), undefined);
  });

  test('a project may be created without a passkey', async ({ store }) => {
    assert.ok(await store.createProject({ name: 'bare', passkey: null, passkeyHash: null, createdAt: 1 }));
    assert.ok(await store.createProject({ name: 'bare2', passkey: null, passkeyHash: null, createdAt: 1 }));
    assert.is((await store.getProject('bare'))?.passkey, null);
  });

  test('listProjects is oldest first, ties by name', async ({ store }) => {
    await store.createProject({ name: 'c', passkey: null, passkeyHash: null, createdAt: 2 });
    await store.createProject({ name: 'b', passkey: null, passkeyHash: null, createdAt: 1 });
    await store.createProject({ name: 'a', passkey: null, passkeyHash: null, createdAt: 2 });
    assert.equal((await store.listProjects()).map((p) => p.name), ['b', 'a', 'c']);
    assert.equal((await store.listProjects())[0], { name: 'b', passkey: null, passkeyHash: null, createdAt: 1 });
  });

  test('findProjectByPasskeyHash and setProjectPasskey', async ({ store }) => {
    await store.createProject(project('alpha', 'a'));
    await store.createProject(project('beta', 'b'));
    assert.is((await store.findProjectByPasskeyHash(hash('a')))?.name, 'alpha');
    assert.is((await store.findProjectByPasskeyHash(hash('b')))?.name, 'beta');
    assert.is(await store.findProjectByPasskeyHash(hash('c')), undefined);
    assert.ok(await store.setProjectPasskey('alpha', 'new', hash('c')));
    assert.is(await store.findProjectByPasskeyHash(hash('a')), undefined);
    assert.equal((await store.findProjectByPasskeyHash(hash('c')))?.passkey, 'new');
    assert.ok(await store.setProjectPasskey('alpha', null, null));
    assert.equal(await store.getProject('alpha'), { name: 'alpha', passkey: null, passkeyHash: null, createdAt: 1000 });
    assert.is(await store.findProjectByPasskeyHash(hash('c')), undefined);
    assert.not.ok(await store.setProjectPasskey('nope', 'x', hash('d')));
  });

  test('environments: add once, case-sensitive, sorted', async ({ store }) => {
    assert.ok(await store.addEnv('QA'));
    assert.not.ok(await store.addEnv('QA'));
    assert.ok(await store.addEnv('qa'));
    assert.ok(await store.addEnv('PROD'));
    assert.equal(await store.listEnvs(), ['PROD', 'QA', 'qa']);
    assert.equal(await store.missingEnvs(['Qa', 'QA', 'DEV', 'Qa', 'qa']), ['Qa', 'DEV'], 'in the order given, without repeats');
    assert.equal(await store.missingEnvs([]), []);
  });

  test('createWorker stores defaults; a taken id is refused', async ({ store }) => {
    assert.ok(await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 10 }));
    assert.not.ok(await store.createWorker({ id: 'w1', tokenHash: hash('2'), createdAt: 11 }));
    assert.ok(await store.createWorker({ id: 'W1', tokenHash: hash('3'), createdAt: 12, agent }));
    assert.equal(await store.getWorker('w1'), {
      id: 'w1',
      tokenHash: hash('1'),
      createdAt: 10,
      projects: [],
      agent: null,
      lastSeen: null,
      connectedSince: null,
      disabled: false,
      jobsRun: 0,
      failures: 0,
    });
    assert.equal((await store.getWorker('W1'))?.agent, agent);
    assert.is(await store.getWorker('w2'), undefined);
  });

  test('addWorkerProject manages memberships', async ({ store }) => {
    await store.createProject(project('beta', 'b'));
    await store.createProject(project('alpha', 'a'));
    await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 10 });
    assert.ok(await store.addWorkerProject('w1', 'beta', 11));
    assert.not.ok(await store.addWorkerProject('w1', 'beta', 12));
    assert.ok(await store.addWorkerProject('w1', 'alpha', 13));
    assert.equal((await store.getWorker('w1'))?.projects, ['alpha', 'beta']);
    await throwsCode(() => store.addWorkerProject('w9', 'alpha', 14), 'UNKNOWN_WORKER');
    await throwsCode(() => store.addWorkerProject('w1', 'gamma', 14), 'UNKNOWN_PROJECT');
  });

  test('addWorkerProject applies its patch only when it adds the membership', async ({ store }) => {
    await store.createProject(project('alpha', 'a'));
    await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 10 });
    assert.ok(await store.addWorkerProject('w1', 'alpha', 11, { agent }));
    assert.equal((await store.getWorker('w1'))?.agent, agent);
    assert.not.ok(await store.addWorkerProject('w1', 'alpha', 12, { agent: null }));
    assert.equal((await store.getWorker('w1'))?.agent, agent, 'nothing written when it was a member');
  });

  test('leaveProject removes a membership, and the worker with its last one', async ({ store }) => {
    await store.createProject(project('beta', 'b'));
    await store.createProject(project('alpha', 'a'));
    await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 10 }, { project: 'beta', at: 11 });
    await store.addWorkerProject('w1', 'alpha', 12);
    assert.equal(await store.leaveProject('w1', 'beta'), ['alpha']);
    assert.is(await store.leaveProject('w1', 'beta'), undefined, 'not a member any more');
    assert.equal((await store.getWorker('w1'))?.projects, ['alpha']);
    assert.equal(await store.leaveProject('w1', 'alpha'), []);
    assert.is(await store.getWorker('w1'), undefined, 'a worker left with no project is deleted');
    assert.is(await store.leaveProject('w9', 'alpha'), undefined);
  });

  test('createWorker with a membership and settings writes all or nothing', async ({ store }) => {
    await store.createProject(project('alpha', 'a'));
    await store.setSetting('old', 'x');
    assert.ok(await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 1 }, { project: 'alpha', at: 2 }, { mark: '1', old: null }));
    assert.equal((await store.getWorker('w1'))?.projects, ['alpha']);
    assert.equal([await store.getSetting('mark'), await store.getSetting('old')], ['1', undefined]);
    await throwsCode(() => store.createWorker({ id: 'w2', tokenHash: hash('2'), createdAt: 3 }, { project: 'gamma', at: 4 }, { other: '1' }), 'UNKNOWN_PROJECT');
    assert.is(await store.getWorker('w2'), undefined, 'no worker without its project');
    assert.is(await store.getSetting('other'), undefined, 'no settings either');
    assert.not.ok(await store.createWorker({ id: 'w1', tokenHash: hash('3'), createdAt: 5 }, { project: 'alpha', at: 6 }, { mark: '2' }));
    assert.is(await store.getSetting('mark'), '1', 'a taken id writes nothing');
  });

  test('getWorkers answers many ids at once, in the order given', async ({ store }) => {
    for (const id of ['w1', 'w2']) await store.createWorker({ id, tokenHash: hash('1'), createdAt: 1 });
    assert.equal((await store.getWorkers(['w2', 'w9', 'w1'])).map((w) => w?.id), ['w2', undefined, 'w1']);
    assert.equal(await store.getWorkers([]), []);
  });

  test('listWorkers: all sorted by id, or one project only', async ({ store }) => {
    await store.createProject(project('alpha', 'a'));
    await store.createProject(project('beta', 'b'));
    for (const id of ['w3', 'w1', 'w2']) await store.createWorker({ id, tokenHash: hash('1'), createdAt: 1 });
    await store.addWorkerProject('w1', 'alpha', 2);
    await store.addWorkerProject('w3', 'alpha', 2);
    await store.addWorkerProject('w3', 'beta', 2);
    assert.equal((await store.listWorkers()).map((w) => w.id), ['w1', 'w2', 'w3']);
    assert.equal((await store.listWorkers('alpha')).map((w) => w.id), ['w1', 'w3']);
    assert.equal((await store.listWorkers('alpha'))[1]?.projects, ['alpha', 'beta'], 'all projects, not just the filter');
    assert.equal((await store.listWorkers('beta')).map((w) => w.id), ['w3']);
    assert.equal(await store.listWorkers('gamma'), []);
  });

  test('updateWorker changes only the given fields', async ({ store }) => {
    await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 1 });
    assert.ok(await store.updateWorker('w1', { agent, lastSeen: 5, connectedSince: 4, disabled: true }));
    assert.ok(await store.updateWorker('w1', { tokenHash: hash('2') }));
    assert.ok(await store.updateWorker('w1', {}));
    let w = (await store.getWorker('w1'))!;
    assert.equal([w.agent, w.lastSeen, w.connectedSince, w.disabled, w.tokenHash], [agent, 5, 4, true, hash('2')]);
    assert.ok(await store.updateWorker('w1', { agent: null, connectedSince: null, disabled: false }));
    w = (await store.getWorker('w1'))!;
    assert.equal([w.agent, w.lastSeen, w.connectedSince, w.disabled], [null, 5, null, false]);
    assert.not.ok(await store.updateWorker('w2', { lastSeen: 1 }));
    assert.not.ok(await store.updateWorker('w2', {}));
  });

  // `endJob` (optional) is `finishJob` without the row: held to the same rules where a backend has it.
  for (const method of ['finishJob', 'endJob'] as const) {
    test(`${method} counts the job on its worker: a failure unless ok or cancelled`, async ({ store }) => {
      const end = method === 'endJob' ? store.endJob?.bind(store) : store.finishJob.bind(store);
      if (end === undefined) return;
      await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 1 });
      for (const [id, outcome] of [['j1', 'ok'], ['j2', 'failed'], ['j3', 'cancelled'], ['j4', 'timeout']] as const) {
        await store.insertJob(job(id, 'w1', 2));
        assert.ok(await end(id, { finishedAt: 3, exitCode: null, signal: null, outcome, errorCode: null }));
      }
      assert.not.ok(await end('j1', { finishedAt: 4, exitCode: 1, signal: null, outcome: 'failed', errorCode: null }), 'counted once');
      assert.not.ok(await end('j9', { finishedAt: 4, exitCode: 1, signal: null, outcome: 'failed', errorCode: null }), 'no such job');
      const w = (await store.getWorker('w1'))!;
      assert.equal([w.jobsRun, w.failures], [4, 2]);
      assert.equal((await store.getJob('j2'))?.finishedAt, 3);
      assert.equal((await store.getJob('j2'))?.outcome, 'failed');
      await store.insertJob(job('j5', 'gone', 2));
      assert.ok(await end('j5', { finishedAt: 3, exitCode: 0, signal: null, outcome: 'ok', errorCode: null }), 'a job outlives its worker');
    });
  }

  test('clearConnections marks every worker disconnected', async ({ store }) => {
    for (const id of ['w1', 'w2', 'w3']) await store.createWorker({ id, tokenHash: hash('1'), createdAt: 1 });
    await store.updateWorker('w1', { connectedSince: 5, lastSeen: 6 });
    await store.updateWorker('w2', { connectedSince: 7 });
    assert.is(await store.clearConnections(), 2);
    assert.equal((await store.listWorkers()).map((w) => w.connectedSince), [null, null, null]);
    assert.is((await store.getWorker('w1'))?.lastSeen, 6, 'lastSeen is kept');
    assert.is(await store.clearConnections(), 0);
  });

  test('deleteWorker removes the worker and its memberships, keeps its jobs', async ({ store }) => {
    await store.createProject(project('alpha', 'a'));
    await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 1 });
    await store.addWorkerProject('w1', 'alpha', 2);
    await store.insertJob(job('j1', 'w1', 3));
    assert.ok(await store.deleteWorker('w1'));
    assert.not.ok(await store.deleteWorker('w1'));
    assert.is(await store.getWorker('w1'), undefined);
    assert.equal(await store.listWorkers('alpha'), []);
    assert.is((await store.getJob('j1'))?.workerId, 'w1');
    assert.ok(await store.createWorker({ id: 'w1', tokenHash: hash('2'), createdAt: 4 }));
    assert.equal((await store.getWorker('w1'))?.projects, [], 'a re-created id starts with no projects');
  });

  test('insertJob / getJob / finishJob', async ({ store }) => {
    const command = { cmd: ['ls', '-l'], env: { A: '1' } };
    assert.ok(await store.insertJob(job('j1', 'w1', 10, { command })));
    assert.not.ok(await store.insertJob(job('j1', 'w2', 11, { command: 'x' })));
    assert.equal(await store.getJob('j1'), {
      id: 'j1',
      workerId: 'w1',
      kind: 'exec',
      command,
      startedAt: 10,
      owner: 'hub-a',
      finishedAt: null,
      exitCode: null,
      signal: null,
      outcome: null,
      errorCode: null,
      output: null,
      outputBytes: 0,
    });
    const end = {
      finishedAt: 20,
      exitCode: null,
      signal: 'SIGKILL',
      outcome: 'timeout' as const,
      errorCode: 'TIMEOUT',
    };
    const finished = await store.finishJob('j1', end);
    assert.equal([finished?.id, finished?.outcome, finished?.finishedAt], ['j1', 'timeout', 20], 'the finished row');
    assert.not.ok(await store.finishJob('j1', { ...end, outcome: 'ok', exitCode: 0 }), 'a job finishes once');
    const j = (await store.getJob('j1'))!;
    const ended = [j.finishedAt, j.exitCode, j.signal, j.outcome, j.errorCode];
    assert.equal(ended, [20, null, 'SIGKILL', 'timeout', 'TIMEOUT']);
    assert.not.ok(await store.finishJob('j9', end));
    assert.is(await store.getJob('j9'), undefined);
  });

  test('insertJob with requireWorker: UNKNOWN_WORKER and nothing written for a missing worker, a taken id still false', async ({ store }) => {
    await throwsCode(() => store.insertJob(job('j1', 'w1', 10), { requireWorker: true }), 'UNKNOWN_WORKER');
    assert.is(await store.getJob('j1'), undefined, 'a refused start leaves no row');
    await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 1 });
    assert.ok(await store.insertJob(job('j1', 'w1', 11), { requireWorker: true }));
    assert.is((await store.getJob('j1'))?.startedAt, 11);
    assert.not.ok(await store.insertJob(job('j1', 'w1', 12), { requireWorker: true }), 'a taken id');
    await throwsCode(() => store.insertJob(job('j1', 'w9', 13), { requireWorker: true }), 'UNKNOWN_WORKER');
    assert.equal([(await store.getJob('j1'))?.startedAt, (await store.getJob('j1'))?.workerId], [11, 'w1'], 'the first start stands');
    assert.ok(await store.insertJob(job('j2', 'w9', 14)), 'without the option a missing worker is no reason to refuse');
  });

  test('listUnfinishedJobs: the jobs with no end, oldest first', async ({ store }) => {
    await store.insertJob(job('j1', 'w1', 20));
    await store.insertJob(job('j2', 'w1', 10));
    await store.insertJob(job('j3', 'w2', 5, { kind: 'probe', command: {} }));
    await store.finishJob('j3', { finishedAt: 6, exitCode: null, signal: null, outcome: 'ok', errorCode: null });
    assert.equal((await store.listUnfinishedJobs()).map((j) => j.id), ['j2', 'j1']);
  });

  test('finishJob keeps the output tail and the total output bytes', async ({ store }) => {
    await store.insertJob(job('j2', 'w1', 1, { command: 'seq 3' }));
    const output = new TextEncoder().encode('1\n2\n3\n');
    assert.ok(await store.finishJob('j2', { finishedAt: 2, exitCode: 0, signal: null, outcome: 'ok', errorCode: null, output, outputBytes: 6000 }));
    const row = (await store.getJob('j2'))!;
    assert.is(Buffer.from(row.output!).toString(), '1\n2\n3\n');
    assert.is(row.outputBytes, 6000);
    assert.is((await store.listRecentJobs(1))[0]!.outputBytes, 6000);
  });

  test('listRecentJobs: newest first, ties last-inserted first, limit, per worker', async ({ store }) => {
    const add = (id: string, workerId: string, startedAt: number) =>
      store.insertJob(job(id, workerId, startedAt));
    await add('j1', 'w1', 10);
    await add('j2', 'w2', 30);
    await add('j3', 'w1', 20);
    await add('j4', 'w1', 20);
    assert.equal((await store.listRecentJobs(10)).map((j) => j.id), ['j2', 'j4', 'j3', 'j1']);
    assert.equal((await store.listRecentJobs(2)).map((j) => j.id), ['j2', 'j4']);
    assert.equal((await store.listRecentJobs(10, 'w1')).map((j) => j.id), ['j4', 'j3', 'j1']);
    assert.equal((await store.listRecentJobs(1, 'w1')).map((j) => j.id), ['j4']);
    assert.equal(await store.listRecentJobs(10, 'w9'), []);
  });

  test('closeLostJobs closes the unfinished jobs of one hub (and of none), counts them, leaves other hubs alone', async ({ store }) => {
    await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 1 });
    await store.insertJob(job('mine-2', 'w1', 20));
    await store.insertJob(job('mine-1', 'w1', 10));
    await store.insertJob(job('theirs', 'w1', 5, { owner: 'hub-b' }));
    await store.insertJob(job('done', 'w1', 1));
    await store.finishJob('done', { finishedAt: 2, exitCode: 0, signal: null, outcome: 'ok', errorCode: null });
    const closed = await store.closeLostJobs('hub-a', lost);
    assert.equal(closed.map((j) => [j.id, j.owner, j.outcome, j.errorCode, j.finishedAt]), [
      ['mine-1', 'hub-a', 'lost', 'WORKER_LOST', 100],
      ['mine-2', 'hub-a', 'lost', 'WORKER_LOST', 100],
    ]);
    assert.equal((await store.listUnfinishedJobs()).map((j) => j.id), ['theirs'], "hub-b's job is not this hub's to close");
    const w = (await store.getWorker('w1'))!;
    assert.equal([w.jobsRun, w.failures], [3, 2], 'counted like any end (the ok one, then two lost)');
    assert.equal(await store.closeLostJobs('hub-a', lost), [], 'nothing twice');
    assert.equal((await store.closeLostJobs('hub-b', lost)).map((j) => j.id), ['theirs']);
  });

  test('setSettingIfAbsent writes only the first time', async ({ store }) => {
    assert.ok(await store.setSettingIfAbsent('hub.id', 'a'));
    assert.not.ok(await store.setSettingIfAbsent('hub.id', 'b'));
    assert.is(await store.getSetting('hub.id'), 'a');
    const [x, y] = await Promise.all([store.setSettingIfAbsent('k', '1'), store.setSettingIfAbsent('k', '2')]);
    assert.equal([x, y, await store.getSetting('k')], [true, false, '1'], 'of two at once, the first wins');
  });

  test('rows handed out are copies: changing one changes nothing stored', async ({ store }) => {
    await store.createProject(project('alpha', 'a'));
    await store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 1, agent }, { project: 'alpha', at: 2 });
    const w = (await store.getWorker('w1'))!;
    w.projects.push('x');
    w.agent!.host = 'elsewhere';
    assert.equal((await store.getWorker('w1'))?.projects, ['alpha']);
    assert.is((await store.getWorker('w1'))?.agent?.host, 'box-1');
  });

  test('settings: set, replace, get, delete', async ({ store }) => {
    assert.is(await store.getSetting('hub.url'), undefined);
    await store.setSetting('hub.url', 'ws://a:1');
    await store.setSetting('hub.url', 'ws://b:2');
    await store.setSetting('empty', '');
    assert.is(await store.getSetting('hub.url'), 'ws://b:2');
    assert.is(await store.getSetting('empty'), '');
    assert.ok(await store.deleteSetting('hub.url'));
    assert.not.ok(await store.deleteSetting('hub.url'));
    assert.is(await store.getSetting('hub.url'), undefined);
  });

  test('close writes what is queued and may be called more than once', async ({ store }) => {
    const written = store.addEnv('QA');
    await store.close();
    assert.ok(await written);
    await store.close();
  });

  return test;
}
