/**
 * Issue 9: the hub's heap per idle worker connection is at most twice a bare `ws` server's. Both are
 * measured in this test by the same harness as `npm run bench:idle` (bench/peers/memory.ts): each server
 * alone in its own process, 1,000 idle PSK-authenticated worker connections from another process, heap
 * read after forced garbage collection, per connection from the same process's 0-connection baseline.
 * A ratio of two figures taken in one run, so the machine's load does not move it; no time is asserted.
 * Before the session actor and the per-connection rxjs chain went (issue 9), the ratio was about 3.5.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { benchMemory, type ServerMemory } from '../../bench/peers/memory.ts';

const CONNECTIONS = 1000;

/** Heap bytes per connection at {@link CONNECTIONS}, from the baseline. */
function heapPerConnection(server: ServerMemory): number {
  const point = server.points.find((p) => p.connections === CONNECTIONS);
  assert.ok(point, `${server.server}: no reading at ${CONNECTIONS} connections`);
  return (point.usage.heapUsed - server.baseline.heapUsed) / CONNECTIONS;
}

test('hub heap per idle worker connection <= 2x a bare ws server (1,000 connections, forced GC)', async () => {
  const { hub, raw } = await benchMemory([CONNECTIONS]);
  const ours = heapPerConnection(hub);
  const floor = heapPerConnection(raw);
  assert.ok(floor > 0, `the bare ws server's heap grew by ${floor} bytes per connection`);
  const ratio = ours / floor;
  assert.ok(ratio <= 2, `hub ${(ours / 1024).toFixed(2)} KiB per idle connection, bare ws ${(floor / 1024).toFixed(2)} KiB: ${ratio.toFixed(2)}x (at most 2x)`);
  // Closing every connection gives the heap back (nothing kept per worker that ever connected).
  assert.ok(hub.afterClose.heapUsed - hub.baseline.heapUsed < (ours * CONNECTIONS) / 2, 'the hub kept half its per-connection heap after every connection closed');
});

test.run();
