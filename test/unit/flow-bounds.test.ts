/**
 * The accounting behind issue 11's bounds, without sockets: an exec's output window at the hub
 * (output-flow.ts) and the send queues of a listener's connections (send-gate.ts). The real-socket
 * tests are integration/exec-flow-control and integration/send-queue-bound.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OutputFlow } from '../../src/hub/output-flow.ts';
import { SendBudget, SendGate } from '../../src/transport/send-gate.ts';

test('the hub never has more than the window in flight when the consumer stops taking', () => {
  const grants: number[] = [];
  const flow = new OutputFlow(1000, (bytes) => grants.push(bytes));
  assert.is(flow.initial(), 1000);
  flow.received(600);
  flow.received(400);
  assert.equal(grants, [], 'nothing taken: no more credit');
  // The worker has no credit left: even a small step goes out at once.
  flow.taken(100);
  assert.equal(grants, [100]);
  // It has some (100 < a quarter): the freed 200 go out too.
  flow.taken(200);
  assert.equal(grants, [100, 200]);
  flow.received(300);
  flow.taken(50);
  assert.equal(grants, [100, 200, 50]);
  flow.taken(950);
  assert.equal(grants, [100, 200, 50, 950]);
  // 600 still outstanding (at least a quarter): a step under a quarter waits...
  flow.received(400);
  flow.taken(100);
  assert.equal(grants, [100, 200, 50, 950]);
  // ...until a quarter of the window is free.
  flow.taken(200);
  assert.equal(grants, [100, 200, 50, 950, 300]);
});

test('a consumer that grants credit caps what reaches the worker', () => {
  const grants: number[] = [];
  const flow = new OutputFlow(1000, (bytes) => grants.push(bytes), 100);
  assert.is(flow.initial(), 100);
  flow.received(100);
  flow.taken(100);
  assert.equal(grants, [], 'the consumer granted nothing more');
  flow.consumerGranted(50);
  assert.equal(grants, [50]);
  flow.release();
  assert.equal(grants, [50, 2 ** 50]);
  flow.consumerGranted(10);
  assert.is(grants.length, 2, 'nothing after the release');
});

test('a send gate stops reading above its bound, reads again below half, and overflows at four times it', () => {
  const events: string[] = [];
  const gate = new SendGate({ maxQueuedBytes: 100, stallMs: 60_000 }, { congested: (on) => events.push(on ? 'pause' : 'resume'), overflow: (reason) => events.push(`overflow: ${reason}`) });
  gate.add(100);
  assert.equal(events, []);
  gate.add(1);
  assert.equal(events, ['pause']);
  gate.done(51);
  assert.equal(events, ['pause', 'resume']);
  gate.add(300);
  assert.equal(events, ['pause', 'resume', 'pause']);
  gate.add(51);
  assert.is(events.length, 4);
  assert.match(events[3]!, /^overflow: over .* MiB waiting to be sent: the peer does not read$/);
  gate.add(1000);
  assert.is(events.length, 4, 'released: counts nothing more');
});

test('a listener budget closes the connection holding the most', () => {
  const budget = new SendBudget(1000);
  const closed: string[] = [];
  const gate = (name: string) => new SendGate({ maxQueuedBytes: 10_000, budget }, { congested: () => undefined, overflow: () => closed.push(name) });
  const a = gate('a');
  const b = gate('b');
  a.add(300);
  b.add(600);
  assert.equal(closed, []);
  a.add(200);
  assert.equal(closed, ['b']);
  assert.is(budget.total, 500);
  a.done(500);
  assert.is(budget.total, 0);
});

test.run();
