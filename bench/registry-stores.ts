/**
 * Benchmark (issue 10): the registry's per-job writes on SQLite vs NATS JetStream, in one run. A hub
 * records every job twice (`insertJob` at start, `finishJob` with the worker's counters at the end) and
 * fires them without awaiting each, so what bounds it is how fast one store instance applies them in call
 * order. Both stores in this process; the JetStream one on a single-node nats-server 2.9.10 in a temp
 * folder. Also times `listRecentJobs(50)` over the jobs written. Checks the counters: jobsRun = jobs.
 *
 * Usage: node --import tsx bench/registry-stores.ts [--jobs 2000]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connectEngine } from '../src/engine/nats-connect.ts';
import { openJetStreamRegistryStore } from '../src/engine/jetstream-registry-store.ts';
import { openSqliteStore } from '../src/store/sqlite-store.ts';
import type { RegistryStore } from '../src/store/store.ts';
import { startNatsServer } from '../test/integration/nats-server.ts';
import { tempDir } from '../test/unit/test-helpers.ts';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '2000' } } });
const jobs = Number(values.jobs);
if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`Expected --jobs to be a positive integer, got ${values.jobs}`);

async function measure(name: string, store: RegistryStore): Promise<number> {
  await store.createWorker({ id: 'w1', tokenHash: 'a'.repeat(64), createdAt: 1 });
  const t0 = performance.now();
  const writes: Array<Promise<unknown>> = [];
  for (let i = 0; i < jobs; i++) {
    writes.push(store.insertJob({ id: `j${i}`, workerId: 'w1', kind: 'exec', command: ['true'], startedAt: i, owner: 'bench' }));
    writes.push(store.finishJob(`j${i}`, { finishedAt: i + 1, exitCode: 0, signal: null, outcome: 'ok', errorCode: null }));
  }
  await Promise.all(writes);
  const ms = performance.now() - t0;
  const worker = await store.getWorker('w1');
  if (worker?.jobsRun !== jobs) throw new Error(`${name}: jobsRun ${worker?.jobsRun}, expected ${jobs}`);
  const t1 = performance.now();
  await store.listRecentJobs(50);
  const listMs = performance.now() - t1;
  const perSecond = (jobs / ms) * 1000;
  console.log(`${name}: ${jobs} jobs started + finished in ${ms.toFixed(0)} ms = ${perSecond.toFixed(0)} jobs/s; listRecentJobs(50) ${listMs.toFixed(1)} ms`);
  await store.close();
  return perSecond;
}

const folder = tempDir('cla-bench-registry-');
const server = await startNatsServer(path.join(folder.dir, 'nats'));
const engine = await connectEngine([server.url], { name: 'registry bench' });
try {
  const sqlite = await measure('SQLite', openSqliteStore(path.join(folder.dir, 'hub.sqlite')));
  const jetstream = await measure('JetStream', await openJetStreamRegistryStore(engine.nc));
  console.log(`JetStream / SQLite: ${(jetstream / sqlite).toFixed(3)}`);
} finally {
  await engine.close();
  await server.stop();
  folder.cleanup();
}
