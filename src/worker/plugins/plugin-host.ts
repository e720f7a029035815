/**
 * Starts the selected plugins and plugs what they handle into the worker: `collect`, `plan_cleanup`,
 * `cleanup` and other actions into the {@link ActionExtension}, task handlers into the task extension.
 * Everything is registered before the worker connects, so the first `subscribe` already lists it.
 */
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../logger.ts';
import type { Resource } from '../../protocol/frames-bus.ts';
import type { ActionExtension } from '../actions/action-extension.ts';
import type { TaskHandler } from '../subscriptions.ts';
import { PluginConfig } from './plugin-config.ts';
import type { DiscoveredPlugin, PluginInstance, SubscriptionSettings } from './plugin.ts';

/** Where task handlers go (src/worker/tasks `TaskExtension.handle`). */
export interface TaskHandlers {
  handle(name: string, filter: Record<string, string[]>, handler: TaskHandler): unknown;
}

export interface PluginHostDeps {
  actions: ActionExtension;
  /** Without it, plugins' task handlers are not registered (a warning says so). */
  tasks?: TaskHandlers;
  workerId: string;
  clock: Clock;
  log: Logger;
}

/** A started plugin. */
export interface StartedPlugin {
  name: string;
  kind: string;
  source: string;
  instance: PluginInstance;
  /** Actions it subscribed to. */
  actions: string[];
  /** Task names it handles. */
  tasks: string[];
}

/** Creates every plugin with its settings and registers its handlers. */
export async function startPlugins(plugins: readonly DiscoveredPlugin[], settings: ReadonlyMap<string, Record<string, string>>, deps: PluginHostDeps): Promise<StartedPlugin[]> {
  const started: StartedPlugin[] = [];
  for (const { plugin, source } of plugins) {
    const config = new PluginConfig(plugin.name, settings.get(plugin.name) ?? {});
    if (plugin.configKeys) config.checkKeys(plugin.configKeys);
    const instance = await plugin.create({ config, workerId: deps.workerId, clock: deps.clock, log: deps.log.child({ plugin: plugin.name }) });
    started.push({ name: plugin.name, kind: plugin.kind, source, instance, ...register(plugin.name, instance, deps) });
  }
  return started;
}

/** Stops every started plugin (errors are logged). */
export async function stopPlugins(started: readonly StartedPlugin[], log: Logger): Promise<void> {
  for (const p of started) {
    try {
      await p.instance.stop?.();
    } catch (error) {
      log.warn({ plugin: p.name, err: error }, 'plugin stop failed');
    }
  }
}

function register(name: string, instance: PluginInstance, deps: PluginHostDeps): { actions: string[]; tasks: string[] } {
  const settings = (action: string): SubscriptionSettings & { name: string } => ({ name, ...(instance.subscriptions?.[action] ?? {}) });
  const actions: string[] = [];
  // The graph this plugin sent last in this process, for its plan_cleanup.
  let lastGraph: Resource[] | null = null;
  if (instance.collect) {
    const collect = instance.collect.bind(instance);
    deps.actions.on(
      'collect',
      async (ctx) => {
        const writer = ctx.graph(name);
        const graph: Resource[] = [];
        for await (const resource of collect(ctx)) {
          writer.add(resource);
          graph.push(resource);
        }
        writer.end();
        lastGraph = graph;
      },
      settings('collect'),
    );
    actions.push('collect');
  }
  if (instance.planCleanup) {
    const plan = instance.planCleanup.bind(instance);
    deps.actions.on('plan_cleanup', async (ctx) => ctx.flag(name, await plan(Object.assign(Object.create(ctx) as typeof ctx, { lastGraph }))), settings('plan_cleanup'));
    actions.push('plan_cleanup');
  }
  if (instance.cleanup) {
    const cleanup = instance.cleanup.bind(instance);
    deps.actions.on(
      'cleanup',
      async (ctx) => {
        const clean = (ctx.data as { clean?: Record<string, unknown> | null } | null)?.clean;
        // The hub sends every flagged id of this worker by plugin; null: too many, use your own plan.
        const flagged = clean === null || clean === undefined ? null : Array.isArray(clean[name]) ? (clean[name] as unknown[]).filter((id): id is string => typeof id === 'string') : [];
        await cleanup(Object.assign(Object.create(ctx) as typeof ctx, { flagged }));
      },
      settings('cleanup'),
    );
    actions.push('cleanup');
  }
  for (const [action, handler] of Object.entries(instance.actions ?? {})) {
    deps.actions.on(action, handler, settings(action));
    actions.push(action);
  }
  const tasks: string[] = [];
  for (const task of instance.tasks ?? []) {
    if (!deps.tasks) {
      deps.log.warn({ plugin: name, task: task.name }, 'no task extension: the plugin\'s task handler is not registered');
      continue;
    }
    deps.tasks.handle(task.name, task.filter, task.handler);
    tasks.push(task.name);
  }
  deps.log.info({ plugin: name, actions, tasks }, 'plugin started');
  return { actions, tasks };
}
