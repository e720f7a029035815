/**
 * One call that `cla-worker run` (and tests, the benchmark, embedders) make to get the worker's action
 * handling with its plugins: discover, select, configure, start, and the extension to pass to
 * `WorkerAgent({ extensions })`. The CLI only wires flags into it.
 */
import { systemClock, type Clock } from '../../clock.ts';
import { silentLogger, type Logger } from '../../logger.ts';
import { ActionExtension, type ActionSubscriptions } from '../actions/action-extension.ts';
import type { AgentExtension } from '../agent-extension.ts';
import { pluginSettings } from './plugin-config.ts';
import { startPlugins, stopPlugins, type StartedPlugin, type TaskHandlers } from './plugin-host.ts';
import { discoverPlugins, selectPlugins } from './plugin-loader.ts';
import type { DiscoveredPlugin } from './plugin.ts';

export interface PluginWorkerOptions {
  workerId: string;
  /** `--override` settings; `NAME.key=value` configure plugin NAME. */
  overrides?: Readonly<Record<string, string>>;
  /** `--plugins-dir DIR`. */
  pluginsDir?: string;
  /** `--plugin NAME` (repeatable). */
  enabled?: readonly string[];
  /** Look for `cla-worker-plugin-*` packages. @default true */
  packages?: boolean;
  /** Where to look for packages from. @default process.cwd() */
  cwd?: string;
  /** Plugins to use instead of discovering them (tests). */
  plugins?: readonly DiscoveredPlugin[];
  /** The worker's subscription registry (src/worker/subscriptions.ts). */
  subscriptions: ActionSubscriptions;
  /** The worker's task extension, for plugins' task handlers. */
  tasks?: TaskHandlers;
  clock?: Clock;
  log?: Logger;
}

export interface PluginWorker {
  /** The agent extension answering actions (put it in `extensions`, with the subscribe and task extensions). */
  actions: ActionExtension;
  /** Started plugins. */
  plugins: StartedPlugin[];
  /** Extensions to add: the action extension, wrapped so the plugins stop with the worker. */
  extension: AgentExtension;
}

/** Discovers, selects and starts the plugins. @throws InvalidArgumentError for a bad plugin or setting */
export async function createPluginWorker(options: PluginWorkerOptions): Promise<PluginWorker> {
  const log = options.log ?? silentLogger();
  const settings = pluginSettings(options.overrides ?? {});
  const found = options.plugins ?? (await discoverPlugins({ pluginsDir: options.pluginsDir, cwd: options.cwd, packages: options.packages }));
  const selected = selectPlugins(found, options.enabled ?? [], settings.keys());
  const actions = new ActionExtension(options.subscriptions);
  const plugins = await startPlugins(selected, settings, {
    actions,
    tasks: options.tasks,
    workerId: options.workerId,
    clock: options.clock ?? systemClock,
    log,
  });
  const extension: AgentExtension = {
    welcomed: (ctx) => actions.welcomed(ctx),
    frame: (f, ctx) => actions.frame(f, ctx),
    disconnected: () => actions.disconnected(),
    stop: async () => {
      await actions.stop();
      await stopPlugins(plugins, log);
    },
  };
  return { actions, plugins, extension };
}
