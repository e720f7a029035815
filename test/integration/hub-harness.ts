/**
 * An in-process hub on real sockets for the hardening tests (issue 11): a SQLite file in the test's own
 * temp dir, the worker websocket on 127.0.0.1 port 0, one registered worker id, and raw connections that
 * speak frames directly (so a test can play a hostile or broken peer exactly).
 */
import { firstValueFrom, filter } from 'rxjs';
import path from 'node:path';
import { systemClock } from '../../src/clock.ts';
import { Hub, type HubOptions } from '../../src/hub/hub.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { frame, type AgentInfo, type Frame, type FrameOf, type FrameType } from '../../src/protocol/frames.ts';
import { proofMessage, prove } from '../../src/protocol/auth-proof.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.ts';
import { connectWs } from '../../src/transport/ws-client.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { tempDir } from '../unit/test-helpers.ts';

export interface HubHarness {
  hub: Hub;
  registry: Registry;
  store: SqliteStore;
  url: string;
  adminToken: string;
  close(): Promise<void>;
}

/** Starts a hub (port 0) with a fresh store in a temp dir. */
export async function startHub(options: HubOptions = {}): Promise<HubHarness> {
  const temp = tempDir('cla-hub-harness-');
  const store = openSqliteStore(path.join(temp.dir, 'hub.sqlite'));
  const registry = new Registry(store, systemClock);
  const adminToken = (await registry.ensureAdminToken()).token!;
  await registry.createProject('default');
  const hub = new Hub({ host: '127.0.0.1', port: 0, ...options }, { registry, metrics: new HubMetrics({ processMetrics: false }) });
  const url = await hub.start();
  return {
    hub,
    registry,
    store,
    url,
    adminToken,
    close: async () => {
      await hub.stop();
      await store.close();
      temp.cleanup();
    },
  };
}

/** Registers worker `id` in the default project and returns its token. */
export async function registerWorker(h: HubHarness, id: string): Promise<string> {
  return (await h.registry.register({ passkey: (await h.registry.passkey('default'))!, id })).token;
}

export const AGENT: AgentInfo = { version: 'test', pid: 1, user: 'tester', host: 'localhost', platform: 'linux' };

/** A raw connection that has said `hello` as worker `id` and received `welcome` (or the refusal). */
export async function rawWorker(h: HubHarness, id: string, token: string, agent: AgentInfo = AGENT): Promise<{ transport: Transport; first: Frame }> {
  const transport = await connectWs(h.url, { silenceTimeoutMs: 0 });
  // Every connection starts with the hub's `challenge`; the hello proves the token for its nonce.
  const challenge = await nextFrame(transport, 'challenge');
  const first = firstValueFrom(transport.frames$);
  const proof = prove(token, proofMessage('hello', id, challenge.nonce));
  await transport.send(frame('hello', { id, auth: 'token', proof, tags: [], envs: [], caps: ['exec', 'eval', 'ship', 'fetch', 'probe'], capacity: 1, agent }));
  return { transport, first: await first };
}

/** The next frame of type `t` on `transport`. */
export function nextFrame<T extends FrameType>(transport: Transport, t: T): Promise<FrameOf<T>> {
  return firstValueFrom(transport.frames$.pipe(filter((f): f is FrameOf<T> => f.t === t)));
}
