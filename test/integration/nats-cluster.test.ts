/**
 * Issue 10: hubs sharing one real nats-server. Three `Hub`s in this process share one registry (as they
 * will share the JetStream store) and each has its own engine connection and `NatsCluster`; workers are
 * real `WorkerAgent`s on real websockets. Presence (newest connection wins across hubs, entries gone when
 * a hub stops or dies), routing of runs and management to the holding hub, NO_WORKER for nobody's worker.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { filter, firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { systemClock } from '../../src/clock.ts';
import { ClaError, ErrorCode } from '../../src/errors.ts';
import { NatsCluster } from '../../src/engine/cluster.ts';
import { connectEngine, type NatsEngine } from '../../src/engine/nats-connect.ts';
import { Hub } from '../../src/hub/hub.ts';
import type { JobEvent } from '../../src/hub/job-events.ts';
import { fetchFile, hubJobRunner, shipFile } from '../../src/hub/transfer.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { CloseCode } from '../../src/protocol/version.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.ts';
import { WorkerAgent, type AgentExit } from '../../src/worker/agent.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { rawWorker, type HubHarness } from './hub-harness.ts';
import { startNatsServer, type NatsServer } from './nats-server.ts';

interface ClusterHub {
  hub: Hub;
  cluster: NatsCluster;
  engine: NatsEngine;
  url: string;
  stopped: boolean;
}

interface Context {
  dir: string;
  cleanup: () => void;
  server: NatsServer;
  store: SqliteStore;
  registry: Registry;
  hubs: ClusterHub[];
  agents: Array<{ agent: WorkerAgent; exit: Promise<AgentExit> }>;
  bucket: number;
}

const it = suite<Context>('nats cluster');
let bucketSeq = 0;

it.before.each(async (ctx) => {
  Object.assign(ctx, tempDir('cla-nats-cluster-'));
  ctx.server = await startNatsServer(path.join(ctx.dir, 'nats'));
  ctx.store = openSqliteStore(path.join(ctx.dir, 'hub.sqlite'));
  ctx.registry = new Registry(ctx.store, systemClock);
  await ctx.registry.createProject('default');
  ctx.hubs = [];
  ctx.agents = [];
  ctx.bucket = ++bucketSeq;
});

it.after.each(async (ctx) => {
  for (const { agent, exit } of ctx.agents) {
    agent.stop('test over');
    await exit;
  }
  for (const h of ctx.hubs) await stopHub(h);
  ctx.store.close();
  await ctx.server.stop();
  ctx.cleanup();
});

async function startClusterHub(ctx: Context, name: string): Promise<ClusterHub> {
  const engine = await connectEngine([ctx.server.url], { name });
  const cluster = new NatsCluster(engine, { heartbeatMs: 100, staleMs: 3000, buckets: { presence: `p${ctx.bucket}`, hubs: `h${ctx.bucket}` } });
  const hub = new Hub({ host: '127.0.0.1', port: 0, hubId: name }, { registry: ctx.registry, cluster, metrics: new HubMetrics({ processMetrics: false }) });
  const url = await hub.start();
  const h = { hub, cluster, engine, url, stopped: false };
  ctx.hubs.push(h);
  return h;
}

async function stopHub(h: ClusterHub): Promise<void> {
  if (h.stopped) return;
  h.stopped = true;
  await h.hub.stop();
  await h.engine.close();
}

async function startAgent(ctx: Context, id: string, url: string, tags: string[] = []): Promise<WorkerAgent> {
  const token = (await ctx.registry.register({ passkey: (await ctx.registry.passkey('default'))!, id })).token;
  const agent = new WorkerAgent({ id, token, url, tags, backoffBaseMs: 1, backoffMaxMs: 20 });
  ctx.agents.push({ agent, exit: agent.run() });
  return agent;
}

/** Resolves once `predicate` holds, re-checked on every presence change, hub change and worker state change. */
function until(ctx: Context, predicate: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const stops: Array<() => void> = [];
    const check = () => {
      if (!predicate()) return;
      stops.forEach((stop) => stop());
      resolve();
    };
    for (const h of ctx.hubs) {
      stops.push(h.cluster.onChange(check));
      const subscription = h.hub.changes$.subscribe(check);
      stops.push(() => subscription.unsubscribe());
    }
    for (const { agent } of ctx.agents) stops.push(agent.onState(check));
    check();
  });
}

const whereIs = (h: ClusterHub, id: string) => h.cluster.where().get(id);

it('a worker is present where it connected; a reconnection to another hub replaces the old session (4006)', async (ctx) => {
  const a = await startClusterHub(ctx, 'hub-a');
  const b = await startClusterHub(ctx, 'hub-b');
  const token = (await ctx.registry.register({ passkey: (await ctx.registry.passkey('default'))!, id: 'w1' })).token;
  const first = await rawWorker({ url: a.url } as HubHarness, 'w1', token);
  assert.is(first.first.t, 'welcome');
  await until(ctx, () => whereIs(b, 'w1') === 'hub-a');
  const second = await rawWorker({ url: b.url } as HubHarness, 'w1', token);
  assert.is(second.first.t, 'welcome');
  const close = await first.transport.closed;
  assert.is(close.code, CloseCode.Replaced);
  assert.match(close.reason, /hub hub-b/);
  assert.is(a.hub.session('w1'), undefined);
  await until(ctx, () => whereIs(a, 'w1') === 'hub-b');
  second.transport.close(1000, 'done');
  await until(ctx, () => whereIs(a, 'w1') === undefined && whereIs(b, 'w1') === undefined);
});

it('exec from one hub runs on the worker another hub holds: output (beyond the flow window) and exit come back', async (ctx) => {
  const a = await startClusterHub(ctx, 'hub-a');
  const b = await startClusterHub(ctx, 'hub-b');
  const c = await startClusterHub(ctx, 'hub-c');
  await startAgent(ctx, 'w2', b.url);
  await until(ctx, () => whereIs(a, 'w2') === 'hub-b' && whereIs(c, 'w2') === 'hub-b');
  // 3 MB of output: several output windows, so credit has to travel back through NATS to the worker.
  const events = await lastValueFrom(c.hub.run({ target: { worker: 'w2' }, job: { kind: 'exec', cmd: 'head -c 3000000 /dev/zero | tr "\\0" x; echo; echo done >&2' } }).pipe(toArray()));
  const types = new Set(events.map((e) => e.type));
  assert.ok(types.has('dispatched') && types.has('started'), [...types].join(','));
  const stdout = events.filter((e): e is Extract<JobEvent, { type: 'output' }> => e.type === 'output' && e.stream === 'stdout').reduce((n, e) => n + e.data.byteLength, 0);
  assert.is(stdout, 3_000_001);
  const exit = events.at(-1)!;
  assert.equal(exit.type === 'exit' ? exit.code : exit.type, 0);
  // The job ran through hub b, which holds the socket.
  assert.is(b.hub.session('w2')?.runningJobs(), 0);
});

it('eval and probe are routed too, and a cancel reaches the holder', async (ctx) => {
  const a = await startClusterHub(ctx, 'hub-a');
  const b = await startClusterHub(ctx, 'hub-b');
  await startAgent(ctx, 'w3', b.url);
  await until(ctx, () => whereIs(a, 'w3') === 'hub-b');
  const evalEvents = await lastValueFrom(a.hub.run({ target: { worker: 'w3' }, job: { kind: 'eval', code: 'return 6 * 7' } }).pipe(toArray()));
  const result = evalEvents.at(-1)!;
  assert.equal(result.type === 'result' ? (result.value as { value: unknown }).value : result, 42);
  const probeEvents = await lastValueFrom(a.hub.run({ target: { worker: 'w3' }, job: { kind: 'probe', check: 'file_exists', path: ctx.dir } }).pipe(toArray()));
  assert.is(probeEvents.at(-1)?.type, 'result');

  const abort = new AbortController();
  const run = a.hub.run({ target: { worker: 'w3' }, job: { kind: 'exec', cmd: 'sleep 30' } }, { signal: abort.signal });
  const all = lastValueFrom(run.pipe(toArray()));
  await until(ctx, () => b.hub.session('w3')?.runningJobs() === 1);
  abort.abort();
  const end = (await all).at(-1)!;
  assert.ok(end.type === 'exit' && end.cancelled, JSON.stringify(end));
});

it('ship and fetch to a worker on another hub: bytes, credit and the result travel through NATS', async (ctx) => {
  const a = await startClusterHub(ctx, 'hub-a');
  const b = await startClusterHub(ctx, 'hub-b');
  await startAgent(ctx, 'w7', b.url);
  await until(ctx, () => whereIs(a, 'w7') === 'hub-b');
  const local = path.join(ctx.dir, 'payload.bin');
  // Larger than the transfer window, so the worker's credit must come back through NATS to the sender.
  const content = randomBytes(20 * 1024 * 1024);
  fs.writeFileSync(local, content);
  const remote = path.join(ctx.dir, 'on-worker.bin');
  const shipped = await shipFile(hubJobRunner(a.hub), { worker: 'w7' }, local, remote);
  assert.is(shipped.worker, 'w7');
  assert.is(shipped.bytes, content.length);
  assert.ok(fs.readFileSync(remote).equals(content));
  const back = path.join(ctx.dir, 'back.bin');
  const fetched = await fetchFile(hubJobRunner(a.hub), { worker: 'w7' }, remote, back);
  assert.is(fetched.sha256, shipped.sha256);
  assert.ok(fs.readFileSync(back).equals(content));
});

it('a target by tags picks among the workers of every hub; one matching nowhere is NO_WORKER', async (ctx) => {
  const a = await startClusterHub(ctx, 'hub-a');
  const b = await startClusterHub(ctx, 'hub-b');
  await startAgent(ctx, 'w-local', a.url, ['cpu']);
  await startAgent(ctx, 'w-gpu', b.url, ['gpu', 'linux']);
  await until(ctx, () => whereIs(a, 'w-gpu') === 'hub-b' && whereIs(a, 'w-local') === 'hub-a');
  const events = await lastValueFrom(a.hub.run({ target: { tags: ['gpu'] }, job: { kind: 'exec', cmd: 'echo on-gpu' } }).pipe(toArray()));
  const dispatched = events[0]!;
  assert.equal(dispatched.type === 'dispatched' ? dispatched.worker : dispatched.type, 'w-gpu');
  const local = await lastValueFrom(a.hub.run({ target: { tags: ['cpu'] }, job: { kind: 'exec', cmd: 'true' } }).pipe(toArray()));
  assert.equal(local[0]!.type === 'dispatched' ? local[0]!.worker : local[0]!.type, 'w-local');
  const none = await lastValueFrom(a.hub.run({ target: { tags: ['tpu'] }, job: { kind: 'exec', cmd: 'true' } })).then(
    () => undefined,
    (e: unknown) => (e as ClaError).code,
  );
  assert.is(none, ErrorCode.NoWorker);
});

it('a worker no hub holds fails at once with NO_WORKER', async (ctx) => {
  const a = await startClusterHub(ctx, 'hub-a');
  await startClusterHub(ctx, 'hub-b');
  const error = await lastValueFrom(a.hub.run({ target: { worker: 'nobody' }, job: { kind: 'exec', cmd: 'true' } })).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, ClaError);
  assert.is((error as ClaError).code, ErrorCode.NoWorker);
  assert.match((error as ClaError).message, /No hub holds worker nobody/);
});

it('management from any hub reaches the worker on the hub that holds it', async (ctx) => {
  const a = await startClusterHub(ctx, 'hub-a');
  const b = await startClusterHub(ctx, 'hub-b');
  const agent = await startAgent(ctx, 'w4', b.url);
  await until(ctx, () => whereIs(a, 'w4') === 'hub-b');
  const listed = (await a.hub.management.listWorkers()).find((w) => w.id === 'w4')!;
  assert.ok(listed.connected, 'hub a lists the worker hub b holds as connected');
  // Its live state as hub b knows it (the worker's own report, `connected.idle` once it said so), and the hub holding it.
  assert.equal([listed.hub, listed.session], ['hub-b', 'active.idle']);
  assert.match(listed.state, /^connected(\.idle)?$/);
  await a.hub.management.disable('w4');
  await until(ctx, () => b.hub.session('w4')?.isDisabled() === true);
  await until(ctx, () => JSON.stringify(agent.state()) === '"disabled"');
  await a.hub.management.enable('w4');
  await until(ctx, () => b.hub.session('w4')?.isDisabled() === false);
  await a.hub.management.shutdown('w4');
  const exit = await ctx.agents.find((x) => x.agent === agent)!.exit;
  assert.ok(exit.shutdownByHub);
  await until(ctx, () => whereIs(a, 'w4') === undefined);
});

it('unregistering through one hub closes the worker held by another (4007)', async (ctx) => {
  const a = await startClusterHub(ctx, 'hub-a');
  const b = await startClusterHub(ctx, 'hub-b');
  const agent = await startAgent(ctx, 'w9', b.url);
  await until(ctx, () => whereIs(a, 'w9') === 'hub-b');
  const result = await a.hub.management.unregisterFromProject('w9', 'default');
  assert.ok(result.deleted);
  const exit = await ctx.agents.find((x) => x.agent === agent)!.exit;
  assert.is(exit.closeCode, CloseCode.Unregistered);
  await until(ctx, () => whereIs(a, 'w9') === undefined);
});

it("a hub's entries disappear when it stops, and when it dies (heartbeat stale), and its workers move on", async (ctx) => {
  const a = await startClusterHub(ctx, 'hub-a');
  const b = await startClusterHub(ctx, 'hub-b');
  const c = await startClusterHub(ctx, 'hub-c');
  const token = (await ctx.registry.register({ passkey: (await ctx.registry.passkey('default'))!, id: 'w5' })).token;
  const onB = await rawWorker({ url: b.url } as HubHarness, 'w5', token);
  assert.is(onB.first.t, 'welcome');
  await startAgent(ctx, 'w6', c.url);
  await until(ctx, () => whereIs(a, 'w5') === 'hub-b' && whereIs(a, 'w6') === 'hub-c');
  // A clean stop deletes b's entries.
  await stopHub(b);
  await until(ctx, () => whereIs(a, 'w5') === undefined);
  // A death: c's engine connection goes without a word (no deletes); a purges c's entries once c is silent.
  c.engine.nc.close();
  await until(ctx, () => whereIs(a, 'w6') === undefined);
  // A run to the dead hub's worker now fails at once instead of waiting for it.
  const lost = await firstValueFrom(a.hub.run({ target: { worker: 'w6' }, job: { kind: 'exec', cmd: 'true' } }).pipe(filter(() => false))).then(
    () => undefined,
    (e: unknown) => (e as ClaError).code,
  );
  assert.is(lost, ErrorCode.NoWorker);
});

it('a run through a hub that dies fails with WORKER_LOST, even when its worker moved on to another hub first', async (ctx) => {
  const a = await startClusterHub(ctx, 'hub-a');
  const b = await startClusterHub(ctx, 'hub-b');
  await startClusterHub(ctx, 'hub-c');
  const stop = path.join(ctx.dir, 'stop');
  const token = (await ctx.registry.register({ passkey: (await ctx.registry.passkey('default'))!, id: 'w8' })).token;
  const agent = new WorkerAgent({ id: 'w8', token, url: [b.url, ctx.hubs[2]!.url], backoffBaseMs: 1, backoffMaxMs: 20 });
  ctx.agents.push({ agent, exit: agent.run() });
  await until(ctx, () => whereIs(a, 'w8') === 'hub-b');
  let started: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const outcome = new Promise<string>((resolve) =>
    a.hub.run({ target: { worker: 'w8' }, job: { kind: 'exec', cmd: `echo started; while [ ! -e '${stop}' ]; do sleep 0.05; done` } }).subscribe({
      next: (event) => event.type === 'output' && started(),
      error: (error: unknown) => resolve((error as ClaError).code),
      complete: () => resolve('completed'),
    }),
  );
  await running;
  // b dies: its engine connection goes without a word, then its sockets; the worker dials hub c.
  b.stopped = true;
  await b.engine.nc.close();
  await b.hub.stop();
  await until(ctx, () => whereIs(a, 'w8') === 'hub-c');
  // Presence now names hub c, which never heard of the run: the hub that accepted it is the one that died.
  assert.is(await outcome, ErrorCode.WorkerLost);
  fs.writeFileSync(stop, '');
});

it.run();
