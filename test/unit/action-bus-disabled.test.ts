import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { ActionBus } from '../../src/hub/actions/action-bus.ts';
import { silentLogger } from '../../src/logger.ts';
import { frame } from '../../src/protocol/frames.ts';
import type { WorkerSession } from '../../src/hub/worker-session.ts';

/** The little of a session the bus reads. */
function fakeSession(workerId: string, disabled: () => boolean): WorkerSession {
  return { info: { workerId }, isDisabled: disabled } as unknown as WorkerSession;
}

test('a disabled worker is left out of the subscribers of a new step, and back once enabled', () => {
  const bus = new ActionBus(new SimulatedClock(), silentLogger(), 10_000);
  let disabled = false;
  const subscribe = (id: string, session: WorkerSession) =>
    bus.workerFrame(session, frame('subscribe', { subscriberId: id, actions: [{ action: 'collect', waitForCompletion: true, timeoutMs: 1000 }], tasks: [], taskCapacity: 1 }));
  subscribe('a', fakeSession('a', () => disabled));
  subscribe('b', fakeSession('b', () => false));
  assert.equal(bus.subscribersOf('collect').map((t) => t.workerId), ['a', 'b']);
  disabled = true;
  assert.equal(bus.subscribersOf('collect').map((t) => t.workerId), ['b']);
  disabled = false;
  assert.equal(bus.subscribersOf('collect').map((t) => t.workerId), ['a', 'b']);
});

test.run();
