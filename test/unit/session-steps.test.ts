/**
 * The hub's session steps on a job's start and end (src/hub/worker-session.ts, issue 13): the machine
 * counts the jobs the session holds, and a step it has taken from a shared snapshot is reused. What the
 * session reports must stay what the machine says for the same events: checked against a real actor of
 * the machine, over enough jobs that most steps are reused ones.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor } from 'xstate';
import { sessionMachine, type SessionEvent } from '../../machines/session.machine.ts';
import { canAcceptJob } from '../../machines/session.helpers.ts';
import { frame } from '../../src/protocol/frames.ts';
import { FrameChannel, type ByteSocket } from '../../src/transport/frame-channel.ts';
import { WorkerSession, type SessionOwner } from '../../src/hub/worker-session.ts';
import { noSink } from './session-fakes.ts';
import { silentLogger } from '../../src/logger.ts';

class NullSocket implements ByteSocket {
  send(_bytes: Uint8Array, done: (error?: Error) => void): void {
    queueMicrotask(() => done());
  }
  cork(): void {}
  uncork(): void {}
  close(): void {}
  terminate(): void {}
  bufferedAmount(): number {
    return 0;
  }
}

function open(capacity: number) {
  const states: string[] = [];
  const owner: SessionOwner = { otherFrame: () => false, changed: (s) => states.push(JSON.stringify(s.state())), closed: () => undefined };
  const info = { workerId: 'w1', tags: [], envs: [], caps: ['exec'], projects: ['p'], capacity, agent: { version: '1', pid: 1, user: 'u', host: 'h', platform: 'p' }, connectedAt: 0, disabled: false };
  const session = new WorkerSession(new FrameChannel(new NullSocket(), { id: 'w', remote: 'test' }), info, owner, silentLogger());
  return { session, states };
}

const exit = (re: string) => frame('exit', { re, code: 0, signal: null, timedOut: false, cancelled: false, durationMs: 1 });

test('a repeated job id is one job: the machine counts each job once', () => {
  const { session } = open(2);
  session.assign('j1', { kind: 'exec', cmd: ['true'] }, noSink);
  session.assign('j1', { kind: 'exec', cmd: ['true'] }, noSink);
  assert.is(session.runningJobs(), 1);
  assert.ok(session.hasFreeSlot(), 'one of two slots taken');
  session.assign('j2', { kind: 'exec', cmd: ['true'] }, noSink);
  assert.not.ok(session.hasFreeSlot());
  session.receiveFrame(exit('j1'));
  session.receiveFrame(exit('j1'));
  assert.is(session.runningJobs(), 1);
  assert.ok(session.hasFreeSlot());
  assert.equal(session.state(), { active: 'idle' });
});

test('sessions report the states a real actor of the machine is in, step after step, reused steps included', () => {
  for (const capacity of [1, 2, 3]) {
    const sessions = [open(capacity), open(capacity)];
    const actor = createActor(sessionMachine, { input: { capacity } }).start();
    let next = 0;
    const held: string[] = [];
    // Fill, drain, fill with a disable/enable in between, many times: the second session and the later
    // rounds take remembered steps.
    const script: Array<'assign' | 'done' | 'DISABLE' | 'ENABLE'> = [];
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < capacity + 1; i++) script.push('assign');
      if (round % 2 === 1) script.push('DISABLE', 'done', 'assign', 'ENABLE');
      for (let i = 0; i < capacity + 2; i++) script.push('done');
    }
    for (const action of script) {
      let event: SessionEvent | undefined;
      if (action === 'assign') {
        const id = `j${next++}`;
        held.push(id);
        for (const { session } of sessions) session.assign(id, { kind: 'exec', cmd: ['true'] }, noSink);
        event = { type: 'JOB_ASSIGNED' };
      } else if (action === 'done') {
        const id = held.shift();
        if (id !== undefined) for (const { session } of sessions) session.receiveFrame(exit(id));
        event = id === undefined ? undefined : { type: 'JOB_DONE' };
      } else {
        for (const { session } of sessions) (action === 'DISABLE' ? session.disable() : session.enable());
        event = { type: action };
      }
      if (event) actor.send(event);
      const truth = actor.getSnapshot();
      for (const { session } of sessions) {
        assert.equal(session.state(), truth.value, `capacity ${capacity}, after ${action}`);
        assert.is(session.hasFreeSlot(), canAcceptJob(truth), `capacity ${capacity}, free slot after ${action}`);
        assert.is(session.runningJobs(), truth.context.running);
      }
    }
    actor.stop();
  }
});

test.run();
