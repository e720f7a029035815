/**
 * Issue 13: the hub relays a ship's and a fetch's `chunk` frames between an admin client and a worker
 * without encoding them again: an admin client that asks for `chunksByJob` addresses its chunks by job id,
 * and the bytes the hub writes to the other side are the very bytes it read (same buffer), both ways. An
 * admin client that does not ask (an older one) still gets its chunks relayed the old way, re-addressed.
 * A real hub on port 0 with a frame tap, a real worker agent and real websockets, in this process.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { systemClock } from '../../src/clock.ts';
import { AdminClient } from '../../src/hub/admin-client.ts';
import { Hub } from '../../src/hub/hub.ts';
import { Registry } from '../../src/hub/registry.ts';
import { fetchFile, shipFile } from '../../src/hub/transfer.ts';
import { transferHeapGrowth } from '../../src/gc-policy.ts';
import { createLogger } from '../../src/logger.ts';
import { proofMessage, prove } from '../../src/protocol/auth-proof.ts';
import { decodeFrame } from '../../src/protocol/codec.ts';
import { frame, type Frame } from '../../src/protocol/frames.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { exchange } from '../../src/transport/exchange.ts';
import type { FrameTap } from '../../src/transport/transport.ts';
import { connectWs } from '../../src/transport/ws-client.ts';
import { WorkerAgent } from '../../src/worker/agent.ts';
import { WorkerPolicy } from '../../src/worker/policy.ts';
import { registerWorker } from '../../src/worker/registration.ts';
import { tempDir } from './processes.ts';

const MiB = 1024 * 1024;
const it = suite('transfer relay');

/** The hub's large chunk frames, in and out, as the byte arrays its sockets handled. */
class ChunkTap implements FrameTap {
  readonly in: Uint8Array[] = [];
  readonly out: Uint8Array[] = [];
  frame(_connection: string, direction: 'in' | 'out', bytes: Uint8Array): void {
    if (bytes.length < 64 * 1024 || decodeFrame(bytes).t !== 'chunk') return;
    (direction === 'in' ? this.in : this.out).push(bytes);
  }
  event(): void {}
}

async function setUp() {
  const { dir: made, cleanup } = tempDir('cla-transfer-relay-');
  const dir = fs.realpathSync(made);
  const tap = new ChunkTap();
  const store = openSqliteStore(path.join(dir, 'hub.db'));
  const registry = new Registry(store, systemClock);
  const log = createLogger({ name: 'test', quiet: true });
  const hub = new Hub({ port: 0 }, { registry, log, tap });
  const url = await hub.start();
  const { passkey } = await registry.createProject('relay');
  const { id, token } = await registerWorker({ url, passkey, id: 'relay' });
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const agent = new WorkerAgent({ id, token, url, policy: new WorkerPolicy({ roots: [root] }), log });
  const connected = new Promise<void>((resolve) => {
    const stop = agent.onState((state) => {
      if (JSON.stringify(state) === JSON.stringify({ connected: 'idle' })) {
        stop();
        resolve();
      }
    });
  });
  void agent.run();
  await connected;
  const adminToken = (await registry.ensureAdminToken()).token!;
  const stop = async () => {
    agent.stop('test done');
    await hub.stop();
    await store.close();
    cleanup();
  };
  return { dir, root, url, id, tap, adminToken, stop };
}

it('chunks of a ship and a fetch leave the hub in the bytes they came in, addressed by job id', async () => {
  const { dir, root, url, id, tap, adminToken, stop } = await setUp();
  const client = await AdminClient.connect(url, adminToken);
  try {
    const local = path.join(dir, 'random.bin');
    const content = randomBytes(5 * MiB + 12345);
    fs.writeFileSync(local, content);
    const sha = createHash('sha256').update(content).digest('hex');
    const remote = path.join(root, 'shipped.bin');
    assert.is((await shipFile(client, { worker: id }, local, remote)).sha256, sha);
    assert.ok(fs.readFileSync(remote).equals(content), 'the worker wrote the bytes shipped');
    const shipIn = tap.in.length;
    const shipOut = tap.out.length;
    const back = path.join(dir, 'back.bin');
    assert.is((await fetchFile(client, { worker: id }, remote, back)).sha256, sha);
    assert.ok(fs.readFileSync(back).equals(content), 'the admin wrote the bytes fetched');
    // The hub's job runner and the worker's ship and fetch gave their heap growth holds back (gc-policy.ts).
    assert.is(transferHeapGrowth.active, 0, 'no transfer holds the heap growth policy once both ended');

    assert.ok(shipIn >= 5, `the hub received the ship's chunks (${shipIn})`);
    assert.is(shipOut, shipIn, 'every received ship chunk was sent on');
    assert.is(tap.out.length, tap.in.length, 'every received fetch chunk was sent on');
    tap.out.forEach((bytes, i) => {
      assert.ok(bytes === tap.in[i], `chunk frame ${i} was encoded again instead of forwarded as received`);
      const f = decodeFrame(bytes) as Frame;
      assert.is(f.t, 'chunk');
      // A job id from the hub (a uuid), not the admin's request id (`r1`, ...).
      assert.ok(f.t === 'chunk' && f.re.length > 10, `chunk ${i} is addressed by the job id`);
    });
  } finally {
    client.close();
    await stop();
  }
});

it('an admin client that does not ask for chunksByJob gets its ship relayed as before', async () => {
  const { dir, root, url, id, tap, adminToken, stop } = await setUp();
  const transport = await connectWs(url, { silenceTimeoutMs: 0 });
  try {
    await exchange(transport, (nonce) => frame('admin_hello', { proof: prove(adminToken, proofMessage('admin', '', nonce)) }), 'welcome');
    const content = randomBytes(200 * 1024);
    const sha = createHash('sha256').update(content).digest('hex');
    const remote = path.join(root, 'old-client.bin');
    const seen: Frame[] = [];
    const ended = new Promise<Frame>((resolve) => {
      transport.frames$.subscribe((f) => {
        seen.push(f);
        // All the credit a 200 KiB file needs comes in the first grant.
        if (f.t === 'credit') void transport.send(frame('chunk', { re: 'r1', seq: 0, data: content }));
        if (f.t === 'result' || f.t === 'error') resolve(f);
      });
    });
    await transport.send(frame('run', { id: 'r1', target: { worker: id }, job: { kind: 'ship', path: remote, size: content.length, sha256: sha } }));
    const end = await ended;
    assert.is(end.t, 'result', `the ship ended with ${JSON.stringify(end)}`);
    const dispatched = seen.find((f) => f.t === 'dispatched');
    assert.ok(dispatched && dispatched.t === 'dispatched' && dispatched.chunksByJob === undefined, 'the hub confirms chunksByJob only when asked');
    assert.ok(fs.readFileSync(remote).equals(content), 'the worker wrote the bytes shipped');
    assert.is(tap.in.length, 1);
    assert.is(tap.out.length, 1);
    assert.ok(tap.out[0] !== tap.in[0], 're-addressed to the job id, so encoded again');
    const out = decodeFrame(tap.out[0]!);
    assert.ok(out.t === 'chunk' && out.re === (dispatched as { job: string }).job, 'the worker got the chunk under the job id');
  } finally {
    transport.close();
    await stop();
  }
});

it.run();
