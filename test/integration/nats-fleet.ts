/**
 * A fleet for the issue-10 tests: one real nats-server, hubs built by `createHub({ engine })` in this
 * process (each its own engine connection and hub id `hub-<i>`), and in-process workers with action
 * handlers, each connected to the hub it is given.
 */
import fs from 'node:fs';
import path from 'node:path';
import { connectEngine, type NatsEngine } from '../../src/engine/nats-connect.ts';
import { createHub, type CreatedHub, type CreateHubOptions } from '../../src/hub/create-hub.ts';
import { ActionExtension, type ActionHandler } from '../../src/worker/actions/action-extension.ts';
import { WorkerAgent, type AgentExit } from '../../src/worker/agent.ts';
import { SubscribeExtension, SubscriptionRegistry } from '../../src/worker/subscriptions.ts';
import { tempDir } from '../unit/test-helpers.ts';
import { startNatsServer, type NatsServer } from './nats-server.ts';

export interface FleetHub {
  created: CreatedHub;
  url: string;
  adminUrl: string | undefined;
  engine: NatsEngine;
}

export interface Fleet {
  dir: string;
  server: NatsServer;
  hubs: FleetHub[];
  /** Registers `id` and connects it to hub `at`, handling `action` with `handler` (if given). */
  worker(id: string, at: number, actions?: Record<string, ActionHandler>): Promise<WorkerAgent>;
  /** Stops the workers, the hubs, their engines and the server, and removes the folder. */
  close(): Promise<void>;
}

/** Starts a nats-server and `count` hubs on it; `workflows` are YAML files (name -> text). */
export async function startFleet(count: number, workflows: Record<string, string> = {}, options: Partial<CreateHubOptions> = {}): Promise<Fleet> {
  const { dir, cleanup } = tempDir('cla-nats-fleet-');
  const server = await startNatsServer(path.join(dir, 'nats'));
  const workflowsDir = path.join(dir, 'workflows');
  fs.mkdirSync(workflowsDir);
  for (const [name, text] of Object.entries(workflows)) fs.writeFileSync(path.join(workflowsDir, `${name}.yml`), text);
  const hubs: FleetHub[] = [];
  const agents: Array<{ agent: WorkerAgent; exit: Promise<AgentExit> }> = [];
  const close = async () => {
    for (const { agent, exit } of agents) {
      agent.stop('test over');
      await exit;
    }
    await Promise.all(hubs.map((h) => h.created.stop()));
    for (const h of hubs) await h.engine.close();
    await server.stop();
    cleanup();
  };
  try {
    for (let i = 0; i < count; i++) {
      const engine = await connectEngine([server.url], { name: `hub-${i}` });
      const created = await createHub({ store: 'memory', port: 0, cron: false, workflowsDir, engine, hubId: `hub-${i}`, ...options });
      hubs.push({ created, engine, url: '', adminUrl: undefined });
      Object.assign(hubs[i]!, await created.start());
    }
  } catch (error) {
    await close();
    throw error;
  }
  const passkey = hubs[0]!.created.defaultProject.passkey!;
  return {
    dir,
    server,
    hubs,
    async worker(id, at, handlers = {}) {
      const { token } = await hubs[0]!.created.registry.register({ passkey, id });
      const subscriptions = new SubscriptionRegistry(id);
      const actions = new ActionExtension(subscriptions);
      for (const [action, handler] of Object.entries(handlers)) actions.on(action, handler);
      const agent = new WorkerAgent({ id, token, url: hubs[at]!.url, extensions: [new SubscribeExtension(subscriptions), actions] });
      agents.push({ agent, exit: agent.run() });
      return agent;
    },
    close,
  };
}
