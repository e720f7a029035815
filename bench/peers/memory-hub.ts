/**
 * The server side of the memory measurement (bench/peers/memory.ts), alone in its process so its RSS
 * holds nothing else. Run with --expose-gc: `measure` collects garbage before it reads
 * `process.memoryUsage()`.
 *
 * - `hub`: built as `cla-hub start --psk KEY` builds it (src/cli/hub.ts): SQLite registry, task
 *   dispatcher, action bus and workflows (cron off), PSK admission into the `default` project, default
 *   heartbeat and metrics.
 * - `raw`: the floor: a bare `ws` server (no permessage-deflate, the hub's 15 s ping) that decodes and
 *   validates the `hello` (src/protocol/codec.ts) and answers `welcome`, and keeps nothing else.
 *
 * Usage (by memory.ts): node --expose-gc --import tsx bench/peers/memory-hub.ts hub|raw
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { proofMessage, secretHash, verifyProof } from '../../src/protocol/auth-proof.ts';
import { WebSocketServer, type WebSocket } from 'ws';
import { ActionsExtension } from '../../src/hub/actions/actions-extension.ts';
import { openRegistry } from '../../src/hub/hub-files.ts';
import { Hub } from '../../src/hub/hub.ts';
import { SqliteTaskStore, TaskHub } from '../../src/hub/tasks/index.ts';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.ts';
import { frame } from '../../src/protocol/frames.ts';
import { exitOnSigterm, onParent, tell } from './common.ts';

const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined) throw new Error('memory-hub.ts needs node --expose-gc');
const mode = process.argv[2];
if (mode !== 'hub' && mode !== 'raw') throw new Error('usage: memory-hub.ts hub|raw');

interface Server {
  url: string;
  connected(): number;
  stop(): Promise<void>;
}

async function startHub(psk: string): Promise<Server> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cla-bench-memory-'));
  const dataFile = path.join(dir, 'hub.sqlite');
  // One connection and group commit for every store, as createHub.
  const { registry, store, close } = openRegistry(dataFile);
  await registry.ensureDefaultProject();
  const tasks = new TaskHub({ store: new SqliteTaskStore(store.db, { commit: store.groupCommit }), ownsStore: true });
  const actions = new ActionsExtension({ db: store.db, commit: store.groupCommit, cron: false, tasks });
  // Every idle worker comes from 127.0.0.1: lift the per-address cap (10,000 by default) for the 20,000 run.
  const hub = new Hub({ port: 0, psk, maxConnectionsPerAddress: 1_000_000 }, { registry, extensions: [tasks, actions] });
  const url = await hub.start();
  return {
    url,
    connected: () => hub.connectedWorkers().length,
    stop: async () => {
      await hub.stop();
      await close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startRaw(psk: string): Promise<Server> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: true });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const workers = new Set<WebSocket>();
  let sessions = 0;
  let nonces = 0;
  wss.on('connection', (ws) => {
    const nonce = (++nonces).toString(16).padStart(32, '0');
    ws.send(encodeFrame(frame('challenge', { nonce })));
    ws.once('message', (raw: Buffer) => {
      const hello = decodeFrame(raw);
      if (hello.t !== 'hello' || hello.auth !== 'psk' || verifyProof(hello.proof, secretHash(psk), proofMessage('psk', hello.id, nonce)) === undefined) return ws.close(4001, 'BAD_TOKEN');
      workers.add(ws);
      ws.send(encodeFrame(frame('welcome', { session: `r${++sessions}`, role: 'worker', projects: ['default'], heartbeatMs: 15_000, disabled: false })));
    });
    ws.on('close', () => workers.delete(ws));
    ws.on('error', () => undefined);
  });
  const pinger = setInterval(() => {
    for (const ws of wss.clients) ws.ping();
  }, 15_000);
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    connected: () => workers.size,
    stop: async () => {
      clearInterval(pinger);
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

/** Full collections with turns of the event loop between them, so finalizers and freed sockets settle. */
async function settle(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 4; i++) {
    collect!();
    await sleep(100);
  }
  return process.memoryUsage();
}

const psk = randomBytes(16).toString('base64url');
const server = mode === 'hub' ? await startHub(psk) : await startRaw(psk);
onParent(async (message) => {
  if (message.type === 'measure') tell({ type: 'memory', usage: await settle(), connected: server.connected() });
});
exitOnSigterm(() => server.stop());
tell({ type: 'url', url: server.url, psk });
