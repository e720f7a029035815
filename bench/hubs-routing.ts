/**
 * Issue 10: the cost of routing a job through another hub. One nats-server, two hubs in this process
 * (shared registry), one worker on hub B. The same jobs are asked of hub B (local) and of hub A (routed to
 * B over NATS): probe round trips (p50/p95) and exec output throughput.
 *
 *   node --import tsx bench/hubs-routing.ts [rounds=300] [outputMiB=64]
 */
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { lastValueFrom } from 'rxjs';
import { systemClock } from '../src/clock.ts';
import { NatsCluster } from '../src/engine/cluster.ts';
import { connectEngine, type NatsEngine } from '../src/engine/nats-connect.ts';
import { Hub } from '../src/hub/hub.ts';
import { HubMetrics } from '../src/hub/metrics.ts';
import { Registry } from '../src/hub/registry.ts';
import { openSqliteStore } from '../src/store/sqlite-store.ts';
import { WorkerAgent } from '../src/worker/agent.ts';
import { startNatsServer } from '../test/integration/nats-server.ts';

const rounds = Number(process.argv[2] ?? 300);
const outputMiB = Number(process.argv[3] ?? 64);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-hubs-'));
const server = await startNatsServer(path.join(dir, 'nats'));
const store = openSqliteStore(path.join(dir, 'hub.sqlite'));
const registry = new Registry(store, systemClock);
const passkey = (await registry.createProject('default')).passkey;
const engines: NatsEngine[] = [];
const hubs: Hub[] = [];
for (const name of ['hub-a', 'hub-b']) {
  const engine = await connectEngine([server.url], { name });
  engines.push(engine);
  const hub = new Hub({ host: '127.0.0.1', port: 0, hubId: name }, { registry, cluster: new NatsCluster(engine), metrics: new HubMetrics({ processMetrics: false }) });
  await hub.start();
  hubs.push(hub);
}
const [a, b] = hubs as [Hub, Hub];
const { token } = await registry.register({ passkey, id: 'w' });
const agent = new WorkerAgent({ id: 'w', token, url: b.url() });
const exit = agent.run();
while (!b.session('w') || !(await a.management.listWorkers()).find((w) => w.id === 'w')?.connected) await new Promise((r) => setTimeout(r, 10));

async function probeRounds(hub: Hub): Promise<{ p50: number; p95: number }> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await lastValueFrom(hub.run({ target: { worker: 'w' }, job: { kind: 'probe', check: 'capable', tags: [] } }));
    times.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  return { p50: times[Math.floor(rounds / 2)]!, p95: times[Math.floor(rounds * 0.95)]! };
}

async function execThroughput(hub: Hub): Promise<number> {
  const start = performance.now();
  let bytes = 0;
  await new Promise<void>((resolve, reject) =>
    hub.run({ target: { worker: 'w' }, job: { kind: 'exec', cmd: `head -c ${outputMiB * 1024 * 1024} /dev/zero` } }).subscribe({
      next: (e) => {
        if (e.type === 'output') bytes += e.data.byteLength;
      },
      error: reject,
      complete: resolve,
    }),
  );
  return bytes / 1024 / 1024 / ((performance.now() - start) / 1000);
}

await probeRounds(b); // warm-up
const local = await probeRounds(b);
const routed = await probeRounds(a);
const localMiBs = await execThroughput(b);
const routedMiBs = await execThroughput(a);
const f = (n: number) => n.toFixed(2);
console.log(`probe round trip, ${rounds} rounds: local p50 ${f(local.p50)} ms p95 ${f(local.p95)} ms; routed p50 ${f(routed.p50)} ms p95 ${f(routed.p95)} ms (p50 ratio ${f(routed.p50 / local.p50)})`);
console.log(`exec output ${outputMiB} MiB: local ${f(localMiBs)} MiB/s; routed ${f(routedMiBs)} MiB/s (ratio ${f(routedMiBs / localMiBs)})`);
agent.stop('bench over');
await exit;
for (const hub of hubs) await hub.stop();
for (const engine of engines) await engine.close();
store.close();
await server.stop();
fs.rmSync(dir, { recursive: true, force: true });
