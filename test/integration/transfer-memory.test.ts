/**
 * Issue 13: a 1 GiB ship and fetch keep memory within a fixed bound whatever the size. Hub, worker and
 * admin client all run in this process (real websockets on port 0, real files), so one forced-GC reading
 * covers the three: `heapUsed + external` (socket, frame and file buffers live in `external`) is read at
 * every 128 MiB of progress and may never exceed its value before the transfer by 64 MiB. The source is
 * sparse (no 1 GiB write to prepare it); the worker writes real bytes, removed at once.
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { systemClock } from '../../src/clock.ts';
import { AdminClient } from '../../src/hub/admin-client.ts';
import { Hub } from '../../src/hub/hub.ts';
import { Registry } from '../../src/hub/registry.ts';
import { fetchFile, shipFile, type TransferProgress } from '../../src/hub/transfer.ts';
import { createLogger } from '../../src/logger.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { WorkerAgent } from '../../src/worker/agent.ts';
import { WorkerPolicy } from '../../src/worker/policy.ts';
import { registerWorker } from '../../src/worker/registration.ts';
import { tempDir } from './processes.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;
const FILE_BYTES = 1024 * MiB;
const BOUND_BYTES = 64 * MiB;
const SHA256_OF_1GIB_ZEROS = '49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14';

const it = suite('transfer memory');

function held(): number {
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

it('a 1 GiB ship and fetch stay within 64 MiB of memory (forced GC) across hub, worker and admin client', async () => {
  const { dir: made, cleanup } = tempDir('cla-transfer-memory-');
  const dir = fs.realpathSync(made);
  const store = openSqliteStore(path.join(dir, 'hub.db'));
  const registry = new Registry(store, systemClock);
  const hub = new Hub({ port: 0 }, { registry, log: createLogger({ name: 'test', quiet: true }) });
  let agent: WorkerAgent | undefined;
  let client: AdminClient | undefined;
  try {
    const url = await hub.start();
    const { passkey } = await registry.createProject('memory');
    const { id, token } = await registerWorker({ url, passkey, id: 'memory' });
    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    agent = new WorkerAgent({ id, token, url, policy: new WorkerPolicy({ roots: [root] }), log: createLogger({ name: 'test', quiet: true }) });
    const connected = new Promise<void>((resolve) => {
      const stop = agent!.onState((state) => {
        if (JSON.stringify(state) === JSON.stringify({ connected: 'idle' })) {
          stop();
          resolve();
        }
      });
    });
    void agent.run();
    await connected;
    client = await AdminClient.connect(url, (await registry.ensureAdminToken()).token!);

    const local = path.join(dir, 'sparse.bin');
    fs.writeFileSync(local, '');
    fs.truncateSync(local, FILE_BYTES);
    const before = held();
    let peak = 0;
    let next = 128 * MiB;
    let samples = 0;
    const onProgress = (p: TransferProgress) => {
      if (p.bytes < next) return;
      next += 128 * MiB;
      samples++;
      peak = Math.max(peak, held() - before);
    };
    const remote = path.join(root, 'big.bin');
    const shipped = await shipFile(client, { worker: id }, local, remote, { onProgress });
    assert.is(shipped.sha256, SHA256_OF_1GIB_ZEROS);
    const afterShip = peak;
    const shipSamples = samples;
    next = 128 * MiB;
    const back = path.join(dir, 'back.bin');
    const fetched = await fetchFile(client, { worker: id }, remote, back, { onProgress });
    fs.rmSync(remote);
    fs.rmSync(back);
    assert.is(fetched.sha256, SHA256_OF_1GIB_ZEROS);
    const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
    if (process.env.CLA_TEST_VERBOSE) console.log(`memory growth: ship ${mib(afterShip)}, ship + fetch ${mib(peak)}`);
    // One reading per 128 MiB of each transfer, so neither bound can pass unmeasured.
    assert.is(shipSamples, 8, 'memory readings during the ship');
    assert.is(samples - shipSamples, 8, 'memory readings during the fetch');
    assert.ok(afterShip > 0, 'memory grew at some reading of the ship');
    assert.ok(afterShip < BOUND_BYTES, `memory grew by ${mib(afterShip)} during a 1 GiB ship`);
    assert.ok(peak < BOUND_BYTES, `memory grew by ${mib(peak)} during a 1 GiB ship + fetch`);
  } finally {
    client?.close();
    agent?.stop('test done');
    await hub.stop();
    await store.close();
    cleanup();
  }
});

it.run();
