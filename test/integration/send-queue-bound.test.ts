/**
 * Issue 11, case 2: a peer that sends many small invalid frames and never reads the `error` answers grew
 * the hub by ~700 bytes per 7-byte frame (1.8 GB peak). The hub runs in its own process
 * (memory-hub.ts) and is measured after forced GC while a real websocket client, reading nothing, sends
 * 200 000 frames: 9 bad ones (each answered with an `error` frame) then a valid `cancel` (answered with
 * nothing; it resets the bad-frames-in-a-row count), over and over.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { decodeRaw, encodeFrame } from '../../src/protocol/codec.ts';
import { proofMessage, prove } from '../../src/protocol/auth-proof.ts';
import { frame } from '../../src/protocol/frames.ts';
import { CloseCode, PROTOCOL_VERSION } from '../../src/protocol/version.ts';
import { startMemoryHub } from './memory-probe.ts';

// {v: PROTOCOL_VERSION, t: nil}: 7 bytes, refused with BAD_FRAME (a wrong `v` would close at once with 4002).
const BAD = Buffer.from([0x82, 0xa1, 0x76, PROTOCOL_VERSION, 0xa1, 0x74, 0xc0]);
const FRAMES = 200_000;
const MIB = 1024 * 1024;

test('a peer that never reads its error answers is stopped at a bounded queue, then closed with 4009', async () => {
  const hub = await startMemoryHub({ sendStallMs: 1000 });
  const ws = new WebSocket(hub.url, { perMessageDeflate: false });
  // Listening from the start: the challenge may arrive in the same read as the upgrade answer.
  const challenged = new Promise<Buffer>((resolve) => ws.once('message', resolve)).then((data) => decodeRaw(data));
  try {
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    // The hub's first frame is a `challenge`; admin_hello answers it with a proof of the token.
    const challenge = (await challenged) as { nonce: string };
    const welcome = new Promise((resolve) => ws.once('message', resolve));
    ws.send(encodeFrame(frame('admin_hello', { proof: prove(hub.adminToken, proofMessage('admin', '', challenge.nonce)) })));
    await welcome;
    const base = await hub.measure();
    ws.pause(); // from here on, the client reads nothing
    const cancel = encodeFrame(frame('cancel', { re: 'nothing-running' }));
    for (let i = 0; i < FRAMES; i++) ws.send(i % 10 === 9 ? cancel : BAD);
    hub.child.send({ type: 'count', frames: FRAMES + 1 });
    let outcome: { type: string; detail?: unknown } | undefined;
    void Promise.race([hub.next((m) => m.type === 'close'), hub.next((m) => m.type === 'counted')]).then((m) => (outcome = m));
    let peak = 0;
    while (!outcome) peak = Math.max(peak, (await hub.measure()) - base);
    peak = Math.max(peak, (await hub.measure()) - base);
    console.log(`hub memory after GC, peak over the baseline while the peer did not read: ${(peak / MIB).toFixed(1)} MiB (${outcome.type})`);
    assert.is(outcome.type, 'close', 'the hub read every frame and queued every answer');
    assert.match(String(outcome.detail), new RegExp(`^${CloseCode.SendOverflow}\\b`));
    assert.ok(peak < 48 * MIB, `hub memory grew by ${(peak / MIB).toFixed(1)} MiB`);
  } finally {
    ws.terminate();
    await hub.stop();
  }
});

test.run();
