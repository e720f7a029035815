/**
 * The event stream's pacing with a simulated clock: the list at once, a burst of changes folded into at
 * most one event per 200 ms (the latest list), a keepalive comment every 15 s, and nothing after close.
 */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { KEEPALIVE_MS, streamEvents } from '../../src/hub/admin-http-events.ts';
import { Hub } from '../../src/hub/hub.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { silentLogger } from '../../src/logger.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';

/** Just enough of a ServerResponse: records what is written. */
class FakeResponse extends EventEmitter {
  status = 0;
  chunks: string[] = [];
  ended = false;
  writeHead(status: number): this {
    this.status = status;
    return this;
  }
  write(chunk: string): boolean {
    if (this.ended) throw new Error('write after end');
    this.chunks.push(chunk);
    return true;
  }
  end(): this {
    this.ended = true;
    return this;
  }
  events(): string[] {
    return this.chunks.filter((c) => c.startsWith('event: workers'));
  }
}

function setup() {
  const store = openSqliteStore(':memory:');
  const clock = new SimulatedClock();
  clock.set(1_000_000);
  const registry = new Registry(store, clock);
  const hub = new Hub({}, { registry, clock, metrics: new HubMetrics({ processMetrics: false }) });
  const res = new FakeResponse();
  const end = streamEvents(res as unknown as ServerResponse, { changes$: hub.changes$, listWorkers: (project) => hub.management.listWorkers(project) }, undefined, clock, silentLogger());
  return { store, clock, registry, hub, res, end };
}

const test = suite('admin-events');

/** Lets the store's group commit (a `setImmediate`) and the list it answers reach the response. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

test('the list at once, then at most one event per 200 ms carrying the latest list', async () => {
  const { store, clock, registry, hub, res, end } = setup();
  await settle();
  assert.is(res.status, 200);
  assert.equal(res.events(), ['event: workers\ndata: []\n\n']);

  // Right after an event, changes wait for the 200 ms gap and are folded into one.
  for (let i = 0; i < 10; i++) hub.notifyChange({ type: 'state', worker: 'x' });
  assert.is(res.events().length, 1);
  const { passkey } = await registry.createProject('P');
  await registry.register({ passkey, id: 'late' });
  clock.increment(199);
  assert.is(res.events().length, 1);
  clock.increment(1);
  await settle();
  assert.is(res.events().length, 2);
  assert.match(res.events()[1]!, /"id":"late"/, 'the folded event has the latest list');

  // Quiet for a while: the next change goes out at once.
  clock.increment(5_000);
  hub.notifyChange({ type: 'disabled', worker: 'late' });
  await settle();
  assert.is(res.events().length, 3);
  end();
  await store.close();
});

test('a keepalive comment every 15 s; nothing is written after the client leaves', () => {
  const { store, clock, hub, res } = setup();
  clock.increment(KEEPALIVE_MS);
  clock.increment(KEEPALIVE_MS);
  assert.is(res.chunks.filter((c) => c === ': keepalive\n\n').length, 2);
  res.emit('close');
  assert.ok(res.ended);
  hub.notifyChange({ type: 'state', worker: 'x' });
  clock.increment(KEEPALIVE_MS * 3);
  assert.is(res.chunks.filter((c) => c === ': keepalive\n\n').length, 2);
  store.close();
});

test.run();
