/**
 * Issue 10: a worker given several hub URLs dials them in turn, moving to the next one after each failed
 * dial or disconnect. Real websockets: a server that accepts and drops every connection, a port where
 * nothing listens, and two real hubs admitting the worker by the same pre-shared key.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { WebSocketServer } from 'ws';
import { WorkerAgent } from '../../src/worker/agent.ts';
import { checkAgentOptions } from '../../src/worker/agent.ts';
import { startHub, type HubHarness } from './hub-harness.ts';

const PSK = 'failover-test-psk';

/** Resolves when `hub` holds a session for `id` (checked now and on each of the hub's changes). */
function connectedTo(h: HubHarness, id: string): Promise<void> {
  return new Promise((resolve) => {
    const subscription = h.hub.changes$.subscribe(() => check());
    const check = () => {
      if (h.hub.session(id) === undefined) return;
      subscription.unsubscribe();
      resolve();
    };
    check();
  });
}

/** A websocket server that accepts every connection and closes it at once (a hub going away). */
async function droppingServer(): Promise<{ url: string; accepted: () => number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  let accepted = 0;
  wss.on('connection', (socket) => {
    accepted += 1;
    socket.close(1012, 'service restart');
  });
  const { port } = wss.address() as net.AddressInfo;
  return { url: `ws://127.0.0.1:${port}`, accepted: () => accepted, close: () => new Promise((resolve) => wss.close(() => resolve())) };
}

/** A URL on which nothing listens (a port bound, then released). */
async function refusedUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `ws://127.0.0.1:${port}`;
}

test('url lists are checked: empty lists and non-ws entries are refused naming the option', () => {
  assert.throws(() => checkAgentOptions({ id: 'w', psk: 'k', url: [] }), /`url`/);
  assert.throws(() => checkAgentOptions({ id: 'w', psk: 'k', url: ['ws://a', 'http://b'] }), /Expected `url` to be a ws:\/\/ or wss:\/\/ URL, got `http:\/\/b`/);
  checkAgentOptions({ id: 'w', psk: 'k', url: ['ws://a', 'wss://b'] });
});

test('a refused dial and a dropped connection move the worker on to the next URL', async () => {
  const dropping = await droppingServer();
  const refused = await refusedUrl();
  const h = await startHub({ psk: PSK });
  const agent = new WorkerAgent({ id: 'w-failover', psk: PSK, url: [refused, dropping.url, h.url], backoffBaseMs: 1, backoffMaxMs: 5 });
  const exit = agent.run();
  try {
    await connectedTo(h, 'w-failover');
    assert.is(dropping.accepted(), 1, 'the second URL was dialled once, between the refused one and the hub');
  } finally {
    agent.stop('test over');
    await exit;
    await h.close();
    await dropping.close();
  }
});

test('a worker whose hub stops moves to the other hub of its list', async () => {
  const a = await startHub({ psk: PSK });
  const b = await startHub({ psk: PSK });
  const agent = new WorkerAgent({ id: 'w-move', psk: PSK, url: [a.url, b.url], backoffBaseMs: 1, backoffMaxMs: 5 });
  const exit = agent.run();
  try {
    await connectedTo(a, 'w-move');
    assert.is(b.hub.session('w-move'), undefined, 'the first URL is dialled first');
    await a.close();
    await connectedTo(b, 'w-move');
  } finally {
    agent.stop('test over');
    await exit;
    await b.close();
  }
});

test.run();
