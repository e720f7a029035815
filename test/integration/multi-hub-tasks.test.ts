/**
 * Several hubs on one NATS JetStream engine (issue 10), real processes: 1 nats-server, 3 `cla-hub start
 * --engine` hubs (same `--psk`: the workers connect without registering), 2 shell workers on each,
 * tasks submitted through hub 1 only. Hub 2 is SIGKILLed at about 40 % done, its workers left without a
 * hub (worker failover to another URL is not part of this test). Then every task must end `done` exactly
 * once, the tasks hub 2's workers held must have been taken over by hubs 1 and 3 when their leases ran
 * out, and every task must have run at least once (a task may run twice only after a lost lease).
 *
 * Progress is followed with a JetStreamTaskStore of the test's own (hub id `observer`): its watch sees
 * every hub's writes, so the test waits on events, not on a polling loop.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectEngine } from '../../src/engine/nats-connect.ts';
import { openJetStreamTaskStore, type JetStreamTaskStore } from '../../src/engine/jetstream-task-store.ts';
import { AdminClient } from '../../src/hub/admin-client.ts';
import { adminTokenFile } from '../../src/hub/hub-record.ts';
import type { TaskRow } from '../../src/hub/tasks/task-store.ts';
import { startNatsServer } from './nats-server.ts';
import { HUB_BIN, runCli, startCli, startHub, stopAll, tempDir, WORKER_BIN, type LiveProcess, type RunningHub } from './processes.ts';

const TASKS = 600;
const PSK = 'multi-hub-test-psk-0123456789abcdef';

const it = suite('several hubs on JetStream (real processes)');

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

it('600 tasks through hub 1 of 3, hub 2 SIGKILLed at ~40 %: each done exactly once, its leases taken over', async () => {
  const { dir, cleanup } = tempDir('cla-multi-hub-');
  const server = await startNatsServer(path.join(dir, 'nats'));
  const engine = await connectEngine([server.url], { name: 'multi-hub test' });
  const workers: LiveProcess[] = [];
  const hubs: RunningHub[] = [];
  try {
    for (const n of [1, 2, 3]) {
      fs.mkdirSync(path.join(dir, `hub${n}`));
      hubs.push(await startHub(path.join(dir, `hub${n}`), ['--engine', server.url, '--psk', PSK, '--no-admin', '--task-lease-ttl', '4', '--no-cron']));
    }
    const observer = await openJetStreamTaskStore(engine.nc, { hubId: 'observer' });
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
    for (const [h, hub] of hubs.entries()) {
      for (const w of [1, 2]) {
        const id = `h${h + 1}w${w}`;
        const worker = startCli(WORKER_BIN, ['run', '--url', hub.url, '--psk', PSK, '--id', id, '--task-handler', 'shell:cloud=aws', '--task-concurrency', '2'], {
          cwd: dir,
          env: { TASK_LOG: path.join(logs, `${id}.log`) },
        });
        await worker.waitFor(/connected to the hub/);
        workers.push(worker);
      }
    }

    // Submitted through hub 1 only: hubs 2 and 3 learn of them through the engine.
    const client = await AdminClient.connect(hubs[0]!.url, fs.readFileSync(adminTokenFile(hubs[0]!.data), 'utf8').trim());
    const labels = Array.from({ length: TASKS }, (_, i) => `t${String(i).padStart(4, '0')}`);
    const ids: string[] = [];
    try {
      for (let i = 0; i < labels.length; i += 200) {
        const batch = labels.slice(i, i + 200);
        ids.push(...(await Promise.all(batch.map(async (label) => (await client.call<{ id: string }>('tasks.submit', { name: 'shell', attrs: { cloud: 'aws' }, data: { cmd: `echo ${label} >> "$TASK_LOG"` }, deadlineMs: 600_000 })).id))));
      }
    } finally {
      client.close();
    }

    await endedCount(observer, ended, Math.round(TASKS * 0.4));
    await hubs[1]!.process.stop('SIGKILL');
    const killedAt = Date.now();
    const endedAtKill = ended.size;
    await endedCount(observer, ended, TASKS);

    const rows = await Promise.all(ids.map(async (id) => (await observer.get(id))!));
    assert.equal(await observer.counts(), { pending: 0, offered: 0, claimed: 0, done: TASKS, failed: 0 });
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
    // Hub 2's workers could not report what they held when it died: those tasks were leased again, by
    // hubs 1 and 3, and finished by their workers.
    const takenOver = rows.filter((row) => row.attempts > 1);
    assert.ok(takenOver.length > 0, 'hub 2 held leases when it died');
    assert.ok(takenOver.some((row) => !row.worker!.startsWith('h2')), 'hubs 1 and 3 finished tasks hub 2 had leased');
    // Nothing was recorded through hub 2 after it died (rows carry the finishing hub's clock, this machine's).
    for (const row of rows) if (row.worker!.startsWith('h2')) assert.ok(row.finishedAt! <= killedAt, `${row.id} finished by ${row.worker} after hub 2 died`);
    for (const hub of ['h1', 'h2', 'h3']) assert.ok(rows.some((row) => row.worker!.startsWith(hub)), `workers of ${hub} completed tasks`);
    if (process.env.MULTI_HUB_VERBOSE) console.error({ endedAtKill, takenOver: takenOver.length, ranTwice: [...ran.values()].filter((by) => by.length > 1).length });
    await observer.close();
  } finally {
    for (const worker of workers) await worker.stop('SIGKILL');
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
