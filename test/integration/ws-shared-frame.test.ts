/**
 * A broadcast frame (`postEncoded` of `encodeOnce()` bytes) leaves the hub's listener as one websocket
 * frame made once for every connection (src/transport/ws-server.ts `sendShared`, issue 9), written
 * beside ws's own frames. A real ws client must read every size of it (7-, 16- and 64-bit lengths), in
 * the order the frames were sent, mixed with frames ws framed itself. Likewise the other way: a worker's
 * small frames to a loopback hub, framed by src/transport/ws-client.ts in one buffer with a zero key.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeOnce } from '../../src/protocol/codec.ts';
import { frame, type Frame } from '../../src/protocol/frames.ts';
import { connectWs } from '../../src/transport/ws-client.ts';
import { binaryFrame } from '../../src/transport/ws-frame.ts';
import { serverFrame, startWsServer } from '../../src/transport/ws-server.ts';
import type { Transport } from '../../src/transport/transport.ts';

/**
 * Collects the frames `transport` receives; `receivedAll(n)` resolves once n arrived and rejects if the
 * connection closes first (a frame the other end cannot read closes it with 1002: the test fails instead
 * of waiting).
 */
function collect(transport: Transport, side: string): { received: Frame[]; receivedAll(n: number): Promise<void> } {
  const received: Frame[] = [];
  let waiting: { n: number; resolve: () => void; reject: (error: Error) => void } | undefined;
  transport.setReceiver({
    receiveFrame: (f) => {
      received.push(f);
      if (waiting && received.length >= waiting.n) waiting.resolve();
    },
    transportClosed: (info) => waiting?.reject(new Error(`${side} closed (${info.code} ${info.reason}) after ${received.length} frame(s)`)),
  });
  const receivedAll = (n: number) => (received.length >= n ? Promise.resolve() : new Promise<void>((resolve, reject) => (waiting = { n, resolve, reject })));
  return { received, receivedAll };
}

/** A listener on port 0 with one connected client; `server` is the hub's end of the connection. */
async function connected(): Promise<{ server: Transport; client: Transport; received: Frame[]; receivedAll(n: number): Promise<void>; close(): Promise<void> }> {
  let accept!: (transport: Transport) => void;
  const accepted = new Promise<Transport>((resolve) => (accept = resolve));
  const listener = await startWsServer({ port: 0, onConnection: (transport) => accept(transport) });
  const client = await connectWs(listener.url, { silenceTimeoutMs: 0 });
  const { received, receivedAll } = collect(client, "the client's connection");
  const server = await accepted;
  return { server, client, received, receivedAll, close: () => listener.close() };
}

/** An `action` frame whose encoding is about `bytes` long. */
const action = (id: string, bytes: number): Frame => frame('action', { id, action: 'bench', run: 'r1', step: 's', data: { pad: 'x'.repeat(bytes) } });

test('a shared frame of each length encoding reaches a ws client, in order with frames ws framed itself', async () => {
  const { server, client, received, receivedAll, close } = await connected();
  try {
    const frames = [action('a1', 10), action('a2', 200), action('a3', 70_000)];
    const encoded = frames.map((f) => encodeOnce(f));
    server.postEncoded(encoded[0]!);
    server.post(frame('abort', { re: 'a1', reason: 'between two shared frames' }));
    server.postEncoded(encoded[1]!);
    server.postEncoded(encoded[2]!);
    server.postEncoded(encoded[0]!); // the same bytes again: the frame made once serves again
    await receivedAll(5);
    assert.equal(received, [frames[0], frame('abort', { re: 'a1', reason: 'between two shared frames' }), frames[1], frames[2], frames[0]]);
  } finally {
    client.close();
    await close();
  }
});

test("a worker's frames to a loopback hub, framed in one buffer up to 16 KiB and by ws above, reach the hub's ws in order", async () => {
  const { server, client, received: answers, receivedAll: answered, close } = await connected();
  const { received, receivedAll } = collect(server, "the hub's end");
  try {
    // 7- and 16-bit lengths framed here, the 16 KiB edge on both sides, and a 64-bit one framed by ws.
    const frames = [10, 200, 16 * 1024 - 80, 16 * 1024 - 40, 70_000, 10].map((bytes, i) => action(`c${i}`, bytes));
    const sizes = frames.map((f) => encodeOnce(f).bytes.length);
    assert.ok(sizes[2]! <= 16 * 1024 && sizes[3]! > 16 * 1024, `the frames straddle the 16 KiB edge (${sizes.join(', ')})`);
    for (const f of frames) client.post(f);
    // A frame the hub cannot decode (a wrong key scrambles it) is answered with an `error` frame.
    const refused = answered(1).then(() => Promise.reject(new Error(`the hub answered ${JSON.stringify(answers[0])}`)));
    await Promise.race([receivedAll(frames.length), refused]);
    assert.equal(received, frames);
  } finally {
    client.close();
    await close();
  }
});

test('a frame made here: unmasked from the hub, with an all-zero key from a worker', () => {
  const bytes = encodeOnce(action('a1', 300)).bytes;
  const masked = binaryFrame(bytes, true);
  assert.is(masked[0], 0x82);
  assert.is(masked[1], 0x80 | 126);
  assert.is(masked.readUInt16BE(2), bytes.length);
  assert.is(masked.readUInt32BE(4), 0);
  assert.equal(masked.subarray(8), Buffer.from(bytes));
  const plain = binaryFrame(bytes, false);
  assert.is(plain[1], 126);
  assert.equal(plain.subarray(4), Buffer.from(bytes));
});

test('the websocket frame of shared bytes is made once per bytes object', () => {
  const { bytes } = encodeOnce(action('a1', 10));
  const first = serverFrame(bytes);
  assert.ok(serverFrame(bytes) === first);
  assert.is(first[0], 0x82);
  assert.is(first[1], bytes.length);
  assert.equal(first.subarray(2), Buffer.from(bytes));
});

test.run();
