/**
 * The JetStream workflow store (issue 10) against a real nats-server: the same conformance suite as SQLite
 * and memory, each test its own bucket prefix on one server and each hub its own store on one connection.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectEngine } from '../../src/engine/nats-connect.ts';
import { JetStreamWorkflowStore, openJetStreamWorkflowStore } from '../../src/engine/jetstream-workflow-store.ts';
import { MAX_MESSAGES_PER_ANSWER } from '../../src/hub/actions/workflow-store.ts';
import { workflowStoreConformance } from '../unit/workflow-store-conformance.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { startNatsServer } from './nats-server.ts';

const folder = tempDir('cla-js-workflows-');
const server = await startNatsServer(folder.dir);
const engine = await connectEngine([server.url], { name: 'jetstream-workflow-store test' });
let buckets = 0;

const conformance = workflowStoreConformance('jetstream (one bucket prefix per test, one nats-server)', () => {
  const prefix = `w${++buckets}`;
  return { open: (hubId) => new JetStreamWorkflowStore(engine.nc, { hubId, prefix }), cleanup: () => undefined };
});
conformance.run();

const hubs = suite('JetStreamWorkflowStore: hubs on their own connections');
const T0 = 1_700_000_000_000;
const run = (id: string) => ({ id, workflow: 'collect', trigger: 'manual', state: 'pending' as const, createdAt: T0, startedAt: null, finishedAt: null, reason: null, definition: '{}' });

hubs('a run and step written by one hub are seen by another, which writes to them once it adopted the run; the message cap holds across connections', async () => {
  const other = await connectEngine([server.url], { name: 'jetstream-workflow-store test b' });
  const a = await openJetStreamWorkflowStore(engine.nc, { hubId: 'a', prefix: 'hubs' });
  const b = await openJetStreamWorkflowStore(other.nc, { hubId: 'b', prefix: 'hubs' });
  try {
    await a.createRun(run('r1'));
    await a.startStep({ runId: 'r1', index: 0, name: 's0', action: 'collect', messageId: 'm/1', startedAt: T0, deadline: T0 + 1000 });
    assert.equal((await b.listRuns()).map((r) => [r.id, r.state]), [['r1', 'pending']], 'the watch brings the other hub\'s run');
    // Only the owner writes to a run: B adopts it (as when A is taken for dead), then writes.
    assert.equal(await b.adoptRuns('a'), ['r1']);
    await b.updateRun('r1', { state: 'running', snapshot: '{}', reason: null, at: T0 + 1 });
    await b.updateStep('m/1', { state: 'waiting', snapshot: 'S', finishedAt: null, subscribers: [{ id: 'w1', wait: true, timeoutAt: T0 + 1000, graceUntil: null, status: 'pending', answeredAt: null }] });
    assert.equal((await b.activeRuns()).map((r) => [r.id, r.state, r.startedAt]), [['r1', 'running', T0 + 1]]);
    const b2 = await openJetStreamWorkflowStore(engine.nc, { hubId: 'b', prefix: 'hubs' });
    const added = await Promise.all(
      Array.from({ length: 600 }, (_, i) => [b2.addMessage('m/1', 'w1', T0 + i, 'info', `a${i}`), b.addMessage('m/1', 'w1', T0 + i, 'info', `b${i}`)]).flat(),
    );
    await b2.close();
    assert.is(added.filter(Boolean).length, MAX_MESSAGES_PER_ANSWER, 'each slot is taken once, none past the cap');
    const detail = await a.getRun('r1');
    assert.equal(detail.steps[0]!.answers.map((x) => [x.subscriber, x.status]), [['w1', 'pending']]);
    assert.is(detail.steps[0]!.messages.length, MAX_MESSAGES_PER_ANSWER);
  } finally {
    await a.close();
    await b.close();
    await other.close();
  }
});

hubs.after(async () => {
  await engine.close();
  await server.stop();
  folder.cleanup();
});
hubs.run();
