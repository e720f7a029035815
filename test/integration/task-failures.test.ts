/**
 * Task failures with real processes (issue 9, "Bad input and failure"): `cla-hub start` and `cla-worker run
 * --task-handler shell` over real sockets, SQLite files in a temp folder. The worker killed holding leases
 * is tasks.test.ts's 1,000-task test; here:
 * - a completion for a lease that moved: a worker's link to the hub stalls (a TCP relay in this process
 *   stops forwarding its bytes, as a congested network would) while it runs a task; the lease runs out,
 *   the task moves to another worker and is done there; when the link flows again the stalled worker's
 *   `task_done` is refused with STALE_LEASE. Done once, run twice (at least once);
 * - a hub SIGKILLed mid-burst over three workers and restarted: every task done exactly once, and only a
 *   task the store held as claimed at the crash may have run twice.
 *
 * Each shell task appends its label to its worker's log ($TASK_LOG), so executions are counted on the
 * workers' side; completions are the store's rows (one conditional UPDATE each).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AdminClient } from '../../src/hub/admin-client.ts';
import { adminTokenFile } from '../../src/hub/hub-record.ts';
import { until } from './task-polling.ts';
import { openSqliteTaskStore, type SqliteTaskStore } from '../../src/hub/tasks/sqlite-task-store.ts';
import { registerWorker } from '../../src/worker/registration.ts';
import { startCli, startHub, stopAll, tempDir, WORKER_BIN, type LiveProcess, type RunningHub } from './processes.ts';

interface Ctx {
  dir: string;
  cleanup: () => void;
  hub: RunningHub;
  store: SqliteTaskStore;
  workers: LiveProcess[];
  relays: Array<{ close(): Promise<void> }>;
}

const failures = suite<Ctx>('task failures (real processes)', {} as Ctx);

failures.before.each((ctx) => {
  Object.assign(ctx, tempDir('cla-task-failures-'));
  ctx.workers = [];
  ctx.relays = [];
});

failures.after.each(async (ctx) => {
  for (const worker of ctx.workers) await worker.stop('SIGKILL');
  await ctx.hub?.process.stop('SIGINT');
  for (const relay of ctx.relays) await relay.close();
  await ctx.store?.close();
  await stopAll();
  ctx.cleanup();
});

/** Registers `id` and starts `cla-worker run` against `url` with `args`; its shell tasks log to `<dir>/<id>.log`. */
async function startTaskWorker(ctx: Ctx, id: string, url: string, args: string[]): Promise<LiveProcess> {
  const { token } = await registerWorker({ url: ctx.hub.url, passkey: ctx.hub.passkey, id });
  const worker = startCli(WORKER_BIN, ['run', '--url', url, '--id', id, '--token', token, ...args], { cwd: ctx.dir, env: { TASK_LOG: path.join(ctx.dir, `${id}.log`) } });
  await worker.waitFor(/connected to the hub/);
  ctx.workers.push(worker);
  return worker;
}

/** Submits shell tasks (`tasks.submit`, as `cla-hub task submit` does) that log their label; returns id -> label. */
async function submitShellTasks(hub: RunningHub, labels: string[], attrs: Record<string, string> = {}, extra = '', maxAttempts?: number): Promise<Map<string, string>> {
  const client = await AdminClient.connect(hub.url, fs.readFileSync(adminTokenFile(hub.data), 'utf8').trim());
  try {
    const labelOf = new Map<string, string>();
    // Batches below the hub's bound of open requests per connection (256).
    for (let i = 0; i < labels.length; i += 200) {
      const batch = labels.slice(i, i + 200);
      const ids = await Promise.all(batch.map(async (label) => (await client.call<{ id: string }>('tasks.submit', { name: 'shell', attrs, data: { cmd: `echo ${label} >> "$TASK_LOG"${extra}` }, deadlineMs: 300_000, ...(maxAttempts ? { maxAttempts } : {}) })).id));
      ids.forEach((id, j) => labelOf.set(id, batch[j]!));
    }
    return labelOf;
  } finally {
    client.close();
  }
}

/** One admin method call over the hub's admin token (as `cla-hub workers disable` makes). */
async function adminCall(hub: RunningHub, method: string, params: Record<string, unknown>): Promise<unknown> {
  const client = await AdminClient.connect(hub.url, fs.readFileSync(adminTokenFile(hub.data), 'utf8').trim());
  try {
    return await client.call(method, params);
  } finally {
    client.close();
  }
}

/** Executions per label, with the worker that ran each, from every worker log in `dir`. */
function executions(dir: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.log'))) {
    for (const label of fs.readFileSync(path.join(dir, file), 'utf8').split('\n').filter(Boolean)) {
      seen.set(label, [...(seen.get(label) ?? []), path.basename(file, '.log')]);
    }
  }
  return seen;
}

/**
 * A TCP relay to the hub whose worker -> hub direction can be held: `hold()` keeps what the worker sends
 * (in order) instead of forwarding it, `release()` forwards it and flows again. Hub -> worker always flows.
 */
async function startLinkRelay(hubUrl: string) {
  const target = new URL(hubUrl);
  const sockets = new Set<net.Socket>();
  let held: Array<{ upstream: net.Socket; data: Buffer }> | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (data) => (held ? held.push({ upstream, data }) : upstream.write(data)));
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    hold() {
      held = [];
    },
    /** Bytes held so far. */
    heldBytes(): number {
      return (held ?? []).reduce((n, chunk) => n + chunk.data.length, 0);
    },
    release() {
      const chunks = held ?? [];
      held = undefined;
      for (const { upstream, data } of chunks) upstream.write(data);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

failures('a completion for a lease that moved (its worker\'s link stalled past the lease) is refused with STALE_LEASE; the task is done once, by the worker it moved to', async (ctx) => {
  ctx.hub = await startHub(ctx.dir, ['--task-lease-ttl', '2']);
  ctx.store = openSqliteTaskStore(ctx.hub.data);
  const relay = await startLinkRelay(ctx.hub.url);
  ctx.relays.push(relay);
  // The stalled worker takes any shell task; the rescuer has a more specific handler, so the
  // task-selection rule sends the expired task to it rather than back to the stalled one. The rescuer is
  // connected (and disabled: no tasks) before the lease starts, and enabled while it runs: a worker that
  // only started then could take longer than the 2 s lease on a loaded machine, and the task would go back
  // to the stalled worker meanwhile.
  const stalled = await startTaskWorker(ctx, 'stalled', relay.url, ['--task-handler', 'shell', '--task-concurrency', '1']);
  // A first task through the open link: done means the hub has the worker's subscription.
  const [[warmup]] = [...(await submitShellTasks(ctx.hub, ['warmup'], { cloud: 'aws' }))];
  await until('the warm-up task done', async () => (await ctx.store.get(warmup!))!.state === 'done');
  await startTaskWorker(ctx, 'rescuer', ctx.hub.url, ['--task-handler', 'shell:cloud=aws', '--task-concurrency', '1']);
  await adminCall(ctx.hub, 'workers.disable', { id: 'rescuer' });
  relay.hold();
  // Until the rescuer is enabled, an expired lease can go back to the stalled worker (it is the only
  // capable one; its link still carries hub -> worker), and each such lease is an attempt: on a loaded
  // machine the steps up to the enable may take several lease periods, so the task may not run out of attempts.
  const [[id, label]] = [...(await submitShellTasks(ctx.hub, ['moved'], { cloud: 'aws' }, '', 1000))];
  await until('the stalled worker ran the task', () => executions(ctx.dir).get(label!)?.[0] === 'stalled');
  assert.is((await ctx.store.get(id!))!.worker, 'stalled');
  await until('its task_done is held on the link', () => relay.heldBytes() > 0);

  await adminCall(ctx.hub, 'workers.enable', { id: 'rescuer' });
  // No renewal gets through: the lease runs out after 2 s and the task moves to the rescuer.
  await until('the task done by the rescuer', async () => (await ctx.store.get(id!))!.state === 'done');
  const done = (await ctx.store.get(id!))!;
  assert.is(done.worker, 'rescuer');
  assert.ok(done.attempts >= 2, `attempts ${done.attempts}`);

  relay.release();
  await stalled.waitFor(/STALE_LEASE|is stale/);
  await ctx.hub.process.waitFor(/lease on task \S+ is stale: the task is done with worker rescuer; the result was not recorded/);
  const after = (await ctx.store.get(id!))!;
  assert.equal([after.state, after.worker, after.attempts, after.finishedAt], ['done', 'rescuer', done.attempts, done.finishedAt], 'the stale completion changed nothing');
  // Run at least once by the stalled worker (every completion of its held on the link), once by the
  // rescuer, and completed once.
  const ran = executions(ctx.dir).get(label!)!;
  assert.equal(ran.filter((w) => w === 'rescuer'), ['rescuer']);
  assert.ok(ran.filter((w) => w === 'stalled').length >= 1 && ran.length <= done.attempts, `ran ${ran.join()} in ${done.attempts} attempts`);
  assert.equal(executions(ctx.dir).get('warmup'), ['stalled']);
});

failures('a hub SIGKILLed mid-burst over three workers and restarted: every task done exactly once; only tasks held at the crash ran twice', async (ctx) => {
  ctx.hub = await startHub(ctx.dir);
  const port = new URL(ctx.hub.url).port;
  ctx.store = openSqliteTaskStore(ctx.hub.data);
  for (const id of ['w1', 'w2', 'w3']) await startTaskWorker(ctx, id, ctx.hub.url, ['--task-handler', 'shell', '--task-concurrency', '3']);
  const labels = Array.from({ length: 300 }, (_, i) => `b-${String(i).padStart(3, '0')}`);
  const labelOf = await submitShellTasks(ctx.hub, labels);
  await until('100 done', async () => (await ctx.store.counts()).done >= 100);
  await ctx.hub.process.stop('SIGKILL');
  // What the data file holds at the crash: the tasks leased to a worker then are the only ones that may run again.
  const atCrash = await ctx.store.list({ limit: 1000 });
  const heldAtCrash = new Set(atCrash.filter((row) => row.state === 'claimed').map((row) => labelOf.get(row.id)!));
  const doneAtCrash = atCrash.filter((row) => row.state === 'done').length;
  assert.ok(doneAtCrash < 300, 'the crash happened mid-burst');

  ctx.hub = await startHub(ctx.dir, ['--port', port]);
  await until('all 300 done after the restart', async () => (await ctx.store.counts()).done === 300);
  assert.equal(await ctx.store.counts(), { pending: 0, claimed: 0, done: 300, failed: 0 });
  const ran = executions(ctx.dir);
  assert.equal(labels.filter((label) => !ran.has(label)), [], 'no task lost');
  const twice = [...ran].filter(([, workers]) => workers.length > 1);
  for (const [label, workers] of twice) {
    assert.is(workers.length, 2, `${label} ran ${workers.length} times`);
    assert.ok(heldAtCrash.has(label), `${label} ran twice but was not held by a worker at the crash`);
  }
  assert.is([...ran.values()].reduce((n, workers) => n + workers.length, 0), 300 + twice.length);
  if (process.env.TASKS_TEST_VERBOSE) console.error({ doneAtCrash, heldAtCrash: heldAtCrash.size, ranTwice: twice.length });
});

failures.run();
