/**
 * The client's silence watchdog (src/transport/ws-client.ts): every message notes when it came, and the
 * one timer re-arms itself for the silence left (issue 9): a hub that sends frames keeps the connection,
 * one that falls silent loses it.
 */
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeFrame } from '../../src/protocol/codec.ts';
import { frame } from '../../src/protocol/frames.ts';
import { connectWs } from '../../src/transport/ws-client.ts';

async function server(): Promise<{ wss: WebSocketServer; url: string; sockets: WebSocket[] }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  const sockets: WebSocket[] = [];
  wss.on('connection', (ws) => sockets.push(ws));
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, sockets };
}

test('frames keep re-arming the watchdog, and silence after them drops the connection', async () => {
  const { wss, url, sockets } = await server();
  const transport = await connectWs(url, { silenceTimeoutMs: 2000 });
  const seen: string[] = [];
  transport.frames$.subscribe((f) => seen.push(f.t));
  while (sockets.length === 0) await new Promise((resolve) => setImmediate(resolve));
  // Each frame is sent once the previous one arrived, so each one re-arms the same timer.
  for (let i = 0; i < 20; i++) {
    const before = seen.length;
    sockets[0]!.send(encodeFrame(frame('enable', {})));
    while (seen.length === before && transport.isOpen()) await new Promise((resolve) => setImmediate(resolve));
  }
  assert.is(seen.length, 20);
  const closed = await transport.closed;
  assert.is(closed.code, 1006);
  assert.not.ok(closed.local);
  await new Promise((resolve) => wss.close(resolve));
});

test('setSilenceTimeout(0) turns the watchdog off and a new value arms it again', async () => {
  const { wss, url } = await server();
  const transport = await connectWs(url, { silenceTimeoutMs: 100 });
  transport.setSilenceTimeout(0);
  transport.setSilenceTimeout(50);
  const closed = await transport.closed;
  assert.is(closed.code, 1006);
  await new Promise((resolve) => wss.close(resolve));
});

test.run();
