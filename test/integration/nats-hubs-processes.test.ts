/**
 * Issue 10 with real processes: one nats-server, three `cla-hub start --engine`, each its own data file
 * (the registry is on the engine), three workers registered through hub 1 and spread over the three.
 * `cla-hub exec` through hub 3 runs on the worker hub 2 holds; hub 2 is killed with SIGKILL, its worker (given two hub
 * URLs) moves to hub 1, and an exec through hub 3 reaches it there.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { HUB_BIN, WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir, type LiveProcess, type RunningHub } from './processes.ts';
import { startNatsServer, type NatsServer } from './nats-server.ts';

interface Context {
  dir: string;
  cleanup: () => void;
  server: NatsServer;
  hubs: RunningHub[];
  workers: LiveProcess[];
}

const it = suite<Context>('hubs on nats, real processes');

it.before(async (ctx) => {
  Object.assign(ctx, tempDir('cla-nats-hubs-'));
  ctx.server = await startNatsServer(path.join(ctx.dir, 'nats'));
  ctx.hubs = [];
  ctx.workers = [];
  // Each hub in its own folder, so its own data file and admin token file.
  for (let i = 1; i <= 3; i++) {
    const dir = path.join(ctx.dir, `hub${i}`);
    fs.mkdirSync(dir);
    ctx.hubs.push(await startHub(dir, ['--engine', ctx.server.url, '--no-admin']));
  }
});

it.after(async (ctx) => {
  await stopAll();
  await ctx.server.stop();
  ctx.cleanup();
});

const exec = (ctx: Context, hub: RunningHub, worker: string, cmd: string) =>
  runCli(HUB_BIN, ['exec', '--hub', hub.url, '--admin-token-file', `${hub.data}.admin-token`, '--worker', worker, '--', cmd], { cwd: ctx.dir });

async function register(ctx: Context, id: string): Promise<string> {
  const out = await runCli(WORKER_BIN, ['register', '--url', ctx.hubs[0]!.url, '--passkey', ctx.hubs[0]!.passkey, '--id', id], { cwd: ctx.dir });
  assert.is(out.code, 0, out.stderr);
  return /Registration token: ([0-9a-f]{32})/.exec(out.stdout)![1]!;
}

it('exec through hub 3 runs on the worker of hub 2; after hub 2 is killed the worker is reached on hub 1', async (ctx) => {
  const [h1, h2, h3] = ctx.hubs as [RunningHub, RunningHub, RunningHub];
  assert.is.not(h1.data, h2.data, 'separate data files');
  assert.is(h2.passkey, h1.passkey, 'one registry: the default project (and its passkey) hub 1 made');
  const tokens = { w1: await register(ctx, 'w1'), w2: await register(ctx, 'w2'), w3: await register(ctx, 'w3') };
  ctx.workers.push(await startWorker(ctx.dir, ['--id', 'w1', '--token', tokens.w1, '--url', h1.url]));
  const w2 = await startWorker(ctx.dir, ['--id', 'w2', '--token', tokens.w2, '--url', h2.url, '--url', h1.url, '-v']);
  ctx.workers.push(w2);
  ctx.workers.push(await startWorker(ctx.dir, ['--id', 'w3', '--token', tokens.w3, '--url', h3.url]));

  const routed = await exec(ctx, h3, 'w2', 'echo routed-through-hub-3');
  assert.is(routed.code, 0, routed.stderr);
  assert.match(routed.stdout, /routed-through-hub-3/);

  // Each hub keeps its own admin token: hub 3 starting last did not replace hub 1's.
  const viaHub1 = await exec(ctx, h1, 'w3', 'echo routed-through-hub-1');
  assert.is(viaHub1.code, 0, viaHub1.stderr);
  assert.match(viaHub1.stdout, /routed-through-hub-1/);

  const before = w2.stdout.length + w2.stderr.length;
  await h2.process.stop('SIGKILL');
  // The worker dials the next URL of its list: hub 1.
  await w2.waitFor(new RegExp(`[\\s\\S]{${before}}[\\s\\S]*connected to the hub`));
  const moved = await exec(ctx, h3, 'w2', 'echo moved-to-hub-1');
  assert.is(moved.code, 0, moved.stderr);
  assert.match(moved.stdout, /moved-to-hub-1/);

  const missing = await exec(ctx, h3, 'nobody', 'true');
  assert.is.not(missing.code, 0);
  assert.match(missing.stderr, /NO_WORKER/);
});

it.run();
