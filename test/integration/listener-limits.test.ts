/**
 * Issue 11, case 4: 300 connections that send half an HTTP upgrade request and nothing more stayed open
 * 95 s. Real TCP sockets against a real hub: each one's `close` is awaited (the guard below only keeps a
 * broken build from hanging the suite; nothing asserts how fast it went).
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AGENT, rawWorker, registerWorker, startHub } from './hub-harness.ts';

const HALF_UPGRADE = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';

/** Opens a TCP connection, sends half a request head; resolves once connected, with a promise of its close. */
function halfRequest(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      socket.write(HALF_UPGRADE);
      resolve({ socket, closed });
    });
    socket.once('error', reject);
  });
}

/** Resolves true when every promise settled before `guardMs`; false otherwise (the test then fails). */
async function allWithin(promises: Promise<unknown>[], guardMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), guardMs)));
  const result = await Promise.race([Promise.all(promises).then(() => true), guard]);
  clearTimeout(timer);
  return result;
}

test('connections that never finish their request head are closed after the headers timeout', async () => {
  const h = await startHub({ headersTimeoutMs: 300, maxPendingPerAddress: 1000 });
  const port = new URL(h.url).port;
  const opened: Array<{ socket: net.Socket; closed: Promise<void> }> = [];
  try {
    for (let i = 0; i < 300; i++) opened.push(await halfRequest(Number(port)));
    // Node alone closes them after 60-90 s; the guard is far below that and far above the timeout.
    const closedAll = await allWithin(opened.map((o) => o.closed), 20_000);
    assert.ok(closedAll, `${opened.filter((o) => !o.socket.destroyed).length} of 300 half-open connections still open`);
    // A real worker still gets in.
    const { transport, first } = await rawWorker(h, 'w1', await registerWorker(h, 'w1'), AGENT);
    assert.is(first.t, 'welcome');
    transport.close(1000, 'done');
  } finally {
    for (const o of opened) o.socket.destroy();
    await h.close();
  }
});

test('one address gets a bounded number of connections still in their request head', async () => {
  // A headers timeout far away: only the bound may close anything here.
  const h = await startHub({ maxPendingPerAddress: 20, headersTimeoutMs: 600_000 });
  const port = Number(new URL(h.url).port);
  const opened: Array<{ socket: net.Socket; closed: Promise<void> }> = [];
  try {
    for (let i = 0; i < 25; i++) opened.push(await halfRequest(port));
    // The 5 over the bound are closed by the hub at once.
    assert.ok(await allWithin(opened.slice(20).map((o) => o.closed), 20_000), 'the connections over the bound stayed open');
    assert.is(opened.slice(0, 20).filter((o) => o.socket.destroyed).length, 0);
  } finally {
    for (const o of opened) o.socket.destroy();
    await h.close();
  }
});

test('one address gets a bounded number of open connections, upgraded ones included', async () => {
  const h = await startHub({ maxConnectionsPerAddress: 10 });
  try {
    const workers = [];
    for (let i = 0; i < 10; i++) workers.push(await rawWorker(h, `w${i}`, await registerWorker(h, `w${i}`), AGENT));
    assert.ok(workers.every((w) => w.first.t === 'welcome'));
    const over = await rawWorker(h, 'w10', await registerWorker(h, 'w10'), AGENT).then(() => 'accepted', (error: Error) => error.message);
    assert.match(over, /Cannot connect to the hub/);
    for (const w of workers) w.transport.terminate();
  } finally {
    await h.close();
  }
});

test.run();
