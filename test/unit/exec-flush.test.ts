/**
 * The hub writes a job's frame to its worker at once (issue 13): `WorkerSession.assign` flushes the
 * channel, so the frame does not wait for the rest of the turn (the session's step, the caller's
 * `dispatched`, the start record) and the next tick's uncork. Frames sent after it in the same turn are
 * corked as before.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFrame } from '../../src/protocol/codec.ts';
import { frame } from '../../src/protocol/frames.ts';
import { FrameChannel, type ByteSocket } from '../../src/transport/frame-channel.ts';
import { WorkerSession, type SessionOwner } from '../../src/hub/worker-session.ts';
import { noSink } from './session-fakes.ts';
import { silentLogger } from '../../src/logger.ts';

/** A socket that records, in order, cork/uncork and the type of each frame handed to it. */
class RecordingSocket implements ByteSocket {
  readonly log: string[] = [];
  send(bytes: Uint8Array, done: (error?: Error) => void): void {
    this.log.push(`send ${decodeFrame(bytes).t}`);
    queueMicrotask(() => done());
  }
  cork(): void {
    this.log.push('cork');
  }
  uncork(): void {
    this.log.push('uncork');
  }
  close(): void {}
  terminate(): void {}
  bufferedAmount(): number {
    return 0;
  }
}

test("assign writes the job's frame before it returns; later frames of the turn wait for the tick", async () => {
  const socket = new RecordingSocket();
  const channel = new FrameChannel(socket, { id: 'w', remote: 'test' });
  const steps: string[] = [];
  const owner: SessionOwner = { otherFrame: () => false, changed: (s) => steps.push(JSON.stringify(s.state())), closed: () => undefined };
  const info = { workerId: 'w1', tags: [], envs: [], caps: ['exec'], projects: ['p'], capacity: 1, agent: { version: '1', pid: 1, user: 'u', host: 'h', platform: 'p' }, connectedAt: 0, disabled: false };
  const session = new WorkerSession(channel, info, owner, silentLogger());
  session.assign('j1', { kind: 'exec', cmd: ['true'] }, noSink);
  assert.equal(socket.log, ['cork', 'send exec', 'uncork'], 'written within assign');
  assert.not.ok(session.hasFreeSlot(), 'the session is busy once assign returns');
  assert.equal(steps.at(-1), JSON.stringify({ active: 'busy' }));
  session.sendQuietly(frame('enable', {}));
  assert.equal(socket.log.slice(3), ['cork', 'send enable'], 'the next frame of the turn is corked');
  await new Promise<void>((resolve) => process.nextTick(resolve));
  assert.equal(socket.log.slice(5), ['uncork']);
});

test.run();
