/**
 * Issue 11, case 1: exec output flows with end-to-end flow control (admin -> hub -> worker), so a reader
 * that stops slows the command (the worker stops reading its pipes) instead of filling the hub. Real
 * processes: the hub in its own process (memory-hub.ts, measured after forced GC), a real `cla-worker
 * run`, and real websocket admin clients.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { AdminClient } from '../../src/hub/admin-client.ts';
import type { JobInput } from '../../src/hub/job-events.ts';
import { decodeRaw, encodeFrame } from '../../src/protocol/codec.ts';
import { proofMessage, prove } from '../../src/protocol/auth-proof.ts';
import { frame } from '../../src/protocol/frames.ts';
import { startMemoryHub, type MemoryHub } from './memory-probe.ts';
import { WORKER_BIN, startCli, stopAll, tempDir, type LiveProcess } from './processes.ts';

const MIB = 1024 * 1024;
const BYTES = 100_000_000;

interface Ctx {
  dir: string;
  cleanup: () => void;
  hub: MemoryHub;
  worker: LiveProcess;
}

const flow = suite<Ctx>('exec output flow control');

flow.before.each(async (ctx) => {
  Object.assign(ctx, tempDir('cla-exec-flow-'));
  ctx.hub = await startMemoryHub();
  ctx.worker = startCli(WORKER_BIN, ['run', '--url', ctx.hub.url, '--id', 'w1', '--token', ctx.hub.workerToken], { cwd: ctx.dir });
  await ctx.worker.waitFor(/connected to the hub/);
});

flow.after.each(async (ctx) => {
  await ctx.worker.stop();
  await ctx.hub.stop();
  ctx.cleanup();
});

flow.after(() => stopAll());

flow('an admin client that stops reading stops the command; the hub stays small; reading again gets every byte', async (ctx) => {
  const done = path.join(ctx.dir, 'DONE');
  const ws = new WebSocket(ctx.hub.url, { perMessageDeflate: false });
  // Listening from the start: the challenge may arrive in the same read as the upgrade answer.
  const challenged = new Promise<Buffer>((resolve) => ws.once('message', resolve)).then((data) => decodeRaw(data));
  try {
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    // The hub's first frame is a `challenge`; admin_hello answers it with a proof of the token.
    const challenge = (await challenged) as { nonce: string };
    const welcome = new Promise((resolve) => ws.once('message', resolve));
    ws.send(encodeFrame(frame('admin_hello', { proof: prove(ctx.hub.adminToken, proofMessage('admin', '', challenge.nonce)) })));
    await welcome;
    const base = await ctx.hub.measure();
    let received = 0;
    let exit: Record<string, unknown> | undefined;
    const exited = new Promise<void>((resolve) => {
      ws.on('message', (data: Buffer) => {
        const f = decodeRaw(data) as Record<string, unknown>;
        if (f.t === 'output') received += (f.data as Uint8Array).byteLength;
        else if (f.t === 'exit') {
          exit = f;
          resolve();
        }
      });
      ws.once('close', () => resolve());
    });
    // An admin client of the first protocol version (no `outputCredit`): the hub paces it by its socket.
    ws.send(encodeFrame(frame('run', { id: 'r1', target: { worker: 'w1' }, job: { kind: 'exec', cmd: `head -c ${BYTES} /dev/zero && touch ${done}` } })));
    ws.pause(); // reads nothing from here on
    // 40 looks at the hub's memory, each after forced GC: before the fix the hub took in the whole output
    // (and the command finished) long before the last one.
    let peak = 0;
    for (let i = 0; i < 40 && !fs.existsSync(done); i++) peak = Math.max(peak, (await ctx.hub.measure()) - base);
    console.log(`hub memory after GC over the baseline while the admin did not read: peak ${(peak / MIB).toFixed(1)} MiB; command finished: ${fs.existsSync(done)}`);
    assert.not.ok(fs.existsSync(done), 'the command wrote all its output while nobody read it');
    assert.ok(peak < 32 * MIB, `the hub grew by ${(peak / MIB).toFixed(1)} MiB`);
    ws.resume();
    // The guard only keeps a broken build from hanging the suite; nothing asserts how long it took.
    let guard: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((resolve) => (guard = setTimeout(resolve, 300_000)))]);
    clearTimeout(guard);
    assert.equal(exit && { code: exit.code, signal: exit.signal }, { code: 0, signal: null });
    assert.is(received, BYTES);
    assert.ok(fs.existsSync(done));
  } finally {
    ws.terminate();
  }
});

flow('a client granting output credit never receives more than it granted, and gets the whole output', async (ctx) => {
  const client = await AdminClient.connect(ctx.hub.url, ctx.hub.adminToken);
  try {
    const STEP = 100_000;
    let granted = STEP;
    let received = 0;
    let over = 0;
    let input: JobInput | undefined;
    const exit = await new Promise<{ code: number | null }>((resolve, reject) => {
      client
        .run({ worker: 'w1' }, { kind: 'exec', cmd: `head -c 5000000 /dev/zero` }, { outputCredit: STEP, onInput: (given) => (input = given) })
        .subscribe({
          next: (event) => {
            if (event.type === 'output') {
              received += event.data.byteLength;
              if (received > granted) over = Math.max(over, received - granted);
              // The next grant only once everything granted has arrived: the worker must have stopped in between.
              if (received === granted) {
                granted += STEP;
                input!.credit(STEP);
              }
            } else if (event.type === 'exit') resolve(event);
          },
          error: reject,
        });
    });
    assert.is(over, 0, `received ${over} bytes beyond the granted credit`);
    assert.is(exit.code, 0);
    assert.is(received, 5_000_000);
  } finally {
    client.close();
  }
});

flow.run();
