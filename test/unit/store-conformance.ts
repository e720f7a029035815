// One suite every Store backend must pass (BullMQ's conformance model, ../../shared/STYLE.md). A backend's
// test file calls `storeConformance(name, makeStore).run()`; each test gets a fresh, empty store.
import { suite } from 'uvu';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import type { AgentInfo, Store } from '../../src/store/store.ts';

interface Context {
  store: Store;
  cleanup: () => void;
}

const agent: AgentInfo = { version: '0.1.0', pid: 42, user: 'ci', host: 'box-1', platform: 'linux' };
const hash = (c: string) => c.repeat(64);
const project = (name: string, hashChar: string) => ({
  name,
  passkey: `pk-${name}`,
  passkeyHash: hash(hashChar),
  createdAt: 1000,
});

function throwsCode(fn: () => unknown, code: string): void {
  try {
    fn();
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
  makeStore: () => { store: Store; cleanup: () => void },
): Test<Context> {
  const test = suite<Context>(`Store conformance: ${name}`, {} as Context);
  test.before.each((ctx) => {
    const made = makeStore();
    ctx.store = made.store;
    ctx.cleanup = made.cleanup;
  });
  test.after.each((ctx) => ctx.cleanup());

  test('transaction commits, and rolls back everything when fn throws (nested calls included)', ({ store }) => {
    assert.is(store.transaction(() => store.addEnv('QA') && 7), 7);
    assert.throws(() =>
      store.transaction(() => {
        store.addEnv('PROD');
        store.transaction(() => store.setSetting('k', 'v'));
        throw new Error('boom');
      }),
    );
    assert.equal(store.listEnvs(), ['QA']);
    assert.is(store.getSetting('k'), undefined);
  });

  test('createProject stores a project once; a taken name is refused and left unchanged', ({ store }) => {
    assert.ok(store.createProject({ name: 'A', passkey: 'p1', passkeyHash: hash('1'), createdAt: 5 }));
    assert.not.ok(store.createProject({ name: 'A', passkey: 'p2', passkeyHash: hash('2'), createdAt: 6 }));
    assert.equal(store.getProject('A'), { name: 'A', passkey: 'p1', passkeyHash: hash('1'), createdAt: 5 });
    assert.is(store.getProject('a'), undefined, 'names are case-sensitive');
    assert.is(store.getProject('B'), undefined);
  });

  test('a project may be created without a passkey', ({ store }) => {
    assert.ok(store.createProject({ name: 'bare', passkey: null, passkeyHash: null, createdAt: 1 }));
    assert.ok(store.createProject({ name: 'bare2', passkey: null, passkeyHash: null, createdAt: 1 }));
    assert.is(store.getProject('bare')?.passkey, null);
  });

  test('listProjects is oldest first, ties by name', ({ store }) => {
    store.createProject({ name: 'c', passkey: null, passkeyHash: null, createdAt: 2 });
    store.createProject({ name: 'b', passkey: null, passkeyHash: null, createdAt: 1 });
    store.createProject({ name: 'a', passkey: null, passkeyHash: null, createdAt: 2 });
    assert.equal(store.listProjects().map((p) => p.name), ['b', 'a', 'c']);
    assert.equal(store.listProjects()[0], { name: 'b', passkey: null, passkeyHash: null, createdAt: 1 });
  });

  test('findProjectByPasskeyHash and setProjectPasskey', ({ store }) => {
    store.createProject(project('alpha', 'a'));
    store.createProject(project('beta', 'b'));
    assert.is(store.findProjectByPasskeyHash(hash('a'))?.name, 'alpha');
    assert.is(store.findProjectByPasskeyHash(hash('b'))?.name, 'beta');
    assert.is(store.findProjectByPasskeyHash(hash('c')), undefined);
    assert.ok(store.setProjectPasskey('alpha', 'new', hash('c')));
    assert.is(store.findProjectByPasskeyHash(hash('a')), undefined);
    assert.equal(store.findProjectByPasskeyHash(hash('c'))?.passkey, 'new');
    assert.ok(store.setProjectPasskey('alpha', null, null));
    assert.equal(store.getProject('alpha'), { name: 'alpha', passkey: null, passkeyHash: null, createdAt: 1000 });
    assert.is(store.findProjectByPasskeyHash(hash('c')), undefined);
    assert.not.ok(store.setProjectPasskey('nope', 'x', hash('d')));
  });

  test('environments: add once, case-sensitive, sorted', ({ store }) => {
    assert.ok(store.addEnv('QA'));
    assert.not.ok(store.addEnv('QA'));
    assert.ok(store.addEnv('qa'));
    assert.ok(store.addEnv('PROD'));
    assert.equal(store.listEnvs(), ['PROD', 'QA', 'qa']);
    assert.ok(store.hasEnv('QA'));
    assert.not.ok(store.hasEnv('Qa'));
    assert.not.ok(store.hasEnv('DEV'));
  });

  test('createWorker stores defaults; a taken id is refused', ({ store }) => {
    assert.ok(store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 10 }));
    assert.not.ok(store.createWorker({ id: 'w1', tokenHash: hash('2'), createdAt: 11 }));
    assert.ok(store.createWorker({ id: 'W1', tokenHash: hash('3'), createdAt: 12, agent }));
    assert.equal(store.getWorker('w1'), {
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
    assert.equal(store.getWorker('W1')?.agent, agent);
    assert.is(store.getWorker('w2'), undefined);
  });

  test('addWorkerProject / removeWorkerProject manage memberships', ({ store }) => {
    store.createProject(project('beta', 'b'));
    store.createProject(project('alpha', 'a'));
    store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 10 });
    assert.ok(store.addWorkerProject('w1', 'beta', 11));
    assert.not.ok(store.addWorkerProject('w1', 'beta', 12));
    assert.ok(store.addWorkerProject('w1', 'alpha', 13));
    assert.equal(store.getWorker('w1')?.projects, ['alpha', 'beta']);
    throwsCode(() => store.addWorkerProject('w9', 'alpha', 14), 'UNKNOWN_WORKER');
    throwsCode(() => store.addWorkerProject('w1', 'gamma', 14), 'UNKNOWN_PROJECT');
    assert.ok(store.removeWorkerProject('w1', 'beta'));
    assert.not.ok(store.removeWorkerProject('w1', 'beta'));
    assert.equal(store.getWorker('w1')?.projects, ['alpha']);
    assert.ok(store.removeWorkerProject('w1', 'alpha'));
    assert.equal(store.getWorker('w1')?.projects, [], 'the worker itself is kept');
  });

  test('listWorkers: all sorted by id, or one project only', ({ store }) => {
    store.createProject(project('alpha', 'a'));
    store.createProject(project('beta', 'b'));
    for (const id of ['w3', 'w1', 'w2']) store.createWorker({ id, tokenHash: hash('1'), createdAt: 1 });
    store.addWorkerProject('w1', 'alpha', 2);
    store.addWorkerProject('w3', 'alpha', 2);
    store.addWorkerProject('w3', 'beta', 2);
    assert.equal(store.listWorkers().map((w) => w.id), ['w1', 'w2', 'w3']);
    assert.equal(store.listWorkers('alpha').map((w) => w.id), ['w1', 'w3']);
    assert.equal(store.listWorkers('alpha')[1]?.projects, ['alpha', 'beta'], 'all projects, not just the filter');
    assert.equal(store.listWorkers('beta').map((w) => w.id), ['w3']);
    assert.equal(store.listWorkers('gamma'), []);
  });

  test('updateWorker changes only the given fields', ({ store }) => {
    store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 1 });
    assert.ok(store.updateWorker('w1', { agent, lastSeen: 5, connectedSince: 4, disabled: true }));
    assert.ok(store.updateWorker('w1', { tokenHash: hash('2') }));
    assert.ok(store.updateWorker('w1', {}));
    let w = store.getWorker('w1')!;
    assert.equal([w.agent, w.lastSeen, w.connectedSince, w.disabled, w.tokenHash], [agent, 5, 4, true, hash('2')]);
    assert.ok(store.updateWorker('w1', { agent: null, connectedSince: null, disabled: false }));
    w = store.getWorker('w1')!;
    assert.equal([w.agent, w.lastSeen, w.connectedSince, w.disabled], [null, 5, null, false]);
    assert.not.ok(store.updateWorker('w2', { lastSeen: 1 }));
    assert.not.ok(store.updateWorker('w2', {}));
  });

  test('bumpWorkerCounters adds to jobsRun and failures', ({ store }) => {
    store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 1 });
    assert.ok(store.bumpWorkerCounters('w1', 1, 0));
    assert.ok(store.bumpWorkerCounters('w1', 2, 1));
    const w = store.getWorker('w1')!;
    assert.equal([w.jobsRun, w.failures], [3, 1]);
    assert.not.ok(store.bumpWorkerCounters('w2', 1, 1));
  });

  test('clearConnections marks every worker disconnected', ({ store }) => {
    for (const id of ['w1', 'w2', 'w3']) store.createWorker({ id, tokenHash: hash('1'), createdAt: 1 });
    store.updateWorker('w1', { connectedSince: 5, lastSeen: 6 });
    store.updateWorker('w2', { connectedSince: 7 });
    assert.is(store.clearConnections(), 2);
    assert.equal(store.listWorkers().map((w) => w.connectedSince), [null, null, null]);
    assert.is(store.getWorker('w1')?.lastSeen, 6, 'lastSeen is kept');
    assert.is(store.clearConnections(), 0);
  });

  test('deleteWorker removes the worker and its memberships, keeps its jobs', ({ store }) => {
    store.createProject(project('alpha', 'a'));
    store.createWorker({ id: 'w1', tokenHash: hash('1'), createdAt: 1 });
    store.addWorkerProject('w1', 'alpha', 2);
    store.insertJob({ id: 'j1', workerId: 'w1', kind: 'exec', command: 'true', startedAt: 3 });
    assert.ok(store.deleteWorker('w1'));
    assert.not.ok(store.deleteWorker('w1'));
    assert.is(store.getWorker('w1'), undefined);
    assert.equal(store.listWorkers('alpha'), []);
    assert.is(store.getJob('j1')?.workerId, 'w1');
    assert.ok(store.createWorker({ id: 'w1', tokenHash: hash('2'), createdAt: 4 }));
    assert.equal(store.getWorker('w1')?.projects, [], 'a re-created id starts with no projects');
  });

  test('insertJob / getJob / finishJob', ({ store }) => {
    const command = { cmd: ['ls', '-l'], env: { A: '1' } };
    assert.ok(store.insertJob({ id: 'j1', workerId: 'w1', kind: 'exec', command, startedAt: 10 }));
    assert.not.ok(store.insertJob({ id: 'j1', workerId: 'w2', kind: 'exec', command: 'x', startedAt: 11 }));
    assert.equal(store.getJob('j1'), {
      id: 'j1',
      workerId: 'w1',
      kind: 'exec',
      command,
      startedAt: 10,
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
    assert.ok(store.finishJob('j1', end));
    assert.not.ok(store.finishJob('j1', { ...end, outcome: 'ok', exitCode: 0 }), 'a job finishes once');
    const j = store.getJob('j1')!;
    const ended = [j.finishedAt, j.exitCode, j.signal, j.outcome, j.errorCode];
    assert.equal(ended, [20, null, 'SIGKILL', 'timeout', 'TIMEOUT']);
    assert.not.ok(store.finishJob('j9', end));
    assert.is(store.getJob('j9'), undefined);
  });

  test('listUnfinishedJobs: the jobs with no end, oldest first', ({ store }) => {
    store.insertJob({ id: 'j1', workerId: 'w1', kind: 'exec', command: 'true', startedAt: 20 });
    store.insertJob({ id: 'j2', workerId: 'w1', kind: 'exec', command: 'true', startedAt: 10 });
    store.insertJob({ id: 'j3', workerId: 'w2', kind: 'probe', command: {}, startedAt: 5 });
    store.finishJob('j3', { finishedAt: 6, exitCode: null, signal: null, outcome: 'ok', errorCode: null });
    assert.equal(store.listUnfinishedJobs().map((j) => j.id), ['j2', 'j1']);
  });

  test('finishJob keeps the output tail and the total output bytes', ({ store }) => {
    store.insertJob({ id: 'j2', workerId: 'w1', kind: 'exec', command: 'seq 3', startedAt: 1 });
    const output = new TextEncoder().encode('1\n2\n3\n');
    assert.ok(store.finishJob('j2', { finishedAt: 2, exitCode: 0, signal: null, outcome: 'ok', errorCode: null, output, outputBytes: 6000 }));
    const job = store.getJob('j2')!;
    assert.is(Buffer.from(job.output!).toString(), '1\n2\n3\n');
    assert.is(job.outputBytes, 6000);
    assert.is(store.listRecentJobs(1)[0]!.outputBytes, 6000);
  });

  test('listRecentJobs: newest first, ties last-inserted first, limit, per worker', ({ store }) => {
    const add = (id: string, workerId: string, startedAt: number) =>
      store.insertJob({ id, workerId, kind: 'exec', command: 'true', startedAt });
    add('j1', 'w1', 10);
    add('j2', 'w2', 30);
    add('j3', 'w1', 20);
    add('j4', 'w1', 20);
    assert.equal(store.listRecentJobs(10).map((j) => j.id), ['j2', 'j4', 'j3', 'j1']);
    assert.equal(store.listRecentJobs(2).map((j) => j.id), ['j2', 'j4']);
    assert.equal(store.listRecentJobs(10, 'w1').map((j) => j.id), ['j4', 'j3', 'j1']);
    assert.equal(store.listRecentJobs(1, 'w1').map((j) => j.id), ['j4']);
    assert.equal(store.listRecentJobs(10, 'w9'), []);
  });

  test('settings: set, replace, get, delete', ({ store }) => {
    assert.is(store.getSetting('hub.url'), undefined);
    store.setSetting('hub.url', 'ws://a:1');
    store.setSetting('hub.url', 'ws://b:2');
    store.setSetting('empty', '');
    assert.is(store.getSetting('hub.url'), 'ws://b:2');
    assert.is(store.getSetting('empty'), '');
    assert.ok(store.deleteSetting('hub.url'));
    assert.not.ok(store.deleteSetting('hub.url'));
    assert.is(store.getSetting('hub.url'), undefined);
  });

  test('close may be called more than once', ({ store }) => {
    store.close();
    store.close();
  });

  return test;
}
