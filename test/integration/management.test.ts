/**
 * Worker management with real processes: a `cla-hub start` with its admin API on port 0, a worker shared
 * by projects A and B and one in B only, managed with `cla-hub workers ...` (which finds the admin API
 * through the URL the hub saved in its data file). The seed's shared-worker caveats are checked: a
 * listing per project names the other projects, disable and shutdown affect every project, unregistering
 * from one project keeps the others.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ManagedWorker } from '../../src/hub/management.ts';
import { HUB_BIN, WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir, type LiveProcess, type RunningHub } from './processes.ts';

interface Context {
  dir: string;
  cleanup: () => void;
  hub: RunningHub;
  adminUrl: string;
  tokens: Record<string, string>;
  shared: LiveProcess;
  solo: LiveProcess;
}

const it = suite<Context>('management');

const hub = (ctx: Context, ...args: string[]) => {
  const split = args.includes('--') ? args.indexOf('--') : args.length;
  return runCli(HUB_BIN, [...args.slice(0, split), '--data', ctx.hub.data, ...args.slice(split)], { cwd: ctx.dir });
};

async function passkeyOf(ctx: Context, project: string): Promise<string> {
  const created = await hub(ctx, 'project', 'create', project);
  assert.is(created.code, 0, created.stderr);
  return /passkey: ([0-9a-f]{32})/.exec(created.stdout)![1]!;
}

async function register(ctx: Context, id: string, passkey: string, token?: string): Promise<string> {
  const args = ['register', '--url', ctx.hub.url, '--passkey', passkey, '--id', id, ...(token ? ['--token', token] : [])];
  const out = await runCli(WORKER_BIN, args, { cwd: ctx.dir });
  assert.is(out.code, 0, out.stderr);
  return /Registration token: ([0-9a-f]{32})/.exec(out.stdout)![1]!;
}

const runWorker = (ctx: Context, id: string) => startWorker(ctx.dir, ['--url', ctx.hub.url, '--id', id, '--token', ctx.tokens[id]!]);

async function list(ctx: Context, project?: string): Promise<ManagedWorker[]> {
  const out = await hub(ctx, 'workers', 'list', '--json', ...(project ? ['--project', project] : []));
  assert.is(out.code, 0, out.stderr);
  return JSON.parse(out.stdout) as ManagedWorker[];
}

/** Re-lists until `predicate` holds (the hub learns of a closed socket a moment after the process exits). */
async function listUntil(ctx: Context, predicate: (workers: ManagedWorker[]) => boolean): Promise<ManagedWorker[]> {
  for (let attempt = 0; ; attempt++) {
    const workers = await list(ctx);
    if (predicate(workers) || attempt === 50) return workers;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

it.before(async (ctx) => {
  Object.assign(ctx, tempDir());
  ctx.hub = await startHub(ctx.dir, ['--admin-port', '0']);
  ctx.adminUrl = (await ctx.hub.process.waitFor(/admin API on (http:\/\/\S+)/))[1]!;
  const a = await passkeyOf(ctx, 'A');
  const b = await passkeyOf(ctx, 'B');
  const shared = await register(ctx, 'shared', a);
  await register(ctx, 'shared', b, shared);
  ctx.tokens = { shared, solo: await register(ctx, 'solo', b) };
  ctx.shared = await runWorker(ctx, 'shared');
  ctx.solo = await runWorker(ctx, 'solo');
});

it.after(async (ctx) => {
  await ctx.hub.process.stop('SIGINT');
  await stopAll();
  ctx.cleanup();
});

it('the admin API listens apart from the workers, on 127.0.0.1', (ctx) => {
  assert.match(ctx.adminUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.is.not(new URL(ctx.adminUrl).port, new URL(ctx.hub.url).port);
});

it('workers list --project A shows the shared worker and that B shares it', async (ctx) => {
  const inA = await list(ctx, 'A');
  assert.equal(inA.map((w) => w.id), ['shared']);
  assert.equal(inA[0]!.sharedWith, ['B']);
  assert.equal(inA[0]!.projects, ['A', 'B']);
  assert.is(inA[0]!.connected, true);
  assert.is(inA[0]!.pid, ctx.shared.child.pid);
  const inB = await list(ctx, 'B');
  assert.equal(inB.map((w) => w.id), ['shared', 'solo']);
  assert.equal(inB.find((w) => w.id === 'solo')!.sharedWith, []);

  const table = await hub(ctx, 'workers', 'list', '--project', 'A');
  assert.is(table.code, 0, table.stderr);
  assert.match(table.stdout, /^ID\s+STATE\s+PROJECTS\s+TAGS\s+ENVS\s+ORIGIN\s+PID\s+CONNECTED SINCE \/ LAST SEEN\s+JOBS\s+RUNNING\s+FAILURES\s+SHARED WITH$/m);
  assert.match(table.stdout, /^shared\s+\S+\s+A,B\s.*\sB$/m);
});

it('disable: exec is refused with WORKER_DISABLED while the process keeps running; enable: exec works', async (ctx) => {
  const disabled = await hub(ctx, 'workers', 'disable', 'shared');
  assert.is(disabled.code, 0, disabled.stderr);
  assert.match(disabled.stdout, /✔ worker shared disabled/);
  assert.match(disabled.stderr, /shared by projects A, B: disabling it affects all of them/);
  const refused = await hub(ctx, 'exec', '--worker', 'shared', '--', 'echo no');
  assert.is(refused.code, 125);
  assert.match(refused.stderr, /WORKER_DISABLED/);
  assert.is(ctx.shared.child.exitCode, null, 'the worker process still runs');

  const enabled = await hub(ctx, 'workers', 'enable', 'shared');
  assert.is(enabled.code, 0, enabled.stderr);
  const ok = await hub(ctx, 'exec', '--worker', 'shared', '--', 'echo back');
  assert.is(ok.code, 0, ok.stderr);
  assert.is(ok.stdout, 'back\n');
});

it('disable persists across the worker reconnecting', async (ctx) => {
  assert.is((await hub(ctx, 'workers', 'disable', 'shared')).code, 0);
  await ctx.shared.stop();
  ctx.shared = await runWorker(ctx, 'shared');
  assert.match(ctx.shared.stderr, /"disabled":true/, 'the welcome says disabled');
  const refused = await hub(ctx, 'exec', '--worker', 'shared', '--', 'true');
  assert.match(refused.stderr, /WORKER_DISABLED/);
  const [shared] = await list(ctx, 'A');
  assert.is(shared!.disabled, true);
  assert.is(shared!.connected, true);
  assert.is((await hub(ctx, 'workers', 'enable', 'shared')).code, 0);
});

it('unregister --project A keeps the worker in B', async (ctx) => {
  const out = await hub(ctx, 'workers', 'unregister', 'shared', '--project', 'A');
  assert.is(out.code, 0, out.stderr);
  assert.match(out.stdout, /unregistered from A; still in: B/);
  assert.equal(await list(ctx, 'A'), []);
  const inB = await list(ctx, 'B');
  const shared = inB.find((w) => w.id === 'shared')!;
  assert.equal(shared.projects, ['B']);
  assert.is(shared.connected, true);
  const viaA = await hub(ctx, 'exec', '--worker', 'shared', '--project', 'A', '--', 'true');
  assert.match(viaA.stderr, /NO_WORKER/);
  const viaB = await hub(ctx, 'exec', '--worker', 'shared', '--project', 'B', '--', 'echo b');
  assert.is(viaB.stdout, 'b\n');
  const jobs = await hub(ctx, 'workers', 'jobs', '--worker', 'shared');
  assert.is(jobs.code, 0, jobs.stderr);
  assert.match(jobs.stdout, /^JOB\s+WORKER\s+KIND/m);
  assert.match(jobs.stdout, /shared\s+exec\s.*\sok\s/);
});

it('shutdown needs --yes off a terminal; with it the worker exits with the warning and does not come back', async (ctx) => {
  const refused = await hub(ctx, 'workers', 'shutdown', 'shared');
  assert.is(refused.code, 2);
  assert.match(refused.stderr, /Shutting down workers will kill the server process/);
  assert.match(refused.stderr, /--yes/);
  assert.is(ctx.shared.child.exitCode, null);

  const out = await hub(ctx, 'workers', 'shutdown', 'shared', '--yes');
  assert.is(out.code, 0, out.stderr);
  assert.match(out.stderr, /Shutting down workers will kill the server process\. After a shut down, restarting the worker requires manually logging into the server and starting the process\./);
  const exit = await ctx.shared.exited;
  assert.is(exit.code, 0);
  assert.match(ctx.shared.stderr, /worker shared was shut down by the hub/);
  const workers = await listUntil(ctx, (all) => all.some((w) => w.id === 'shared' && !w.connected));
  const shared = workers.find((w) => w.id === 'shared')!;
  assert.is(shared.connected, false);
  assert.is(shared.state, 'offline');
  assert.ok(workers.find((w) => w.id === 'solo')!.connected, 'the other worker is untouched');
  const again = await hub(ctx, 'workers', 'shutdown', 'shared', '--yes');
  assert.is(again.code, 125, 'a refusal by the hub exits 125');
  assert.match(again.stderr, /NO_WORKER/);
});

it('/metrics shows connected workers and job counts', async (ctx) => {
  const text = await (await fetch(`${ctx.adminUrl}/metrics`)).text();
  assert.match(text, /^cla_hub_connected_workers 1$/m);
  const ok = Number(/^cla_hub_jobs_total\{kind="exec",outcome="ok"\} (\d+)$/m.exec(text)?.[1]);
  assert.ok(ok >= 2, `exec ok jobs counted: ${ok}`);
  assert.match(text, /^cla_hub_jobs_total\{kind="exec",outcome="refused"\} \d+$/m);
  assert.match(text, /^cla_hub_dispatch_latency_seconds_count \d+$/m);
  assert.match(text, /^cla_hub_bytes_total\{direction="from_worker",kind="exec"\} \d+$/m);
  const denied = await fetch(`${ctx.adminUrl}/api/workers`);
  assert.is(denied.status, 401, 'the API itself needs the token');
});

it.run();
