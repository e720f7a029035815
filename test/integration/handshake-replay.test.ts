/**
 * Issue 11, case 11: recordings hold no usable secret, and a first frame copied from a recording is
 * refused on a new connection. A real hub and worker record their frames (`--record`); the test then
 * sends the recorded `hello` and `admin_hello` bytes, unchanged, on fresh websockets after their challenge.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { decodeFrame } from '../../src/protocol/codec.ts';
import { readRecording } from '../../src/transport/recorder.ts';
import { HUB_BIN, WORKER_BIN, runCli, startHub, startWorker, stopAll, tempDir } from './processes.ts';

const it = suite<{ dir: string; cleanup: () => void }>('handshake-replay');

it.before.each((ctx) => {
  Object.assign(ctx, tempDir());
});

it.after.each(async (ctx) => {
  await stopAll();
  ctx.cleanup();
});

/** Raw bytes of every frame of `type` the recording saw coming in. */
function recordedFrames(file: string, type: string): Buffer[] {
  return readRecording(file).flatMap((line) => {
    if (!('b64' in line) || line.dir !== 'in') return [];
    const bytes = Buffer.from(line.b64, 'base64');
    return decodeFrame(bytes).t === type ? [bytes] : [];
  });
}

/** Opens a websocket, waits for the challenge, sends `bytes`, and resolves with what the hub answered. */
function replay(url: string, bytes: Buffer): Promise<{ frames: Array<{ t: string; error?: { code: string } }>; closeCode: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const frames: Array<{ t: string; error?: { code: string } }> = [];
    ws.on('message', (data: Buffer) => {
      const f = decodeFrame(data) as { t: string; error?: { code: string } };
      frames.push(f);
      if (f.t === 'challenge') ws.send(bytes);
    });
    ws.on('close', (closeCode) => resolve({ frames, closeCode }));
    ws.on('error', reject);
  });
}

it('a recorded hello or admin_hello is refused on a new connection; recordings hold no secret', async (ctx) => {
  const hubRecord = path.join(ctx.dir, 'hub.rec');
  const workerRecord = path.join(ctx.dir, 'worker.rec');
  const hub = await startHub(ctx.dir, ['--admin-port', '0', '--record', hubRecord]);
  const reg = await runCli(WORKER_BIN, ['register', '--url', hub.url, '--passkey', hub.passkey, '--id', 'w11'], { cwd: ctx.dir });
  const token = /Registration token: ([0-9a-f]{32})/.exec(reg.stdout)![1]!;
  const worker = await startWorker(ctx.dir, ['--url', hub.url, '--id', 'w11', '--token', token, '--record', workerRecord]);
  const before = await runCli(HUB_BIN, ['exec', '--data', hub.data, '--worker', 'w11', '--', 'echo one'], { cwd: ctx.dir });
  assert.is(before.stdout, 'one\n', before.stderr);

  const [hello] = recordedFrames(hubRecord, 'hello');
  const [adminHello] = recordedFrames(hubRecord, 'admin_hello');
  assert.ok(hello && adminHello, 'the recording has both first frames');
  const replayedHello = await replay(hub.url, hello!);
  assert.equal(replayedHello.frames.map((f) => f.t), ['challenge', 'error']);
  assert.is(replayedHello.frames[1]!.error!.code, 'BAD_TOKEN');
  assert.is(replayedHello.closeCode, 4001);
  const replayedAdmin = await replay(hub.url, adminHello!);
  assert.is(replayedAdmin.frames[1]!.error!.code, 'BAD_ADMIN_TOKEN');
  assert.is(replayedAdmin.closeCode, 4001);

  // The real worker was not kicked off (4006) and still runs jobs.
  assert.is(worker.child.exitCode, null);
  assert.not.match(worker.stdout + worker.stderr, /another process connected/);
  const after = await runCli(HUB_BIN, ['exec', '--data', hub.data, '--worker', 'w11', '--', 'echo two'], { cwd: ctx.dir });
  assert.is(after.stdout, 'two\n', after.stderr);

  // No secret in either recording: not the worker token, the admin token or the passkey, in any frame.
  const adminToken = fs.readFileSync(`${hub.data}.admin-token`, 'utf8').trim();
  // Both registrations crossed the recording hub: `register` and `registered` (a new token) are in it.
  const second = await runCli(WORKER_BIN, ['register', '--url', hub.url, '--passkey', hub.passkey, '--id', 'w11b'], { cwd: ctx.dir });
  const secondToken = /Registration token: ([0-9a-f]{32})/.exec(second.stdout)![1]!;
  assert.is(recordedFrames(hubRecord, 'register').length, 2);
  for (const file of [hubRecord, workerRecord]) {
    const bytes = readRecording(file).flatMap((line) => ('b64' in line ? [Buffer.from(line.b64, 'base64').toString('latin1')] : [])).join('\n');
    const secrets = [['worker token', token], ['second worker token', secondToken], ['admin token', adminToken], ['passkey', hub.passkey]] as const;
    for (const [name, secret] of secrets) {
      assert.not.ok(bytes.includes(secret), `${path.basename(file)} holds the ${name}`);
    }
  }
});

it.run();
