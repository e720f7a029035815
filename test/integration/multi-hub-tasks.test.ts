/**
 * Several hubs on one NATS JetStream engine (issue 10), all of it at once with real processes: 1
 * nats-server, 3 `cla-hub start --engine` hubs (same `--psk`: the workers connect without registering),
 * 6 workers, 2 on each; hub 2's workers are given a second URL (hub 1 for one, hub 3 for the other).
 * Through hub 1, 5,000 tasks; through hub 2, a workflow whose first step waits for all 6 subscribers (a
 * test plugin answers only once the test opens its gate) and whose second step broadcasts again; through
 * hub 3, an exec on a worker hub 2 holds, left running. Hub 2 is SIGKILLed at about 40 % of the tasks.
 *
 * Then: every task is done exactly once (hub 2's leases finished by their moved workers or taken over by
 * hubs 1 and 3), hub 2's workers are on hubs 1 and 3, the workflow run is adopted by hub 1 or 3 and ends
 * with each subscriber's answer once (each action ran once on each worker), the exec in flight through
 * hub 3 fails with WORKER_LOST and its job (which hub 2 recorded) ends as lost, an exec to each moved
 * worker succeeds through hubs 1 and 3, and hub 2's presence entries and heartbeat are gone.
 *
 * Every wait is on events: the test's own JetStreamTaskStore (hub id `observer`) and watches of the
 * engine's buckets see every hub's writes; the processes' output. Nothing sleeps, nothing is timed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectEngine } from '../../src/engine/nats-connect.ts';
import { idToken } from '../../src/engine/presence.ts';
import { openJetStreamTaskStore, type JetStreamTaskStore } from '../../src/engine/jetstream-task-store.ts';
import { openJetStreamWorkflowStore } from '../../src/engine/jetstream-workflow-store.ts';
import { AdminClient } from '../../src/hub/admin-client.ts';
import { adminTokenFile } from '../../src/hub/hub-record.ts';
import type { ManagedWorker } from '../../src/hub/management.ts';
import type { RunDetail } from '../../src/hub/actions/workflow-store.ts';
import type { TaskRow } from '../../src/hub/tasks/task-store.ts';
import { startNatsServer } from './nats-server.ts';
import { HUB_BIN, runCli, startCli, startHub, stopAll, tempDir, WORKER_BIN, type LiveProcess, type RunningHub } from './processes.ts';

const TASKS = 5000;
const PSK = 'multi-hub-test-psk-0123456789abcdef';
const WORKERS = ['h1w1', 'h1w2', 'h2w1', 'h2w2', 'h3w1', 'h3w2'];

const it = suite('several hubs on JetStream (real processes)');

// `hold` answers once the file open-<worker> exists; each call of an action is appended to <action>-<worker>.
const GATE_PLUGIN = `
import fs from 'node:fs';
import path from 'node:path';
export const plugin = {
  name: 'gate',
  kind: 'action',
  configKeys: ['dir'],
  create: ({ config, workerId }) => {
    const dir = config.get('dir');
    const called = (ctx) => fs.appendFileSync(path.join(dir, ctx.action + '-' + workerId), ctx.id + '\\n');
    return {
      actions: {
        hold: async (ctx) => {
          called(ctx);
          while (!fs.existsSync(path.join(dir, 'open-' + workerId))) {
            if (ctx.signal.aborted) throw ctx.signal.reason;
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
        },
        after: (ctx) => called(ctx),
      },
    };
  },
};
`;

const RELAY = `name: relay
steps:
  - { name: hold, action: hold, timeout: 1h }
  - { name: after, action: after, timeout: 1h }
triggers: [manual]
`;

/** Resolves once `count` distinct tasks ended, as the observer's watch reports them. */
function endedCount(store: JetStreamTaskStore, ended: Map<string, TaskRow>, count: number): Promise<void> {
  return new Promise((resolve) => {
    if (ended.size >= count) return resolve();
    const off = store.subscribe({
      pending: () => undefined,
      ended: () => {
        if (ended.size < count) return;
        off();
        resolve();
      },
    });
  });
}

/**
 * Resolves with what `check` returns once it returns something, called with the bucket's values (JSON, by
 * key) after its watch delivered what the bucket held, and again after every change.
 */
async function untilBucket<T>(nc: NatsConnection, bucket: string, check: (values: Map<string, any>) => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const kv = await new Kvm(nc).open(bucket);
  const values = new Map<string, any>();
  const watcher = await kv.watch();
  try {
    // An empty bucket sends nothing before its first change: then the check runs at once.
    let caughtUp = (await kv.status()).values === 0;
    if (caughtUp) {
      const value = await check(values);
      if (value !== undefined && value !== false) return value;
    }
    for await (const entry of watcher) {
      if (entry.operation === 'PUT') values.set(entry.key, entry.json());
      else values.delete(entry.key);
      caughtUp ||= entry.isUpdate || entry.delta === 0;
      if (!caughtUp) continue;
      const value = await check(values);
      if (value !== undefined && value !== false) return value;
    }
    throw new Error(`the watch of ${bucket} ended`);
  } finally {
    watcher.stop();
  }
}

/** Prints what the hubs said about each other (deaths, takeovers), for whoever reads a failure. */
function hubNotes(hubs: RunningHub[]): void {
  const notable = /stopped beating|removed by another hub|adopted|closed the jobs|could not|resumed/;
  for (const [n, hub] of hubs.entries()) {
    for (const line of `${hub.process.stdout}\n${hub.process.stderr}`.split('\n').filter((l) => notable.test(l))) console.error(`hub ${n + 1}: ${line.slice(0, 300)}`);
  }
}

const answersOf = (detail: RunDetail, step: number) => Object.fromEntries((detail.steps[step]?.answers ?? []).map((a) => [a.subscriber, a.status]));
const allDone = (ids: string[]) => Object.fromEntries(ids.map((id) => [id, 'done']));

it('5,000 tasks, a workflow and execs on 3 hubs, hub 2 SIGKILLed at ~40 %: nothing lost, nothing twice, its workers, run and jobs taken over', async () => {
  const { dir, cleanup } = tempDir('cla-multi-hub-');
  const server = await startNatsServer(path.join(dir, 'nats'));
  const engine = await connectEngine([server.url], { name: 'multi-hub test' });
  const nc = engine.nc;
  const workers = new Map<string, LiveProcess>();
  const hubs: RunningHub[] = [];
  const clients: AdminClient[] = [];
  const gates = path.join(dir, 'gates');
  const stopExec = path.join(dir, 'stop-exec');
  try {
    const plugins = path.join(dir, 'plugins');
    const workflows = path.join(dir, 'workflows');
    for (const d of [gates, plugins, workflows]) fs.mkdirSync(d);
    fs.writeFileSync(path.join(plugins, 'gate.mjs'), GATE_PLUGIN);
    fs.writeFileSync(path.join(workflows, 'relay.yml'), RELAY);
    // A long subscriber grace: a subscriber moving between hubs is never given up on this machine's pace.
    const hubArgs = ['--engine', server.url, '--psk', PSK, '--no-admin', '--task-lease-ttl', '4', '--no-cron', '--workflows', workflows, '--subscriber-grace', '600'];
    for (const n of [1, 2, 3]) {
      fs.mkdirSync(path.join(dir, `hub${n}`));
      hubs.push(await startHub(path.join(dir, `hub${n}`), hubArgs));
    }
    const [h1, h2, h3] = hubs as [RunningHub, RunningHub, RunningHub];
    for (const hub of hubs) clients.push(await AdminClient.connect(hub.url, fs.readFileSync(adminTokenFile(hub.data), 'utf8').trim()));
    const [c1, c2, c3] = clients as [AdminClient, AdminClient, AdminClient];
    const [id1, id2, id3] = await Promise.all(clients.map(async (c) => (await c.call<{ hubId: string }>('hub.info')).hubId));

    const observer = await openJetStreamTaskStore(nc, { hubId: 'observer' });
    const runs = await openJetStreamWorkflowStore(nc, { hubId: 'observer' });
    const ended = new Map<string, TaskRow>();
    const endedTwice: string[] = [];
    observer.subscribe({
      pending: () => undefined,
      ended: (row) => {
        if (ended.has(row.id)) endedTwice.push(row.id);
        ended.set(row.id, row);
      },
    });
    const logs = path.join(dir, 'logs');
    fs.mkdirSync(logs);
    // Hub 2's workers get a second URL: one moves to hub 1, the other to hub 3.
    const urls: Record<string, string[]> = { h1w1: [h1.url], h1w2: [h1.url], h2w1: [h2.url, h1.url], h2w2: [h2.url, h3.url], h3w1: [h3.url], h3w2: [h3.url] };
    for (const id of WORKERS) {
      const args = ['run', ...urls[id]!.flatMap((url) => ['--url', url]), '--psk', PSK, '--id', id, '--task-handler', 'shell:cloud=aws', '--task-concurrency', '2'];
      args.push('--plugins-dir', plugins, '--plugin', 'gate', '--override', `gate.dir=${gates}`);
      const worker = startCli(WORKER_BIN, args, { cwd: dir, env: { TASK_LOG: path.join(logs, `${id}.log`) } });
      await worker.waitFor(/connected to the hub/);
      workers.set(id, worker);
    }
    await untilBucket(nc, 'cla_subs', (subs) => WORKERS.every((id) => subs.get(id)?.actions.some((a: { action: string }) => a.action === 'hold')));

    // The workflow, through hub 2. Its first step takes the subscribers hub 2 knows when it starts; hub 2
    // learns of the other hubs' through its own watch, which may lag the test's by a moment: a run that
    // started with fewer than the 6 is aborted and another started.
    let run: string;
    for (;;) {
      run = (await c2.call<{ run: string }>('workflows.run', { workflow: 'relay' })).run;
      const started = await untilBucket(nc, 'cla_wfsteps', async () => {
        const detail = await runs.getRun(run);
        // The step is written first, then its subscribers (every step has some: hub 2 holds two).
        return (detail.steps[0]?.answers.length ?? 0) > 0 && detail;
      });
      if (Object.keys(answersOf(started, 0)).length === WORKERS.length) break;
      await c2.call('workflows.abort', { run, reason: 'started before hub 2 knew every subscriber' });
    }
    // Every subscriber but hub 2's answers while hub 2 lives.
    const early = WORKERS.filter((id) => !id.startsWith('h2'));
    for (const id of early) fs.writeFileSync(path.join(gates, `open-${id}`), '');
    await untilBucket(nc, 'cla_wfsteps', async () => {
      const a = answersOf(await runs.getRun(run), 0);
      return early.every((id) => a[id] === 'done');
    });

    // An exec through hub 3 on a worker hub 2 holds, running when hub 2 dies.
    const execArgs = (hub: RunningHub, worker: string, cmd: string) => ['exec', '--hub', hub.url, '--admin-token-file', adminTokenFile(hub.data), '--worker', worker, '--', cmd];
    const inFlight = startCli(HUB_BIN, execArgs(h3, 'h2w1', `echo exec-started; while [ ! -e '${stopExec}' ]; do sleep 0.1; done`), { cwd: dir });
    await inFlight.waitFor(/exec-started/);

    // Submitted through hub 1 only: hubs 2 and 3 learn of them through the engine.
    const labels = Array.from({ length: TASKS }, (_, i) => `t${String(i).padStart(4, '0')}`);
    const submitted = (async () => {
      const ids: string[] = [];
      for (let i = 0; i < labels.length; i += 200) {
        const batch = labels.slice(i, i + 200);
        ids.push(...(await Promise.all(batch.map(async (label) => (await c1.call<{ id: string }>('tasks.submit', { name: 'shell', attrs: { cloud: 'aws' }, data: { cmd: `echo ${label} >> "$TASK_LOG"` }, deadlineMs: 600_000 })).id))));
      }
      return ids;
    })();

    await endedCount(observer, ended, Math.round(TASKS * 0.4));
    const runBefore = await runs.getRun(run);
    await h2.process.stop('SIGKILL');
    const killedAt = Date.now();
    const endedAtKill = ended.size;
    // Hub 2's subscribers may answer now: before a surviving hub adopted the run, or after.
    for (const id of WORKERS.filter((w) => w.startsWith('h2'))) fs.writeFileSync(path.join(gates, `open-${id}`), '');

    // The exec through hub 3 fails once hub 3 takes hub 2 for dead; the job hub 2 recorded ends as lost.
    const lostExec = await inFlight.exited;
    assert.is.not(lostExec.code, 0);
    assert.match(inFlight.stderr, /WORKER_LOST/);
    const job = await untilBucket(nc, 'cla_jobs', (jobs) => [...jobs.values()].find((j) => j.workerId === 'h2w1' && j.kind === 'exec' && j.finishedAt !== null));
    assert.is(job.owner, id2, 'hub 2 ran the job');
    assert.is(job.outcome, 'lost');
    assert.is(job.errorCode, 'WORKER_LOST');
    fs.writeFileSync(stopExec, '');

    // Hub 2's workers on hubs 1 and 3; hub 2's presence entries and heartbeat gone.
    await untilBucket(nc, 'cla_presence', (p) => p.get('h2w1')?.hub === id1 && p.get('h2w2')?.hub === id3 && [...p.values()].every((e) => e.hub !== id2));
    await untilBucket(nc, 'cla_hubs', (beats) => !beats.has(idToken(id2)) && beats.has(idToken(id1)) && beats.has(idToken(id3)));
    for (const [client, own] of [[c1, id1], [c3, id3]] as const) {
      const listed = new Map((await client.call<ManagedWorker[]>('workers.list')).map((w) => [w.id, w]));
      for (const id of WORKERS) assert.ok(listed.get(id)?.connected, `${id} connected, as hub ${own} lists it`);
      for (const w of listed.values()) assert.ok(!w.state.includes(id2), `${w.id} is not on hub 2 (${w.state})`);
    }

    // Every task exactly once.
    const ids = await submitted;
    await endedCount(observer, ended, TASKS);
    const rows = await Promise.all(ids.map(async (id) => (await observer.get(id))!));
    assert.equal(await observer.counts(), { pending: 0, claimed: 0, done: TASKS, failed: 0 });
    assert.equal(endedTwice, [], 'no task ended twice');
    assert.ok(endedAtKill < TASKS, 'hub 2 died mid-burst');
    // Which workers ran what, from their own logs (at least once; twice only after a lost lease).
    const ran = new Map<string, string[]>();
    for (const file of fs.readdirSync(logs)) {
      for (const label of fs.readFileSync(path.join(logs, file), 'utf8').split('\n').filter(Boolean)) ran.set(label, [...(ran.get(label) ?? []), path.basename(file, '.log')]);
    }
    assert.equal(labels.filter((label) => !ran.has(label)), [], 'every task ran');
    const rowOf = new Map(ids.map((id, i) => [labels[i]!, rows[i]!]));
    for (const [label, by] of ran) if (by.length > 1) assert.ok(rowOf.get(label)!.attempts > 1, `${label} ran on ${by.join(', ')} without a lost lease`);
    // The tasks hub 2 had leased when it died end either way, once: finished by their worker after its move
    // (the lease is in the engine, any hub accepts the result while it holds), or leased again by hubs 1
    // and 3 once it ran out (a worker slow to come back). Which one depends on the machine's pace.
    const takenOver = rows.filter((row) => row.attempts > 1);
    // Hub 2's workers went on with tasks on their new hubs (rows carry the finishing hub's clock, this machine's).
    for (const worker of ['h2w1', 'h2w2']) assert.ok(rows.some((row) => row.worker === worker && row.finishedAt! > killedAt), `${worker} completed tasks after its move`);
    for (const hub of ['h1', 'h2', 'h3']) assert.ok(rows.some((row) => row.worker!.startsWith(hub)), `workers of ${hub} completed tasks`);

    // The workflow: adopted by hub 1 or 3, both steps answered by all 6, each action run once per worker.
    const detail = await untilBucket(nc, 'cla_wfruns', async () => {
      const d = await runs.getRun(run);
      return d.run.state !== 'pending' && d.run.state !== 'running' && d;
    });
    assert.is(runBefore.run.state, 'running', 'the run was waiting for hub 2\'s subscribers when hub 2 died');
    assert.equal(answersOf(runBefore, 0), { ...allDone(early), h2w1: 'pending', h2w2: 'pending' });
    assert.is(detail.run.state, 'succeeded', JSON.stringify(detail));
    assert.ok([id1, id3].includes((await runs.getStoredRun(run))!.owner!), 'a surviving hub adopted the run');
    for (const step of [0, 1]) {
      assert.equal(answersOf(detail, step), allDone(WORKERS));
      assert.is(detail.steps[step]!.answers.length, WORKERS.length, 'one answer per subscriber');
    }
    for (const id of WORKERS) {
      const calls = (action: string) => fs.readFileSync(path.join(gates, `${action}-${id}`), 'utf8').split('\n').filter((m) => m.startsWith(run));
      assert.equal(calls('hold'), [`${run}.0`], `${id} ran hold once`);
      assert.equal(calls('after'), [`${run}.1`], `${id} ran after once`);
    }

    // An exec to each moved worker, through each surviving hub.
    for (const hub of [h1, h3]) {
      for (const worker of ['h2w1', 'h2w2']) {
        const out = await runCli(HUB_BIN, execArgs(hub, worker, `echo moved-${worker}`), { cwd: dir });
        assert.is(out.code, 0, out.stderr);
        assert.match(out.stdout, `moved-${worker}`);
      }
    }
    if (process.env.MULTI_HUB_VERBOSE) hubNotes(hubs);
    if (process.env.MULTI_HUB_VERBOSE) console.error({ endedAtKill, takenOver: takenOver.length, ranTwice: [...ran.values()].filter((by) => by.length > 1).length, adopter: (await runs.getStoredRun(run))!.owner });
    await observer.close();
    await runs.close();
  } catch (error) {
    hubNotes(hubs);
    throw error;
  } finally {
    fs.writeFileSync(stopExec, '');
    for (const client of clients) client.close();
    for (const worker of workers.values()) await worker.stop('SIGKILL');
    for (const hub of hubs) await hub.process.stop('SIGTERM');
    await stopAll();
    await engine.close();
    await server.stop();
    cleanup();
  }
});

it('cla-hub start --engine refuses a URL that is not nats:// and an engine it cannot reach, saying what to do', async () => {
  const { dir, cleanup } = tempDir('cla-multi-hub-');
  try {
    const start = (engine: string, env: Record<string, string> = {}) => runCli(HUB_BIN, ['start', '--port', '0', '--no-admin', '--data', path.join(dir, 'hub.sqlite'), ...(engine ? ['--engine', engine] : [])], { cwd: dir, env });
    const bad = await start('http://127.0.0.1:4222');
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /--engine: "http:\/\/127.0.0.1:4222" must start with nats:\/\/ or tls:\/\/ \[INVALID_ARGUMENT\]/);
    // A port nothing listens on: a server started and stopped gives one.
    const gone = await startNatsServer(path.join(dir, 'gone'));
    await gone.stop();
    const refused = await start('', { CLA_HUB_ENGINE: gone.url });
    assert.is(refused.code, 1);
    assert.match(refused.stderr, /Cannot use the engine at nats:\/\/127.0.0.1:\d+ \(.+\): start nats-server with JetStream .* \[CONNECTION_FAILED\]/);
  } finally {
    cleanup();
  }
});

it.run();
