/**
 * The mask keys a client's frames carry (src/transport/ws-client.ts, protocol.md "Transport", issue 13):
 * an all-zero key to a loopback hub (ws then sends the payload without copying it), a random key when told
 * `mask: 'random'`, and the rule for other addresses. The frames are read off the wire by a bare HTTP
 * server that answers the upgrade itself, so what is checked is the bytes, not what ws reports.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.ts';
import { frame } from '../../src/protocol/frames.ts';
import { connectWs, zeroMaskAllowed } from '../../src/transport/ws-client.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The first frame a client sends: its mask bit, mask key and unmasked payload. */
interface WireFrame {
  masked: boolean;
  key: Buffer;
  payload: Buffer;
}

/** A server that accepts one websocket upgrade and resolves with the first frame the client sends. */
async function wireServer(): Promise<{ url: string; first: Promise<WireFrame>; close(): Promise<void> }> {
  const server = http.createServer();
  const sockets: Duplex[] = [];
  const first = new Promise<WireFrame>((resolve, reject) => {
    server.on('upgrade', (req, socket) => {
      sockets.push(socket);
      const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}${GUID}`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      let bytes = Buffer.alloc(0);
      socket.on('data', (data: Buffer) => {
        bytes = Buffer.concat([bytes, data]);
        if (bytes.length < 2) return;
        const masked = (bytes[1]! & 0x80) !== 0;
        let length = bytes[1]! & 0x7f;
        let offset = 2;
        if (length === 126) {
          length = bytes.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          length = Number(bytes.readBigUInt64BE(2));
          offset = 10;
        }
        const key = masked ? bytes.subarray(offset, offset + 4) : Buffer.alloc(4);
        const start = offset + (masked ? 4 : 0);
        if (bytes.length < start + length) return;
        const payload = Buffer.from(bytes.subarray(start, start + length));
        for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!;
        resolve({ masked, key: Buffer.from(key), payload });
      });
      socket.on('error', reject);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    first,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends one chunk frame (large enough for ws's 64-bit length) and reads it off the wire. */
async function sendOne(mask?: 'auto' | 'random'): Promise<{ wire: WireFrame; sent: Uint8Array }> {
  const server = await wireServer();
  const transport = await connectWs(server.url, { silenceTimeoutMs: 0, ...(mask === undefined ? {} : { mask }) });
  const data = Buffer.alloc(70_000, 0x5a);
  const sent = encodeFrame(frame('chunk', { re: 'j1', seq: 0, data }));
  void transport.send(frame('chunk', { re: 'j1', seq: 0, data })).catch(() => undefined);
  const wire = await server.first;
  // The bare server never answers a close: dropping its socket ends the client's connection.
  await server.close();
  await transport.closed;
  return { wire, sent };
}

test('a client sends to a loopback hub with the mask bit set and an all-zero key', async () => {
  const { wire, sent } = await sendOne();
  assert.ok(wire.masked, 'RFC 6455: client frames carry the mask bit');
  assert.equal([...wire.key], [0, 0, 0, 0]);
  assert.equal(wire.payload, Buffer.from(sent));
  const decoded = decodeFrame(wire.payload);
  assert.is(decoded.t, 'chunk');
});

test("mask: 'random' sends random keys even to a loopback hub", async () => {
  const { wire, sent } = await sendOne('random');
  assert.ok(wire.masked);
  // A random key is all zero once in 2^32 frames.
  assert.not.equal([...wire.key], [0, 0, 0, 0]);
  assert.equal(wire.payload, Buffer.from(sent));
});

test('zero keys only to a loopback address, never over TLS to another host (a TLS-inspecting proxy reads it)', () => {
  for (const url of ['ws://127.0.0.1/', 'ws://127.1.2.3/', 'ws://localhost/', 'ws://[::1]/', 'wss://127.0.0.1/']) {
    assert.ok(zeroMaskAllowed(url), url);
  }
  for (const url of ['wss://hub.example/', 'wss://10.0.0.5/', 'ws://10.0.0.5/', 'ws://hub.example/', 'ws://127.0.0.1.example/', 'ws://0.0.0.0/', 'not a url']) {
    assert.not.ok(zeroMaskAllowed(url), url);
  }
});

test.run();
