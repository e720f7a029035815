/**
 * The idle workers of the memory measurement (bench/peers/memory.ts): many bare `ws` connections from
 * this one process, each authenticated by a real `hello` frame (src/protocol/codec.ts) with the hub's
 * PSK and its own worker id, then left idle (ws answers the hub's pings by itself). Full agents would
 * cost the client side far more and change nothing on the hub side, which is what is measured.
 *
 * `open` brings the number of welcomed connections up to `total` (100 handshakes in flight at a time);
 * `close` closes them all with 1000 and waits for every close.
 * Usage (by memory.ts): node --import tsx bench/peers/memory-clients.ts URL PSK
 */
import os from 'node:os';
import { proofMessage, prove } from '../../src/protocol/auth-proof.ts';
import { WebSocket } from 'ws';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.ts';
import { frame } from '../../src/protocol/frames.ts';
import { exitOnSigterm, onParent, tell } from './common.ts';

const [url, psk] = process.argv.slice(2);
if (url === undefined || psk === undefined) throw new Error('usage: memory-clients.ts URL PSK');

const IN_FLIGHT = 100;
const sockets: WebSocket[] = [];
const agent = { version: 'bench', pid: process.pid, user: os.userInfo().username, host: os.hostname(), platform: `${process.platform}-${process.arch}` };

function connect(n: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url!, { perMessageDeflate: false });
    const fail = (why: string) => {
      ws.terminate();
      reject(new Error(`connection ${n}: ${why}`));
    };
    const id = `idle-${String(n).padStart(5, '0')}`;
    ws.on('message', (raw: Buffer) => {
      const reply = decodeFrame(raw);
      if (reply.t === 'challenge') {
        ws.send(encodeFrame(frame('hello', { id, auth: 'psk', proof: prove(psk, proofMessage('psk', id, reply.nonce)), tags: [], envs: [], caps: [], capacity: 1, agent })));
        return;
      }
      ws.removeAllListeners('message');
      if (reply.t !== 'welcome') return fail(`hub answered ${JSON.stringify(reply)}`);
      // From here on the connection only idles; a drop shows in the hub's count of connected workers.
      ws.removeAllListeners('error');
      ws.removeAllListeners('close');
      ws.on('error', () => undefined);
      resolve(ws);
    });
    ws.once('error', (error) => fail(error.message));
    ws.once('close', (code, reason) => fail(`closed ${code} ${reason.toString()}`));
  });
}

/** Worker ids are never reused, so each connection also brings its own registry row. */
let nextId = 0;

async function open(total: number): Promise<void> {
  let missing = total - sockets.length;
  const lane = async () => {
    while (missing > 0) {
      missing -= 1;
      sockets.push(await connect(nextId++));
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

async function closeAll(): Promise<void> {
  await Promise.all(
    sockets.splice(0).map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.removeAllListeners('close');
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close(1000, 'benchmark done');
        }),
    ),
  );
}

onParent(async (message) => {
  if (message.type === 'open') {
    const at = performance.now();
    await open(message.total);
    tell({ type: 'opened', total: sockets.length, ms: performance.now() - at });
  } else if (message.type === 'close') {
    const at = performance.now();
    await closeAll();
    tell({ type: 'closed', ms: performance.now() - at });
  }
});
exitOnSigterm(closeAll);
