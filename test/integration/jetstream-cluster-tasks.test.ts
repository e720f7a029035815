/**
 * Tasks on a 3-node nats-server cluster with replicas 3 (issue 10, production layout): three stores (one
 * per hub, each on its own connection listing the three servers) drain 600 tasks, leasing and completing
 * them concurrently, while the task stream's leader is SIGKILLed at about a third. Every task must end
 * `done` exactly once: each lease and completion is a compare-and-set on the replicated bucket; a call
 * that failed in the failover is read back (its write may have landed) and only then tried again.
 */
import net from 'node:net';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectEngine, type NatsEngine } from '../../src/engine/nats-connect.ts';
import { openJetStreamTaskStore, type JetStreamTaskStore } from '../../src/engine/jetstream-task-store.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { startNatsServer, type NatsServer } from './nats-server.ts';

const TASKS = 600;
const it = suite('jetstream task store on a 3-node cluster');

/** A port free now (bound to 0 and released): cluster routes must name each other's ports up front. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

/** `fn()` again until it resolves (the cluster forming), at most 60 times. */
async function untilAccepted<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= 60) throw error;
    }
  }
}

it('600 tasks drained by 3 hubs while the stream leader is killed: each done exactly once', async () => {
  const { dir, cleanup } = tempDir('cla-js-cluster-');
  const routes = await Promise.all([freePort(), freePort(), freePort()]);
  const servers: NatsServer[] = [];
  const engines: NatsEngine[] = [];
  try {
    for (const [i, port] of routes.entries()) {
      servers.push(
        await startNatsServer(path.join(dir, `n${i}`), ['--server_name', `n${i}`, '--cluster_name', 'cla', '--cluster', `nats://127.0.0.1:${port}`, '--routes', routes.map((p) => `nats://127.0.0.1:${p}`).join(',')]),
      );
    }
    const urls = servers.map((s) => s.url);
    // Each hub connects to a different first server, as hubs spread over a cluster would. JetStream
    // answers once the nodes elected a meta leader, a moment after the routes connect: until then the
    // connection's JetStream check times out, and is tried again.
    for (let h = 0; h < 3; h++) engines.push(await untilAccepted(() => connectEngine([...urls.slice(h), ...urls.slice(0, h)], { name: `cluster hub ${h}` })));
    const first = await untilAccepted(() => openJetStreamTaskStore(engines[0]!.nc, { hubId: 'h0', replicas: 3 }));
    const stores = [first, ...(await Promise.all([1, 2].map((h) => openJetStreamTaskStore(engines[h]!.nc, { hubId: `h${h}`, replicas: 3 }))))];
    const info = await engines[0]!.jsm.streams.info(`KV_${first.bucket}`);
    assert.is(info.config.num_replicas, 3);
    const ids = Array.from({ length: TASKS }, (_, i) => `t${i}`);
    for (let i = 0; i < ids.length; i += 100) await Promise.all(ids.slice(i, i + 100).map((id) => first!.insert({ id, name: 'tag', attrs: {}, data: null, createdAt: 0, deadlineMs: 1e9, maxAttempts: 5 })));

    let completed = 0;
    let failedCalls = 0;
    let killed: Promise<string> | undefined;
    const killLeader = async () => {
      const leader = (await engines[0]!.jsm.streams.info(`KV_${first.bucket}`)).cluster?.leader ?? '';
      const victim = servers.findIndex((_, i) => `n${i}` === leader);
      assert.ok(victim >= 0, `a leader among the nodes, got ${leader}`);
      await servers[victim]!.kill();
      return leader;
    };
    // Idle hubs wait for a change: another hub's write (the store's events) or a completion here.
    const wakers = new Set<() => void>();
    const wakeAll = () => {
      for (const wake of [...wakers]) wake();
    };
    for (const store of stores) store.subscribe({ pending: wakeAll, ended: wakeAll });
    const change = () =>
      new Promise<void>((resolve) => {
        const wake = () => {
          wakers.delete(wake);
          resolve();
        };
        wakers.add(wake);
      });
    // Each hub leases what it sees pending and completes it; a call refused in the failover is tried again.
    const drain = async (store: JetStreamTaskStore, h: number) => {
      for (let round = 0; completed < TASKS; round++) {
        const changed = change();
        const rows = await store.pending(0, ['tag'], 20).catch(() => []);
        if (rows.length === 0) {
          if (completed < TASKS) await changed;
          continue;
        }
        await Promise.all(
          rows.map(async (row) => {
            const lease = `L-${h}-${round}-${row.id}`;
            // A write whose ack was lost in the failover may have landed: read the row back to know.
            const readBack = async () => {
              for (let attempt = 0; attempt < 100; attempt++) {
                const current = await store.get(row.id).catch(() => null);
                if (current !== null) return current;
                failedCalls += 1;
                await new Promise((resolve) => setTimeout(resolve, 100)); // the client's retry backoff
              }
              throw new Error(`task ${row.id} unreadable through the failover`);
            };
            const leased = await store.lease(row.id, `w${h}`, lease, 1, 1e12).catch(async () => (await readBack())?.lease === lease);
            if (!leased) return;
            const ended = await store.complete(row.id, lease, { by: h }, 2).then(
              (r) => r !== undefined,
              async () => {
                const current = await readBack();
                if (current?.state === 'done') return current.worker === `w${h}`;
                // Not written: the lease still holds, complete again.
                return (await store.complete(row.id, lease, { by: h }, 2)) !== undefined;
              },
            );
            if (!ended) return;
            completed += 1;
            if (completed >= TASKS / 3) killed ??= killLeader();
            wakeAll();
          }),
        );
      }
    };
    await Promise.all(stores.map(drain));
    const oldLeader = await killed;
    const newLeader = (await engines[1]!.jsm.streams.info(`KV_${first.bucket}`)).cluster?.leader;
    assert.ok(newLeader && newLeader !== oldLeader, `a new leader (${newLeader}) replaced ${oldLeader}`);
    if (process.env.CLUSTER_VERBOSE) console.error({ oldLeader, newLeader, failedCalls });
    const rows = await Promise.all(ids.map((id) => stores[1]!.get(id)));
    assert.equal(rows.filter((r) => r?.state !== 'done').map((r) => r?.id), [], 'every task done');
    assert.is(completed, TASKS, 'exactly one completion accepted per task');
    for (const store of stores) await store.close();
  } finally {
    for (const e of engines) await e.close();
    for (const s of servers) await s.stop();
    cleanup();
  }
});

it.run();
