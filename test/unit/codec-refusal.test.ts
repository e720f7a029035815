import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.ts';
import { createMemoryPair } from '../../src/transport/memory.ts';
import { systemClock } from '../../src/clock.ts';
import { Registry } from '../../src/hub/registry.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { FrameError } from '../../src/errors.ts';
import type { Frame } from '../../src/protocol/frames.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/version.ts';

test('an invalid request is refused with its own id as `re`, so the sender can match the refusal', () => {
  const bytes = encodeFrame({ v: PROTOCOL_VERSION, t: 'run', id: 'r7', target: {}, job: { kind: 'exec' } } as unknown as Frame);
  try {
    decodeFrame(bytes);
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, FrameError);
    assert.is((error as FrameError).data?.re, 'r7');
  }
});

test('the channel answers a bad request with an error frame carrying `re`', async () => {
  const [a, b] = createMemoryPair();
  const answers: Frame[] = [];
  a.frames$.subscribe((f) => answers.push(f));
  await a.send({ v: PROTOCOL_VERSION, t: 'run', id: 'r9', target: {}, job: { kind: 'exec' } } as unknown as Frame);
  for (let i = 0; i < 10 && answers.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.is(answers[0]?.t, 'error');
  assert.is((answers[0] as Extract<Frame, { t: 'error' }>).re, 'r9');
  b.close();
});

test('the pre-shared key cannot take over a worker registered with a token', async () => {
  const registry = new Registry(openSqliteStore(':memory:'), systemClock);
  const { passkey } = await registry.createProject('default');
  await registry.register({ passkey, id: 'real' });
  await registry.pskWorker('real', 'default').then(() => assert.unreachable('expected a refusal'), (error: Error) => assert.match(error.message, /registered with a token/));
  const created = await registry.pskWorker('fresh', 'default');
  assert.is(created.id, 'fresh');
  assert.is((await registry.pskWorker('fresh', 'default')).id, 'fresh', 'a PSK worker reconnects');
});

test('a frame over the limit is refused by the sender, and the connection stays usable', async () => {
  const [a, b] = createMemoryPair();
  const received: Frame[] = [];
  b.frames$.subscribe((f) => received.push(f));
  const huge = { v: PROTOCOL_VERSION, t: 'run', id: 'big', target: {}, job: { kind: 'exec', cmd: 'x'.repeat(2 * 1024 * 1024) } } as unknown as Frame;
  try {
    await a.send(huge);
    assert.unreachable('should have been refused');
  } catch (error) {
    assert.is((error as { code?: string }).code, 'FRAME_TOO_LARGE');
  }
  assert.ok(a.isOpen());
  await a.send({ v: PROTOCOL_VERSION, t: 'cancel', re: 'small' } as Frame);
  for (let i = 0; i < 10 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.is(received[0]?.t, 'cancel');
  a.close();
});

test.run();
