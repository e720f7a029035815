/**
 * Issue 11, case 3: a worker that grants credit for a whole ship at once and then stops reading its socket
 * must not make the hub (nor the sending admin client) hold more than one credit window. A real hub on
 * port 0 in this process, a real admin client over a websocket, and a hostile worker: a real websocket
 * connection that says `hello`, answers the `ship` with one credit for the whole file, then pauses reading.
 * Memory is read with forced GC (`arrayBuffers`: socket and frame buffers live there).
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
import { shipFile } from '../../src/hub/transfer.ts';
import { prove, proofMessage } from '../../src/protocol/auth-proof.ts';
import { frame, type Frame } from '../../src/protocol/frames.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { connectWs } from '../../src/transport/ws-client.ts';
import { TRANSFER_WINDOW_BYTES } from '../../src/worker/ops/transfer-io.ts';
import { registerWorker } from '../../src/worker/registration.ts';
import { tempDir } from './processes.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;
const FILE_BYTES = 128 * MiB;

const it = suite('transfer credit window');

/** Bytes held in ArrayBuffers (socket and frame buffers) after a full collection. */
function heldBuffers(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

it('a worker granting a whole 128 MiB ship at once and not reading makes the hub hold one window, not the file', async () => {
  const { dir, cleanup } = tempDir('cla-transfer-credit-');
  const store = openSqliteStore(path.join(dir, 'hub.db'));
  const registry = new Registry(store, systemClock);
  const hub = new Hub({ port: 0 }, { registry });
  let client: AdminClient | undefined;
  try {
    const url = await hub.start();
    const { passkey } = await registry.createProject('credit');
    const adminToken = (await registry.ensureAdminToken()).token!;
    const { id, token } = await registerWorker({ url, passkey, id: 'greedy' });
    const local = path.join(dir, 'sparse.bin');
    fs.writeFileSync(local, '');
    fs.truncateSync(local, FILE_BYTES);

    const worker = await connectWs(url, { silenceTimeoutMs: 0 });
    const welcomed = new Promise<void>((resolve) => {
      worker.frames$.subscribe((f: Frame) => {
        // The hub opens with a challenge; the hello answers it with a proof of the token (protocol v2).
        if (f.t === 'challenge') {
          void worker.send(
            frame('hello', { id, auth: 'token', proof: prove(token, proofMessage('hello', id, f.nonce)), tags: [], envs: [], caps: ['ship'], capacity: 1, agent: { version: '0', pid: process.pid, user: 'test', host: 'test', platform: process.platform } }),
          );
        }
        if (f.t === 'welcome') resolve();
        if (f.t === 'ship') {
          // The whole file's credit in one frame, then never read again.
          void worker.send(frame('credit', { re: f.id, bytes: f.size }));
          worker.pause();
        }
      });
    });
    await welcomed;
    client = await AdminClient.connect(url, adminToken);
    const before = heldBuffers();

    let sent = 0;
    const abort = new AbortController();
    const shipping = shipFile(client, { worker: id }, local, '/nowhere/file.bin', {
      signal: abort.signal,
      onProgress: (p) => {
        if (p.phase === 'send') sent = p.bytes;
      },
    }).catch((error: unknown) => error);
    // Nothing signals "the sender is held back": once bytes flow, wait until none moved for a while (or all did).
    while (sent === 0) {
      const early = await Promise.race([shipping, new Promise((resolve) => setTimeout(resolve, 50, 'pending'))]);
      if (early !== 'pending') throw early;
    }
    let last = -1;
    while (sent !== last && sent < FILE_BYTES) {
      last = sent;
      await new Promise((resolve) => setTimeout(resolve, 750));
    }
    const hubQueued = hub.session(id)!.bufferedBytes();
    const held = heldBuffers() - before;
    abort.abort();
    worker.terminate();
    await shipping;

    const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
    assert.ok(sent < FILE_BYTES, `the admin client sent the whole ${mib(FILE_BYTES)} file although the worker read nothing`);
    assert.ok(hubQueued <= TRANSFER_WINDOW_BYTES + MiB, `the hub queued ${mib(hubQueued)} towards a worker that does not read (window ${mib(TRANSFER_WINDOW_BYTES)})`);
    // One window at the hub, the admin's bytes in flight (4 MiB), and frame copies: far from the file.
    assert.ok(held < 32 * MiB, `buffers grew by ${mib(held)} after a forced GC while the worker did not read (sent ${mib(sent)})`);
  } finally {
    client?.close();
    await hub.stop();
    await store.close();
    cleanup();
  }
});

it.run();
