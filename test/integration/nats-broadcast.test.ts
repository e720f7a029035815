/**
 * Issue 10: a broadcast workflow step reaches the subscribers of every hub and waits for all of them.
 * Two hubs share a real nats-server (and, in this process, one registry); each has its own actions
 * extension. A workflow started on hub A sends the action to a worker on A and one on B; both answers
 * end the step, and the run succeeds on A.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { systemClock } from '../../src/clock.ts';
import { NatsCluster } from '../../src/engine/cluster.ts';
import { connectEngine, type NatsEngine } from '../../src/engine/nats-connect.ts';
import { ActionsExtension } from '../../src/hub/actions/actions-extension.ts';
import { toWorkflowDefinition } from '../../src/hub/actions/workflow-definitions.ts';
import { Hub } from '../../src/hub/hub.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { Registry } from '../../src/hub/registry.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.ts';
import { ActionExtension } from '../../src/worker/actions/action-extension.ts';
import { WorkerAgent, type AgentExit } from '../../src/worker/agent.ts';
import { SubscribeExtension, SubscriptionRegistry } from '../../src/worker/subscriptions.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { startNatsServer } from './nats-server.ts';

const COLLECT = toWorkflowDefinition({ name: 'collect', steps: [{ name: 'collect', action: 'collect', timeout: '60s' }], triggers: ['manual'] }, 'test.yml');

/** Resolves once `predicate` holds, re-checked on every change the clusters see. */
function until(clusters: NatsCluster[], predicate: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const stops = clusters.map((cluster) =>
      cluster.onChange(() => {
        if (!predicate()) return;
        stops.forEach((stop) => stop());
        resolve();
      }),
    );
    if (predicate()) resolve();
  });
}

test('a step started on hub A waits for the subscribers of hub A and hub B, and gets both answers', async () => {
  const { dir, cleanup } = tempDir('cla-nats-broadcast-');
  const server = await startNatsServer(path.join(dir, 'nats'));
  const shared = openSqliteStore(path.join(dir, 'registry.sqlite'));
  const registry = new Registry(shared, systemClock);
  const passkey = (await registry.createProject('default')).passkey;
  const stores: SqliteStore[] = [shared];
  const engines: NatsEngine[] = [];
  const hubs: Array<{ hub: Hub; ext: ActionsExtension; url: string }> = [];
  const clusters: NatsCluster[] = [];
  const agents: Array<{ agent: WorkerAgent; exit: Promise<AgentExit> }> = [];
  try {
    for (const name of ['hub-a', 'hub-b']) {
      const engine = await connectEngine([server.url], { name });
      engines.push(engine);
      const store = openSqliteStore(path.join(dir, `${name}.sqlite`));
      stores.push(store);
      const ext = new ActionsExtension({ db: store.db, workflows: new Map([['collect', COLLECT]]), cron: false, graceMs: 10_000 });
      const cluster = new NatsCluster(engine, { bus: ext.bus, heartbeatMs: 100 });
      clusters.push(cluster);
      const hub = new Hub({ host: '127.0.0.1', port: 0, hubId: name }, { registry, cluster, extensions: [ext], metrics: new HubMetrics({ processMetrics: false }) });
      hubs.push({ hub, ext, url: await hub.start() });
    }
    const seen: string[] = [];
    for (const [id, at] of [['w1', 0], ['w2', 1]] as const) {
      const { token } = await registry.register({ passkey, id });
      const subscriptions = new SubscriptionRegistry(id);
      const actions = new ActionExtension(subscriptions);
      actions.on('collect', (ctx) => {
        seen.push(`${id}:${ctx.id}`);
        ctx.info('info', `${id} collected`);
      });
      const agent = new WorkerAgent({ id, token, url: hubs[at]!.url, extensions: [new SubscribeExtension(subscriptions), actions] });
      agents.push({ agent, exit: agent.run() });
    }
    const [a, b] = hubs as [(typeof hubs)[0], (typeof hubs)[0]];
    // Hub A knows w2 (on B) as a subscriber once B shared it.
    await until(clusters, () => a.ext.bus.isConnected('w1') && a.ext.bus.isConnected('w2') && b.ext.bus.isConnected('w1'));
    const { run } = await a.ext.engine.runManual('collect');
    await a.ext.engine.whenIdle();
    assert.equal(seen.sort(), [`w1:${run}.0`, `w2:${run}.0`]);
    const detail = await a.ext.store.getRun(run);
    assert.is(detail.run.state, 'succeeded');
    const answers = Object.fromEntries(detail.steps[0]!.answers.map((x) => [x.subscriber, x.status]));
    assert.equal(answers, { w1: 'done', w2: 'done' });
    const messages = detail.steps[0]!.messages.map((m) => m.message).sort();
    assert.equal(messages, ['w1 collected', 'w2 collected']);
    // B never ran it: the run lives on A.
    assert.is(b.ext.engine.activeRuns().length, 0);
  } finally {
    for (const { agent, exit } of agents) {
      agent.stop('test over');
      await exit;
    }
    for (const { hub } of hubs) await hub.stop();
    for (const engine of engines) await engine.close();
    for (const store of stores) store.close();
    await server.stop();
    cleanup();
  }
});

test.run();
