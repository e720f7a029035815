/**
 * A hub in its own process for memory tests (issue 11): run with `node --expose-gc --import tsx`, it
 * starts a hub on 127.0.0.1 port 0 with a fresh store in a temp dir, tells its parent `{type: 'ready',
 * url, adminToken, workerToken}` over IPC, and answers `{type: 'measure'}` with the memory left after
 * forced garbage collection. It also reports every connection close (`{type: 'close', detail}`) and,
 * when asked with `{type: 'count', frames: N}`, the moment it has received N frames in all.
 * Hub options come as JSON in argv[2].
 */
import path from 'node:path';
import { systemClock } from '../../src/clock.ts';
import { Hub } from '../../src/hub/hub.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { tempDir } from '../unit/test-helpers.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc || !process.send) throw new Error('run with --expose-gc, as a child process with IPC');
const send = (message: unknown) => process.send!(message);

const temp = tempDir('cla-memory-hub-');
const store = openSqliteStore(path.join(temp.dir, 'hub.sqlite'));
const registry = new Registry(store, systemClock);
const adminToken = (await registry.ensureAdminToken()).token!;
await registry.createProject('default');
const workerToken = (await registry.register({ passkey: (await registry.passkey('default'))!, id: 'w1' })).token;
let received = 0;
let waitFor = Infinity;
const hub = new Hub(
  { host: '127.0.0.1', port: 0, ...(JSON.parse(process.argv[2] ?? '{}') as object) },
  {
    registry,
    metrics: new HubMetrics({ processMetrics: false }),
    tap: {
      frame: (_conn, direction) => {
        if (direction !== 'in') return;
        received += 1;
        if (received === waitFor) send({ type: 'counted', frames: received });
      },
      event: (conn, event, detail) => {
        if (event === 'close') send({ type: 'close', conn, detail });
      },
    },
  },
);
const url = await hub.start();

function measure() {
  for (let i = 0; i < 3; i++) gc!();
  const usage = process.memoryUsage();
  return { heapUsed: usage.heapUsed, external: usage.external, rss: usage.rss };
}

process.on('message', (message: { type: string; frames?: number }) => {
  if (message.type === 'measure') send({ type: 'memory', ...measure() });
  else if (message.type === 'count') {
    waitFor = message.frames!;
    if (received >= waitFor) send({ type: 'counted', frames: received });
  } else if (message.type === 'stop') {
    void hub.stop().then(() => {
      void store.close();
      temp.cleanup();
      process.disconnect();
    });
  }
});
send({ type: 'ready', url, adminToken, workerToken });
