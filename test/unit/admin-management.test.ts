/**
 * Worker management through the admin HTTP API, with real `WorkerAgent`s connected over the websocket:
 * listing with sharing, disable / enable (persisted, the process keeps running), unregister from one
 * project, shutdown, a worker's recent jobs, and the live event stream.
 */
import { concatMap, filter, firstValueFrom, lastValueFrom, startWith, toArray } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaError } from '../../src/errors.ts';
import type { Hub } from '../../src/hub/hub.ts';
import { SHUTDOWN_WARNING, type ManagedWorker } from '../../src/hub/management.ts';
import { connectWorker, openEvents, request, startAdminHarness, type AdminHarness } from './admin-harness.ts';

const test = suite<{ h: AdminHarness }>('admin-management');

test.before(async (ctx) => {
  ctx.h = await startAdminHarness();
  await connectWorker(ctx.h, 'shared', ['A', 'B'], ['java']);
  await connectWorker(ctx.h, 'solo', ['B']);
});

test.after(async (ctx) => {
  await ctx.h.close();
});

/** Resolves once `predicate` holds, re-checked whenever the hub reports a change. */
function until(hub: Hub, predicate: () => Promise<boolean>): Promise<unknown> {
  return firstValueFrom(hub.changes$.pipe(startWith(null), concatMap(() => predicate()), filter((ok) => ok)));
}

async function exec(hub: Hub, target: Record<string, string>, cmd: string): Promise<string> {
  const events = await lastValueFrom(hub.run({ target, job: { kind: 'exec', cmd }, waitMs: 0 }).pipe(toArray()));
  return events.map((e) => (e.type === 'output' ? Buffer.from(e.data).toString() : '')).join('');
}

async function refusal(hub: Hub, target: Record<string, string>): Promise<string> {
  try {
    await exec(hub, target, 'true');
  } catch (error) {
    assert.instance(error, ClaError);
    return (error as ClaError).code;
  }
  throw new Error('expected the run to be refused');
}

const workerOf = (list: ManagedWorker[], id: string) => list.find((w) => w.id === id)!;

test('list per project: live fields, and the shared worker names the other project', async ({ h }) => {
  const a = await request(h, 'GET', '/api/workers?project=A', { bearer: h.token });
  assert.is(a.status, 200, a.text);
  assert.equal(a.json.map((w: ManagedWorker) => w.id), ['shared']);
  const shared = a.json[0] as ManagedWorker;
  assert.equal(shared.projects, ['A', 'B']);
  assert.equal(shared.sharedWith, ['B']);
  assert.equal(shared.tags, ['java']);
  assert.is(shared.connected, true);
  assert.is(shared.pid, process.pid);
  assert.match(shared.origin!, /^.+@.+$/);
  assert.is(shared.disabled, false);
  assert.is(shared.runningJobs, 0);
  assert.type(shared.connectedSince, 'number');
  await until(h.hub, async () => (await h.hub.management.worker('shared')).state === 'connected.idle');

  const b = await request(h, 'GET', '/api/workers?project=B', { bearer: h.token });
  assert.equal(workerOf(b.json, 'shared').sharedWith, ['A']);
  assert.equal(workerOf(b.json, 'solo').sharedWith, []);
  const all = await request(h, 'GET', '/api/workers', { bearer: h.token });
  assert.equal(workerOf(all.json, 'shared').sharedWith, ['A', 'B'], 'without a project: all projects of a shared worker');
});

test('disable: no new jobs for every project, the process keeps running; enable: jobs again', async ({ h }) => {
  const events = await openEvents(h);
  await events.next((e) => e.event === 'workers' && JSON.parse(e.data).some((w: ManagedWorker) => w.id === 'shared' && !w.disabled));

  const disabled = await request(h, 'POST', '/api/workers/shared/disable', { bearer: h.token, body: {} });
  assert.is(disabled.status, 200, disabled.text);
  assert.equal(disabled.json.affectedProjects, ['A', 'B']);
  assert.match(disabled.json.warnings.join('\n'), /shared by projects A, B/);
  assert.is(disabled.json.worker.disabled, true);
  assert.is(await refusal(h.hub, { worker: 'shared' }), 'WORKER_DISABLED');
  assert.is(await refusal(h.hub, { project: 'A' }), 'NO_WORKER');
  assert.ok((await h.registry.getWorker('shared'))!.disabled, 'persisted, so a reconnect stays disabled');
  await until(h.hub, async () => (await h.hub.management.worker('shared')).state === 'disabled');
  assert.is((await h.hub.management.worker('shared')).connected, true, 'the process is still connected');
  await events.next((e) => e.event === 'workers' && JSON.parse(e.data).some((w: ManagedWorker) => w.id === 'shared' && w.disabled));
  events.close();

  const enabled = await request(h, 'POST', '/api/workers/shared/enable', { bearer: h.token, body: {} });
  assert.is(enabled.json.worker.disabled, false);
  assert.is(await exec(h.hub, { worker: 'shared' }, 'echo again'), 'again\n');
});

test("a worker's detail has its recent jobs with the output as text; /api/jobs filters by worker", async ({ h }) => {
  assert.is(await exec(h.hub, { worker: 'solo' }, 'echo from-solo; exit 3'), 'from-solo\n');
  const detail = await request(h, 'GET', '/api/workers/solo', { bearer: h.token });
  assert.is(detail.status, 200, detail.text);
  assert.is(detail.json.jobsRun, 1);
  assert.is(detail.json.failures, 1);
  const job = detail.json.recentJobs[0];
  assert.is(job.output, 'from-solo\n');
  assert.is(job.outcome, 'failed');
  assert.is(job.exitCode, 3);
  const jobs = await request(h, 'GET', '/api/jobs?worker=solo&limit=5', { bearer: h.token });
  assert.equal(jobs.json.map((j: { workerId: string }) => j.workerId), ['solo']);
  assert.is(jobs.json[0].output, undefined, 'no output unless asked');
  const unknown = await request(h, 'GET', '/api/jobs?worker=nosuch', { bearer: h.token });
  assert.is(unknown.json.error.code, 'UNKNOWN_WORKER');
});

test('unregister from one project: the other keeps it, connected', async ({ h }) => {
  const answer = await request(h, 'POST', '/api/workers/shared/unregister', { bearer: h.token, body: { project: 'A' } });
  assert.is(answer.status, 200, answer.text);
  assert.equal(answer.json, { id: 'shared', removed: 'A', projects: ['B'], deleted: false });
  assert.equal((await request(h, 'GET', '/api/workers?project=A', { bearer: h.token })).json, []);
  const b = await request(h, 'GET', '/api/workers?project=B', { bearer: h.token });
  assert.equal(workerOf(b.json, 'shared').sharedWith, []);
  assert.is(await refusal(h.hub, { worker: 'shared', project: 'A' }), 'NO_WORKER');
  assert.is(await exec(h.hub, { worker: 'shared', project: 'B' }, 'echo b'), 'b\n');
  const again = await request(h, 'POST', '/api/workers/shared/unregister', { bearer: h.token, body: { project: 'A' } });
  assert.is(again.status, 404);
  assert.is(again.json.error.code, 'UNKNOWN_PROJECT');
});

test('shutdown: the worker process is told to exit, with the seed warning; offline afterwards', async ({ h }) => {
  const worker = h.workers.find((w) => w.id === 'solo')!;
  const answer = await request(h, 'POST', '/api/workers/solo/shutdown', { bearer: h.token, body: {} });
  assert.is(answer.status, 200, answer.text);
  assert.is(answer.json.warnings[0], SHUTDOWN_WARNING);
  const exit = await worker.exit;
  assert.is(exit.shutdownByHub, true);
  await until(h.hub, async () => !(await h.hub.management.worker('solo')).connected);
  const solo = await h.hub.management.worker('solo');
  assert.is(solo.state, 'offline');
  assert.is(solo.disabled, false, 'shutdown is not disable');
  const twice = await request(h, 'POST', '/api/workers/solo/shutdown', { bearer: h.token, body: {} });
  assert.is(twice.status, 409);
  assert.is(twice.json.error.code, 'NO_WORKER');
});

test.run();
