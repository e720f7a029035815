// The first frame of a connection is checked against the asynchronous registry (issue 9): frames that
// arrive meanwhile must reach the session afterwards, all of them and in order (src/hub/held-frames.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { systemClock } from '../../src/clock.ts';
import { Hub } from '../../src/hub/hub.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { proofMessage, prove } from '../../src/protocol/auth-proof.ts';
import { frame, type Frame, type FrameOf } from '../../src/protocol/frames.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { createMemoryPair } from '../../src/transport/memory.ts';
import { flush, until } from './task-harness.ts';

const agent = { version: '0', pid: 1, user: 'test', host: 'box', platform: 'linux' };

async function setup() {
  const store = openSqliteStore(':memory:');
  const registry = new Registry(store, systemClock);
  const { passkey } = await registry.createProject('default');
  const { token } = await registry.register({ passkey, id: 'w1' });
  const hub = new Hub({ heartbeatMs: 1_000_000, helloTimeoutMs: 1_000_000 }, { registry, metrics: new HubMetrics({ processMetrics: false }) });
  const dial = async () => {
    const [hubEnd, workerEnd] = createMemoryPair();
    const frames: Frame[] = [];
    workerEnd.frames$.subscribe((f) => frames.push(f));
    hub.accept(hubEnd);
    await until(() => frames.some((f) => f.t === 'challenge'), 'challenged');
    const { nonce } = frames.find((f) => f.t === 'challenge') as FrameOf<'challenge'>;
    const hello = frame('hello', { id: 'w1', auth: 'token', proof: prove(token, proofMessage('hello', 'w1', nonce)), tags: [], envs: [], caps: [], capacity: 1, agent });
    return { workerEnd, frames, hello };
  };
  return { store, hub, dial };
}

test('frames sent right after hello, before the hub answered it, reach the session in order', async () => {
  const { store, hub, dial } = await setup();
  const { workerEnd, frames, hello } = await dial();
  void workerEnd.send(hello);
  void workerEnd.send(frame('state', { value: 'one' }));
  void workerEnd.send(frame('state', { value: 'two' }));
  await Promise.resolve();
  assert.is(hub.session('w1'), undefined, 'the hello is still being checked');
  await until(() => frames.some((f) => f.t === 'welcome'), 'welcomed');
  await flush();
  assert.is(hub.session('w1')?.info.workerState, 'two', 'both held frames were handled, the last one last');
  void workerEnd.send(frame('state', { value: 'three' }));
  await flush();
  assert.is(hub.session('w1')?.info.workerState, 'three', 'live frames follow');
  workerEnd.close();
  await flush();
  await store.close();
});

test('a connection gone while its hello is checked gets no session and replaces nobody', async () => {
  const { store, hub, dial } = await setup();
  const first = await dial();
  void first.workerEnd.send(first.hello);
  await until(() => first.frames.some((f) => f.t === 'welcome'), 'welcomed');
  const session = hub.session('w1');
  assert.ok(session);
  const second = await dial();
  void second.workerEnd.send(second.hello);
  second.workerEnd.close();
  await flush(10);
  assert.is(hub.session('w1'), session, 'the first connection stays');
  assert.not.ok(session.isClosed());
  first.workerEnd.close();
  await flush();
  await store.close();
});

test.run();
