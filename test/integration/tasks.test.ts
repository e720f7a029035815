/**
 * Tasks end to end with real processes: `cla-hub start`, `cla-worker run --task-handler shell`, the
 * `cla-hub task` commands, SIGKILLed workers and a SIGKILLed hub. Tasks are inserted straight into the
 * hub's SQLite file, exactly as `cla-hub task submit` does (1,000 CLI processes would test node's start
 * time), except where the CLI itself is under test.
 *
 * Counting: every task must end `done` exactly once in the store (the completion is one conditional
 * UPDATE), while handler executions are at least once: a worker killed after its command ran but before
 * `task_done` reached the hub runs that task again elsewhere. Each shell task appends its id to the
 * worker's own log ($TASK_LOG), so executions are counted on the workers' side too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import { proofMessage, prove } from '../../src/protocol/auth-proof.ts';
import * as assert from 'uvu/assert';
import { AdminClient } from '../../src/hub/admin-client.ts';
import { adminTokenFile } from '../../src/hub/hub-record.ts';
import { until } from './task-polling.ts';
import { openSqliteTaskStore, type SqliteTaskStore } from '../../src/hub/tasks/sqlite-task-store.ts';
import type { TaskRow } from '../../src/hub/tasks/task-store.ts';
import { frame, type Frame, type FrameOf } from '../../src/protocol/frames.ts';
import { connectWs } from '../../src/transport/ws-client.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { registerWorker } from '../../src/worker/registration.ts';
import { HUB_BIN, runCli, startCli, startHub, stopAll, tempDir, WORKER_BIN, type LiveProcess, type RunningHub } from './processes.ts';
import { decodeValue, encodeValue } from '../../src/protocol/codec.ts';

interface Ctx {
  dir: string;
  cleanup: () => void;
  hub: RunningHub;
  store: SqliteTaskStore;
  workers: LiveProcess[];
}

const tasks = suite<Ctx>('tasks (real processes)', {} as Ctx);

tasks.before.each(async (ctx) => {
  Object.assign(ctx, tempDir('cla-tasks-'));
  ctx.workers = [];
});

tasks.after.each(async (ctx) => {
  for (const worker of ctx.workers) await worker.stop('SIGKILL');
  await ctx.hub?.process.stop('SIGINT');
  await ctx.store?.close();
  await stopAll();
  ctx.cleanup();
});

/** Registers worker `id` and starts `cla-worker run` with `args`; its shell tasks log to `<dir>/<id>.log`. */
async function startTaskWorker(ctx: Ctx, id: string, args: string[], hub = ctx.hub): Promise<LiveProcess> {
  const { token } = await registerWorker({ url: hub.url, passkey: hub.passkey, id });
  const worker = startCli(WORKER_BIN, ['run', '--url', hub.url, '--id', id, '--token', token, ...args], { cwd: ctx.dir, env: { TASK_LOG: path.join(ctx.dir, `${id}.log`) } });
  await worker.waitFor(/connected to the hub/);
  ctx.workers.push(worker);
  return worker;
}

/**
 * Submits shell tasks through the hub's `tasks.submit` method (as `cla-hub task submit` does), each
 * appending its label to the worker's log; returns the hub's task ids and the label of each.
 */
async function submitShellTasks(hub: RunningHub, prefix: string, count: number, extra = ''): Promise<{ ids: string[]; labelOf: Map<string, string> }> {
  const client = await AdminClient.connect(hub.url, fs.readFileSync(adminTokenFile(hub.data), 'utf8').trim());
  try {
    const labels = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
    const ids: string[] = [];
    // Batches below the hub's bound of open requests per connection (256).
    for (let i = 0; i < labels.length; i += 200) {
      const batch = labels.slice(i, i + 200);
      ids.push(
        ...(await Promise.all(
          batch.map(async (label) => (await client.call<{ id: string }>('tasks.submit', { name: 'shell', attrs: { cloud: 'aws' }, data: { cmd: `echo ${label} >> "$TASK_LOG"${extra}` }, deadlineMs: 300_000 })).id),
        )),
      );
    }
    return { ids, labelOf: new Map(ids.map((id, i) => [id, labels[i]!])) };
  } finally {
    client.close();
  }
}

/** Executions per task id, from every worker log in `dir`. */
function executions(dir: string): Map<string, Array<{ worker: string }>> {
  const seen = new Map<string, Array<{ worker: string }>>();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.log'))) {
    for (const id of fs.readFileSync(path.join(dir, file), 'utf8').split('\n').filter(Boolean)) {
      seen.set(id, [...(seen.get(id) ?? []), { worker: path.basename(file, '.log') }]);
    }
  }
  return seen;
}

async function rowsOf(store: SqliteTaskStore, ids: string[]): Promise<TaskRow[]> {
  return Promise.all(ids.map(async (id) => (await store.get(id))!));
}

tasks('1,000 tasks over 4 workers, one SIGKILLed mid-way: each completes exactly once', async (ctx) => {
  ctx.hub = await startHub(ctx.dir);
  ctx.store = openSqliteTaskStore(ctx.hub.data);
  for (const id of ['w1', 'w2', 'w3', 'w4']) await startTaskWorker(ctx, id, ['--task-handler', 'shell:cloud=aws', '--task-concurrency', '4']);
  const { ids, labelOf } = await submitShellTasks(ctx.hub, 'k', 1000);
  const idOf = new Map([...labelOf].map(([id, label]) => [label, id]));
  await until('300 tasks done', async () => (await ctx.store.counts()).done >= 300);
  const victim = ctx.workers[0]!;
  await victim.stop('SIGKILL');
  const doneAtKill = (await ctx.store.counts()).done;
  await until('all 1,000 done', async () => (await ctx.store.counts()).done === 1000);

  const rows = (await rowsOf(ctx.store, ids));
  assert.equal((await ctx.store.counts()), { pending: 0, claimed: 0, done: 1000, failed: 0 });
  assert.ok(rows.every((r) => r.state === 'done' && (decodeValue(r.result!) as { code: number }).code === 0 && r.finishedAt !== null));
  assert.ok(doneAtKill < 1000, 'the kill happened mid-way');
  // The victim's claims were lost with it: those tasks were claimed again (attempts 2) and finished elsewhere.
  const reclaimed = rows.filter((r) => r.attempts > 1);
  assert.ok(reclaimed.length > 0, 'the killed worker held tasks');
  assert.ok(reclaimed.every((r) => r.attempts === 2 && r.worker !== 'w1'), JSON.stringify(reclaimed.map((r) => [r.id, r.attempts, r.worker])));
  assert.ok(reclaimed.length <= 20, `at most the victim's taskCapacity (20: concurrency 4 + default prefetch 16) was held, got ${reclaimed.length}`);

  const ran = executions(ctx.dir);
  const missing = ids.filter((id) => !ran.has(labelOf.get(id)!));
  assert.equal(missing, [], 'every task ran at least once');
  const twice = [...ran].filter(([, runs]) => runs.length > 1);
  // At least once: only a task whose claim was lost may have run twice, once on the killed worker.
  for (const [label, runs] of twice) {
    const id = idOf.get(label)!;
    assert.is(runs.length, 2, id);
    assert.ok((await ctx.store.get(id))!.attempts === 2, `${id} ran twice without a lost claim`);
    assert.ok(runs.some((run) => run.worker === 'w1'), `${id} ran twice, not on the killed worker`);
  }
  const total = [...ran.values()].reduce((n, runs) => n + runs.length, 0);
  assert.is(total, 1000 + twice.length);
  // Every worker took part, the victim until it died.
  for (const worker of ['w1', 'w2', 'w3', 'w4']) assert.ok(rows.some((r) => r.worker === worker), `${worker} completed tasks`);
  if (process.env.TASKS_TEST_VERBOSE) console.error({ doneAtKill, reclaimed: reclaimed.length, ranTwice: twice.length });
});

tasks('a completion with an old lease, after the task was leased again, is refused with STALE_LEASE', async (ctx) => {
  ctx.hub = await startHub(ctx.dir);
  ctx.store = openSqliteTaskStore(ctx.hub.data);
  const { token } = await registerWorker({ url: ctx.hub.url, passkey: ctx.hub.passkey, id: 'raw' });
  const submitted = await runCli(HUB_BIN, ['task', 'submit', 'probe', '--attr', 'cloud=aws', '--data', '{"n":1}', '--hub-data', ctx.hub.data], { cwd: ctx.dir });
  assert.is(submitted.code, 0, submitted.stderr);
  const id = submitted.stdout.trim();
  assert.match(id, /^[0-9a-f-]{36}$/);

  const first = await rawWorker(ctx.hub.url, 'raw', token);
  const lease1 = await first.next('task_push');
  assert.equal([lease1.id, lease1.name, lease1.attrs, decodeValue(lease1.data)], [id, 'probe', { cloud: 'aws' }, { n: 1 }]);
  first.transport.close(1000, 'going away');
  await first.transport.closed;

  // The disconnect released the lease: the task is leased again, here to the same worker reconnected.
  const second = await rawWorker(ctx.hub.url, 'raw', token);
  const lease2 = await second.next('task_push');
  assert.is.not(lease2.lease, lease1.lease);
  second.send(frame('task_done', { re: id, lease: lease1.lease, result: encodeValue('stale') }));
  const refused = await second.next('error');
  assert.equal([refused.re, refused.error.code], [id, 'STALE_LEASE']);
  assert.is((await ctx.store.get(id))!.state, 'claimed');
  second.send(frame('task_done', { re: id, lease: lease2.lease, result: encodeValue('fresh') }));
  await until('done', async () => (await ctx.store.get(id))!.state === 'done');
  second.transport.close(1000, 'done');

  const shown = await runCli(HUB_BIN, ['task', 'show', id, '--hub-data', ctx.hub.data], { cwd: ctx.dir });
  assert.is(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /state:\s+done/);
  assert.match(shown.stdout, /attempts:\s+2 /);
  assert.match(shown.stdout, /worker:\s+raw/);
  assert.match(shown.stdout, /result:\s+"fresh"/);
});

tasks('a task no worker can handle fails after its deadline with the clear error (CLI --wait exits 1)', async (ctx) => {
  ctx.hub = await startHub(ctx.dir);
  await startTaskWorker(ctx, 'aws-only', ['--task-handler', 'echo:cloud=aws']);
  const ok = await runCli(HUB_BIN, ['task', 'submit', 'echo', '--attr', 'cloud=aws', '--data', '{"hello":"world"}', '--wait', '--hub-data', ctx.hub.data], { cwd: ctx.dir });
  assert.is(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim().split('\n').slice(1), ['{"hello":"world"}']);
  const none = await runCli(HUB_BIN, ['task', 'submit', 'echo', '--attr', 'cloud=gcp', '--attr', 'account=123', '--deadline', '1', '--wait', '--hub-data', ctx.hub.data], { cwd: ctx.dir });
  assert.is(none.code, 1);
  assert.match(none.stderr, /✖ No worker for task echo with attributes \{account=123, cloud=gcp\} within its deadline of 1 s \[NO_WORKER\]/);
  const id = none.stdout.trim();
  const failed = await runCli(HUB_BIN, ['task', 'list', '--state', 'failed', '--hub-data', ctx.hub.data], { cwd: ctx.dir });
  assert.match(failed.stdout, new RegExp(`${id}\\s+echo\\s+failed\\s+0\\s+-`));
  const unknown = await runCli(HUB_BIN, ['task', 'show', 'nope', '--hub-data', ctx.hub.data], { cwd: ctx.dir });
  assert.is(unknown.code, 125, 'the hub refused: exit 125');
  assert.match(unknown.stderr, /UNKNOWN_TASK/);
});

tasks('a hub SIGKILLed with tasks claimed loses none; a submission while it is down is refused (125), and runs once submitted after the restart', async (ctx) => {
  ctx.hub = await startHub(ctx.dir);
  // The restart takes the port this hub got from the OS, so the worker reconnects to it.
  const port = new URL(ctx.hub.url).port;
  ctx.store = openSqliteTaskStore(ctx.hub.data);
  await startTaskWorker(ctx, 'w1', ['--task-handler', 'shell', '--task-concurrency', '2']);
  const before = [...(await submitShellTasks(ctx.hub, 'r', 60, '; sleep 0.05')).labelOf.values()];
  await until('some done', async () => (await ctx.store.counts()).done >= 10);
  await ctx.hub.process.stop('SIGKILL');
  const atCrash = (await ctx.store.counts());
  assert.ok(atCrash.done < 60, 'the crash happened mid-way');
  // The CLI never writes the data file: with the hub down, the submission is refused, nothing is queued.
  const submit = () => runCli(HUB_BIN, ['task', 'submit', 'shell', '--data', JSON.stringify({ cmd: 'echo while-down >> "$TASK_LOG"' }), '--hub-data', ctx.hub.data], { cwd: ctx.dir });
  const whileDown = await submit();
  assert.is(whileDown.code, 125, whileDown.stderr);
  assert.match(whileDown.stderr, /Is the hub running\?.*\[CONNECTION_FAILED\]/);
  const down = await ctx.store.counts();
  assert.equal(down.pending + down.claimed + down.done, 60);

  ctx.hub = await startHub(ctx.dir, ['--port', port]);
  const afterRestart = await submit();
  assert.is(afterRestart.code, 0, afterRestart.stderr);
  const downId = afterRestart.stdout.trim();
  if (atCrash.claimed > 0) await ctx.hub.process.waitFor(/pending again/);
  await until('everything done after the restart', async () => (await ctx.store.counts()).done === 61);
  assert.equal((await ctx.store.counts()), { pending: 0, claimed: 0, done: 61, failed: 0 });
  assert.is((await ctx.store.get(downId))!.state, 'done');
  const ran = executions(ctx.dir);
  assert.equal(before.filter((id) => !ran.has(id)), [], 'every task ran');
  assert.ok(fs.readFileSync(path.join(ctx.dir, 'w1.log'), 'utf8').includes('while-down'));
});

/** A worker connection driven by hand: hello, subscribe to `probe`, then frames as the test sends them. */
async function rawWorker(url: string, id: string, token: string) {
  const transport: Transport = await connectWs(url);
  const queue: Frame[] = [];
  const waiting: Array<() => void> = [];
  transport.frames$.subscribe((f) => {
    queue.push(f);
    waiting.splice(0).forEach((wake) => wake());
  });
  const send = (f: Frame) => void transport.send(f).catch(() => undefined);
  const next = async <T extends Frame['t']>(t: T): Promise<FrameOf<T>> => {
    for (let i = 0; i < 300; i++) {
      const index = queue.findIndex((f) => f.t === t);
      if (index >= 0) return queue.splice(index, 1)[0] as FrameOf<T>;
      await Promise.race([new Promise<void>((wake) => waiting.push(wake)), new Promise((resolve) => setTimeout(resolve, 100))]);
    }
    throw new Error(`no ${t} frame; got ${queue.map((f) => f.t).join(', ')}`);
  };
  const nonce = (await next('challenge')).nonce;
  send(frame('hello', { id, auth: 'token', proof: prove(token, proofMessage('hello', id, nonce)), tags: [], envs: [], caps: [], capacity: 1, agent: { version: '0', pid: process.pid, user: 'test', host: 'test', platform: process.platform } }));
  await next('welcome');
  send(frame('subscribe', { subscriberId: id, actions: [], tasks: [{ name: 'probe', filter: { cloud: ['aws'] } }], taskCapacity: 1 }));
  return { transport, send, next };
}

tasks.run();
