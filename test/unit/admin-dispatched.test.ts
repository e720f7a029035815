/**
 * The `dispatched` of an exec run with `started: false` (what `cla-hub exec` sends) waits for the run's
 * next frame, or DISPATCHED_WAIT_MS (issue 13, branch exec11): the job's start costs the hub no write and
 * the client no wake beside the command. A real AdminSession on an in-memory transport pair, its run
 * driven by a Subject, on xstate's SimulatedClock.
 */
import { Subject } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { AdminSession, DISPATCHED_WAIT_MS } from '../../src/hub/admin-session.ts';
import type { JobEvent } from '../../src/hub/job-events.ts';
import { MethodTable } from '../../src/hub/methods/method-table.ts';
import { silentLogger } from '../../src/logger.ts';
import { frame, type Frame } from '../../src/protocol/frames.ts';
import { createMemoryPair } from '../../src/transport/memory.ts';

/** A session whose runs are `runs[n]` in turn; what its client received so far, as `t` names. */
function session() {
  const [hubEnd, clientEnd] = createMemoryPair();
  const clock = new SimulatedClock();
  const runs: Array<Subject<JobEvent>> = [];
  new AdminSession(hubEnd, {
    run: () => {
      const events = new Subject<JobEvent>();
      runs.push(events);
      return events;
    },
    methods: new MethodTable(),
    log: silentLogger(),
    clock,
  });
  const received: Frame[] = [];
  clientEnd.frames$.subscribe((f) => received.push(f));
  const settled = () => new Promise((resolve) => setImmediate(resolve));
  const names = () => received.map((f) => ('re' in f ? `${f.re} ${f.t}` : f.t));
  return { clientEnd, clock, runs, settled, names, close: () => clientEnd.close(1000, 'test done') };
}

const execRun = (id: string, started?: false) =>
  frame('run', { id, target: { worker: 'w1' }, job: { kind: 'exec', cmd: ['true'] }, ...(started === false ? { started } : {}) });
const dispatched: JobEvent = { type: 'dispatched', worker: 'w1', job: 'j1' };
const exit: JobEvent = { type: 'exit', code: 0, signal: null, timedOut: false, cancelled: false, durationMs: 1 };

test('an exec run with started: false: dispatched leaves just before the run\'s next frame, in order', async () => {
  const s = session();
  try {
    s.clientEnd.post(execRun('r1', false));
    await s.settled();
    s.runs[0]!.next(dispatched);
    await s.settled();
    assert.equal(s.names(), [], 'dispatched is held while nothing else is written');
    s.runs[0]!.next({ type: 'output', stream: 'stdout', seq: 0, data: new Uint8Array([104, 105]) });
    s.runs[0]!.next(exit);
    s.runs[0]!.complete();
    await s.settled();
    assert.equal(s.names(), ['r1 dispatched', 'r1 output', 'r1 exit']);
  } finally {
    s.close();
  }
});

test(`... or DISPATCHED_WAIT_MS (${DISPATCHED_WAIT_MS} ms) after, when the command is still running; an error still follows it`, async () => {
  const s = session();
  try {
    s.clientEnd.post(execRun('r1', false));
    await s.settled();
    s.runs[0]!.next(dispatched);
    s.clock.increment(DISPATCHED_WAIT_MS - 1);
    await s.settled();
    assert.equal(s.names(), []);
    s.clock.increment(1);
    await s.settled();
    assert.equal(s.names(), ['r1 dispatched']);
    s.runs[0]!.error(new Error('lost'));
    await s.settled();
    assert.equal(s.names(), ['r1 dispatched', 'r1 error']);
    // A held one goes before the run's error too.
    s.clientEnd.post(execRun('r2', false));
    await s.settled();
    s.runs[1]!.next({ ...dispatched, job: 'j2' });
    s.runs[1]!.error(new Error('lost'));
    await s.settled();
    assert.equal(s.names().slice(2), ['r2 dispatched', 'r2 error']);
  } finally {
    s.close();
  }
});

test('a run that wants started gets dispatched at once, as before', async () => {
  const s = session();
  try {
    s.clientEnd.post(execRun('r1'));
    await s.settled();
    s.runs[0]!.next(dispatched);
    await s.settled();
    assert.equal(s.names(), ['r1 dispatched']);
  } finally {
    s.close();
  }
});

test.run();
